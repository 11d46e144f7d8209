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

  it('refuses a key that climbs above the root (a second name for a file)', async () => {
    const m = manager([[join(relative(dir, '/'), '..', 'etc', 'hosts')]]);
    await assert.rejects(gatherStackSource(m, options), (e) => isClientError(e) && e.code === 'protocol');
  });
});
