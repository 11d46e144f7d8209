import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { startCli, stopCli, type CliProcess } from './cli-process.ts';
import { runCli, waitUntil, type CliResult } from './dev-cluster.ts';
import { freePort } from '../../src/testing/free-port.ts';

/**
 * `flotilla server` + `flotilla join` on 127.0.0.1 (no namespaces), both on the exec driver,
 * driven through the real CLI: joins with right and wrong tokens, mutual TLS on the HTTPS port,
 * contexts, token rotation, and `node rm --force` cutting a node off for good.
 */


describe('flotilla server and join on one host', { timeout: 900_000 }, () => {
  let dir: string;
  let port: number;
  let server: CliProcess | undefined;
  let worker: CliProcess | undefined;
  let env: NodeJS.ProcessEnv;
  let token = '';

  const cli = (...args: string[]): Promise<CliResult> => runCli(args, env);
  const local = (...args: string[]): Promise<CliResult> => cli('--host', `unix://${join(dir, 'A', 'flotilla.sock')}`, ...args);
  const nodes = async (): Promise<Array<{ id: string; status: { state: string }; spec: { role: string } }>> => {
    const r = await local('node', 'ls', '--format', 'json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Array<{ id: string; status: { state: string }; spec: { role: string } }>;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-join-it-'));
    port = await freePort();
    env = { ...process.env, FLOTILLA_HOME: join(dir, 'C'), FLOTILLA_LOG_LEVEL: 'warn' };
    delete env['FLOTILLA_HOST'];
    delete env['FLOTILLA_CONTEXT'];
    server = startCli(['server', '--listen-addr', `127.0.0.1:${port}`, '--advertise-addr', '127.0.0.1', '--data-dir', join(dir, 'A'), '--driver', 'exec', '--metrics-addr', 'off'], env);
    await waitUntil(() => {
      if (server?.proc.exitCode !== null) throw new Error(`flotilla server exited:\n${server?.err}`);
      return /\(this host\) ready/.test(server.err);
    }, 60_000, 'flotilla server and its own agent');
    const m = /flotilla join --token (\S+) 127\.0\.0\.1:(\d+)/.exec(server.out);
    assert.ok(m, `no join command printed:\n${server.out}`);
    token = m[1] ?? '';
    assert.equal(Number(m[2]), port);
  });

  after(async () => {
    await stopCli(worker, 10_000);
    await stopCli(server, 10_000);
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a wrong token with a clear error and adds no node', async () => {
    const wrong = token.replace(/-[0-9a-z]{32}$/, `-${'0'.repeat(32)}`);
    const r = await cli('join', '--token', wrong, '--data-dir', join(dir, 'X'), '--driver', 'exec', `127.0.0.1:${port}`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^flotilla: the manager at https:\/\/127\.0\.0\.1:\d+ refused the join: invalid join token\n$/);
    const foreign = token.replace(/^FLT1-[0-9a-f]{64}/, `FLT1-${'a'.repeat(64)}`);
    const f = await cli('join', '--token', foreign, '--data-dir', join(dir, 'X'), '--driver', 'exec', `127.0.0.1:${port}`);
    assert.equal(f.code, 1);
    assert.match(f.stderr, /is not the cluster this token belongs to \(CA fingerprint mismatch\)/);
    assert.equal((await nodes()).length, 1);
  });

  it('joins a worker with the right token: two nodes ready', async () => {
    worker = startCli(['join', '--token', token, '--data-dir', join(dir, 'B'), '--driver', 'exec', '--metrics-addr', 'off', `127.0.0.1:${port}`], env);
    await waitUntil(async () => (await nodes()).filter((n) => n.status.state === 'ready').length === 2, 60_000, 'two ready nodes');
    const roles = (await nodes()).map((n) => n.spec.role).sort();
    assert.deepEqual(roles, ['manager', 'worker']);
  });

  it('refuses TLS clients without a certificate: API 401, agent session closed', async () => {
    const ca = await readFile(join(dir, 'A', 'ca', 'ca.pem'), 'utf8');
    const status = await new Promise<{ status: number; body: string }>((res, rej) => {
      const r = request({ host: '127.0.0.1', port, path: '/v1/services', ca, checkServerIdentity: () => undefined }, (resp) => {
        let body = '';
        resp.on('data', (d: Buffer) => (body += d.toString()));
        resp.on('end', () => res({ status: resp.statusCode ?? 0, body }));
      });
      r.on('error', rej);
      r.end();
    });
    assert.equal(status.status, 401);
    assert.match(status.body, /this API needs the admin credential/);
    const refused = await new Promise<string>((res) => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/agent/session`, { ca, checkServerIdentity: () => true });
      ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocol: 1, description: {} })));
      ws.on('close', (code, reason) => res(`closed ${code} ${reason.toString()}`));
      ws.on('unexpected-response', (_req, resp) => res(`http ${resp.statusCode ?? 0}`));
      ws.on('error', (err) => res(`error ${err.message}`));
    });
    assert.doesNotMatch(refused, /^closed 1000/, refused);
  });

  it('imports the admin context: service ls over HTTPS; a bad credential fails clearly', async () => {
    const imp = await cli('context', 'import', 'prod', join(dir, 'A', 'admin', 'context.json'));
    assert.equal(imp.code, 0, imp.stderr);
    const ls = await cli('--context', 'prod', 'service', 'ls');
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^ID\s+NAME/);
    const use = await cli('context', 'use', 'prod');
    assert.equal(use.code, 0, use.stderr);
    const n = await cli('node', 'ls');
    assert.match(n.stdout, /ADDRESS\s+ENGINE\s+TASKS/);

    const ctx = JSON.parse(await readFile(join(dir, 'A', 'admin', 'context.json'), 'utf8')) as Record<string, string>;
    const bad = join(dir, 'bad.json');
    await import('node:fs/promises').then((fs) => fs.writeFile(bad, JSON.stringify({ host: ctx['host'], ca: ctx['ca'], token: 'not-the-token' })));
    assert.equal((await cli('context', 'import', 'bad', bad)).code, 0);
    const denied = await cli('--context', 'bad', 'service', 'ls');
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /^flotilla: the manager at https:\/\/127\.0\.0\.1:\d+ refused the request: this API needs the admin credential/);
  });

  it('rotates the worker token without disturbing joined nodes', async () => {
    const before = await cli('token', 'worker', '-q');
    assert.equal(before.stdout.trim(), token);
    const rotated = await cli('token', 'worker', '--rotate', '-q');
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.notEqual(rotated.stdout.trim(), token);
    assert.equal((await nodes()).filter((n) => n.status.state === 'ready').length, 2);
  });

  it('node rm needs --force for a live node; the removed node cannot reconnect', async () => {
    const id = (await readFile(join(dir, 'B', 'node-id'), 'utf8')).trim();
    const refused = await cli('node', 'rm', id);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--force/);
    const forced = await cli('node', 'rm', '--force', id);
    assert.equal(forced.code, 0, forced.stderr);
    await waitUntil(() => /removed from the cluster/.test(worker?.err ?? ''), 60_000, 'the agent to be told it was removed');
    await stopCli(worker, 10_000);
    // Restarted with its stored credential: still refused, and still not a node.
    worker = startCli(['join', '--data-dir', join(dir, 'B'), '--driver', 'exec', '--metrics-addr', 'off', `127.0.0.1:${port}`], env);
    await waitUntil(() => /removed from the cluster/.test(worker?.err ?? ''), 60_000, 'the restarted agent to be refused');
    assert.deepEqual((await nodes()).map((n) => n.id).includes(id), false);
  });
});
