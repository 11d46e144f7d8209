import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../testing/cli.ts';
import { isUsageError } from './parse.ts';
import { resolveJoinToken } from './token-source.ts';

const TOKEN = `FLT1-${'a'.repeat(64)}-${'b'.repeat(32)}`;
const SERVER = { flag: '--join-token', fileFlag: '--join-token-file', envVar: 'FLOTILLA_MANAGER_TOKEN' };
const JOIN = { flag: '--token', fileFlag: '--token-file', envVar: 'FLOTILLA_JOIN_TOKEN' };

void describe('join token from a flag, a file or FLOTILLA_MANAGER_TOKEN (server) / FLOTILLA_JOIN_TOKEN (join)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-token-source-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('takes the flag, else the file (trimmed), else the environment; none is undefined', async () => {
    const file = join(dir, 'token');
    await writeFile(file, `  ${TOKEN}\n`);
    const env = { FLOTILLA_MANAGER_TOKEN: 'from-env' };
    assert.deepEqual(await resolveJoinToken(SERVER, { token: ` ${TOKEN} ` }, env), { token: TOKEN, from: '--join-token' });
    assert.deepEqual(await resolveJoinToken(SERVER, { file }, env), { token: TOKEN, from: `--join-token-file ${file}` });
    assert.deepEqual(await resolveJoinToken(SERVER, {}, env), { token: 'from-env', from: 'FLOTILLA_MANAGER_TOKEN' });
    assert.equal(await resolveJoinToken(SERVER, {}, {}), undefined);
    assert.equal(await resolveJoinToken(SERVER, {}, { FLOTILLA_MANAGER_TOKEN: ' ' }), undefined, 'an empty variable is unset');
    // Each command reads only its own variable.
    assert.equal(await resolveJoinToken(SERVER, {}, { FLOTILLA_JOIN_TOKEN: TOKEN }), undefined, "server ignores join's variable");
    assert.deepEqual(await resolveJoinToken(JOIN, {}, { FLOTILLA_JOIN_TOKEN: TOKEN, FLOTILLA_MANAGER_TOKEN: 'm' }), { token: TOKEN, from: 'FLOTILLA_JOIN_TOKEN' });
    assert.equal(await resolveJoinToken(JOIN, {}, { FLOTILLA_MANAGER_TOKEN: TOKEN }), undefined, "join ignores server's variable");
  });

  void it('refuses both flags, a missing, unreadable or empty file, with what to do', async () => {
    const file = join(dir, 'token');
    await writeFile(file, TOKEN);
    const usage = (re: RegExp) => (e: unknown) => isUsageError(e) && re.test(e.message);
    await assert.rejects(resolveJoinToken(SERVER, { token: TOKEN, file }, {}), usage(/^--join-token and --join-token-file both give the join token: use one/));
    await assert.rejects(resolveJoinToken(SERVER, { file: join(dir, 'nope') }, {}), usage(/^cannot read --join-token-file \S+nope: no such file$/));
    await assert.rejects(resolveJoinToken(SERVER, { file: dir }, {}), usage(/^cannot read --join-token-file \S+: it is a directory$/));
    const empty = join(dir, 'empty');
    await writeFile(empty, '\n  \n');
    await assert.rejects(resolveJoinToken(SERVER, { file: empty }, {}), usage(/^--join-token-file \S+empty is empty: it should hold the join token/));
    if (process.getuid?.() !== 0) {
      const locked = join(dir, 'locked');
      await writeFile(locked, TOKEN);
      await chmod(locked, 0o000);
      await assert.rejects(resolveJoinToken(SERVER, { file: locked }, {}), usage(/^cannot read --join-token-file \S+locked: permission denied$/));
    }
  });

  void it('flotilla server reads --join-token-file and FLOTILLA_MANAGER_TOKEN (not FLOTILLA_JOIN_TOKEN), and names the source in its errors', async () => {
    const file = join(dir, 'manager-token');
    await writeFile(file, `${TOKEN}\n`);
    let r = await runCli(['server', '--advertise-addr', '127.0.0.1', '--join-token-file', file], '/');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^flotilla: --join-token-file \S+manager-token adds a manager to a cluster whose state is in a shared store: it needs --store etcd/);
    r = await runCli(['server', '--advertise-addr', '127.0.0.1'], '/', { FLOTILLA_MANAGER_TOKEN: TOKEN });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^flotilla: FLOTILLA_MANAGER_TOKEN adds a manager to a cluster whose state is in a shared store/);
    const bad = join(dir, 'bad-token');
    await writeFile(bad, 'FLT1-x\n');
    r = await runCli(['server', '--advertise-addr', '127.0.0.1', '--store', 'etcd://h:2379', '--join-token-file', bad], '/');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^flotilla: invalid --join-token-file \S+bad-token: expected FLT1-/);
    r = await runCli(['server', '--advertise-addr', '127.0.0.1', '--join-token', TOKEN, '--join-token-file', file], '/');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^flotilla: --join-token and --join-token-file both give the join token/);
  });

  void it('flotilla join takes --token-file, and refuses it with --token or when it cannot be read', async () => {
    let r = await runCli(['join', '--token-file', join(dir, 'nope'), '127.0.0.1:1'], '/');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^flotilla: cannot read --token-file \S+nope: no such file/);
    r = await runCli(['join', '--token', TOKEN, '--token-file', join(dir, 'token'), '127.0.0.1:1'], '/');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^flotilla: --token and --token-file both give the join token/);
  });
});
