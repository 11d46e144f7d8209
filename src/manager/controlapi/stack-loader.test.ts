import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isApiError } from '../../api/errors.ts';
import type { StackSpec } from '../../api/stack.ts';
import { systemClock } from '../../lib/clock.ts';
import { StackLoader } from './stack-loader.ts';

const HOSTILE = join(import.meta.dirname, '../../compose/testdata/hostile');

const spec = (content: string): StackSpec => ({
  name: 'app',
  composeFiles: ['compose.yaml'],
  files: [{ path: 'compose.yaml', content }],
  missingFiles: ['.env'],
  profiles: [],
  environment: {},
  unsetVariables: [],
  workingDir: '/srv/app',
});

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string; details: readonly { message: string }[] }> {
  try {
    await p;
  } catch (err) {
    assert.ok(isApiError(err), String(err));
    return err;
  }
  assert.fail('expected the load to be refused');
}

/** A file under every budget that still needs a few hundred MiB of heap to load. */
function bigFile(services: number): string {
  let text = 'services:\n';
  for (let i = 0; i < services; i++) text += `  s${i}:\n    image: x\n    environment: {A: "1", B: "2", C: "3"}\n    labels: [a=1, b=2, c=3]\n`;
  return text;
}

describe('StackLoader: stacks load in a worker thread', () => {
  const loader = new StackLoader(systemClock);
  after(() => loader.close());

  it('loads a stack, secrets as Buffers', async () => {
    const load = await loader.load({ ...spec('services: {web: {image: x, secrets: [s]}}\nsecrets: {s: {environment: S}}\n'), environment: { S: 'hush' } });
    assert.ok('loaded' in load);
    assert.deepEqual(load.loaded.converted.services.map((s) => s.name), ['app_web']);
    assert.ok(Buffer.isBuffer(load.loaded.secrets[0]?.data));
    assert.equal(load.loaded.secrets[0]?.data?.toString(), 'hush');
  });
  it('refuses the hostile files with the loader’s located error', async () => {
    for (const [file, what] of [['billion-laughs.yaml', 'aliases and merge keys expand'], ['merge-keys.yaml', 'aliases and merge keys expand']] as const) {
      const err = await refusal(loader.load(spec(readFileSync(join(HOSTILE, file), 'utf8'))));
      assert.equal(err.code, 'invalid_argument');
      assert.match(err.details[0]?.message ?? '', new RegExp(`^/srv/app/compose.yaml:\\d+:\\d+: ${what}`));
    }
  });
  it('a load past its deadline is refused, and the next load gets a new worker', async () => {
    const hasty = new StackLoader(systemClock, { deadlineMs: 1 });
    try {
      // A worker cannot even start within 1 ms.
      const err = await refusal(hasty.load(spec('services: {web: {image: x}}\n')));
      assert.equal(err.message, 'loading the compose files took longer than 1 ms; the limit is 1 ms');
    } finally {
      await hasty.close();
    }
  });
  it('a load over its heap limit is refused, and the next load gets a new worker', async () => {
    const small = new StackLoader(systemClock, { maxHeapMb: 24 });
    try {
      const err = await refusal(small.load(spec(bigFile(6_000))));
      assert.equal(err.message, 'loading the compose files needed more than the 24 MiB of memory a stack load may use');
      const load = await small.load(spec('services: {web: {image: x}}\n'));
      assert.ok('loaded' in load);
    } finally {
      await small.close();
    }
  });
});
