import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import type { StackDryRunResult } from '../api/stack.ts';
import { isClientError, type StackSpecInput } from '../client/client.ts';
import { gatherStackSource } from './stack-source.ts';

/** A stand-in manager that asks for `asks` (one list per round) and records what it was sent. */
function manager(asks: string[][]): { planStack: (spec: StackSpecInput) => Promise<StackDryRunResult>; sent: StackSpecInput[] } {
  const sent: StackSpecInput[] = [];
  return {
    sent,
    planStack: (spec) => {
      sent.push(spec);
      const files = asks[sent.length - 1] ?? [];
      return Promise.resolve({ needs: { files, variables: [] } } as unknown as StackDryRunResult);
    },
  };
}

describe('stack deploy gathers only what a compose project reads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-source-'));
  writeFileSync(join(dir, 'compose.yaml'), 'services:\n  web:\n    image: x\n');
  after(() => rmSync(dir, { recursive: true, force: true }));
  const options = { name: 'shop', files: ['compose.yaml'], profiles: [], env: {}, cwd: dir };

  it('refuses a manager that asks for an absolute path, and reads nothing for it', async () => {
    const m = manager([['/etc/passwd']]);
    await assert.rejects(gatherStackSource(m, options), (e) => isClientError(e) && e.code === 'protocol' && /\/etc\/passwd/.test(e.message));
    assert.equal(m.sent.length, 1);
    assert.deepEqual(m.sent[0]?.files.map((f) => f.path), ['compose.yaml']);
  });

  it('sends a device as missing, never its content', async () => {
    const devKey = relative(dir, '/dev/zero');
    const m = manager([[devKey]]);
    const { spec } = await gatherStackSource(m, options);
    assert.ok(spec.missingFiles?.includes(devKey), 'the device is sent as a missing file');
    assert.equal(spec.files.some((f) => f.path === devKey), false);
  });

  it('refuses a file that is not UTF-8 where its bad byte is, and sends a U+FFFD written in one', async () => {
    writeFileSync(join(dir, 'bad.env'), Buffer.concat([Buffer.from('A=\uFFFD\nB=x'), Buffer.from([0xff]), Buffer.from('\n')]));
    writeFileSync(join(dir, 'good.env'), 'A=\uFFFD\n');
    await assert.rejects(
      gatherStackSource(manager([['bad.env']]), options),
      (e) => isClientError(e) && e.code === 'invalid_argument' && e.message === `${join(dir, 'bad.env')}:2:4: byte 0xFF is not UTF-8: the file must be UTF-8 text`,
    );
    const { spec } = await gatherStackSource(manager([['good.env']]), options);
    assert.equal(spec.files.find((f) => f.path === 'good.env')?.content, 'A=\uFFFD\n');
  });

  it('refuses a key that climbs above the root (a second name for a file)', async () => {
    const m = manager([[join(relative(dir, '/'), '..', 'etc', 'hosts')]]);
    await assert.rejects(gatherStackSource(m, options), (e) => isClientError(e) && e.code === 'protocol');
  });
});
