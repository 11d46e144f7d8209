import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isApiError } from '../../api/errors.ts';
import type { StackSpec } from '../../api/stack.ts';
import { systemClock } from '../../lib/clock.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
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
    const clock = new FakeClock();
    const hasty = new StackLoader(clock, { deadlineMs: 1_000 });
    try {
      const first = refusal(hasty.load(spec('services: {web: {image: x}}\n')));
      // Queued behind the first: it starts on a new worker before the ended one's 'exit' fires.
      const second = hasty.load(spec('services: {api: {image: y}}\n'));
      // The worker is still starting (its modules load): the first load cannot have answered.
      await clock.advance(1_000);
      const err = await first;
      assert.equal(err.message, 'loading the compose files took longer than 1000 ms; the limit is 1000 ms');
      const load = await second;
      assert.ok('loaded' in load);
      assert.deepEqual(load.loaded.converted.services.map((s) => s.name), ['app_api']);
    } finally {
      await hasty.close();
    }
  });
  it('refuses a load when too many wait, and drops a waiting load whose request is gone', async () => {
    const clock = new FakeClock();
    const busy = new StackLoader(clock, { maxQueued: 2 });
    try {
      const running = busy.load(spec('services: {a: {image: x}}\n'));
      const gone = new AbortController();
      const abandoned = refusal(busy.load(spec('services: {b: {image: x}}\n'), gone.signal));
      const waiting = busy.load(spec('services: {c: {image: x}}\n'));
      const full = await refusal(busy.load(spec('services: {d: {image: x}}\n')));
      assert.equal(full.code, 'unavailable');
      assert.equal(full.message, 'the manager is already loading a stack with 2 more waiting (at most 2); try again shortly');
      gone.abort();
      assert.equal((await abandoned).message, 'the request was closed before its stack was loaded');
      // The aborted load left the queue: there is room again.
      const last = busy.load(spec('services: {e: {image: x}}\n'));
      const names = async (p: Promise<unknown>): Promise<string[]> => {
        const load = (await p) as { loaded: { converted: { services: { name: string }[] } } };
        return load.loaded.converted.services.map((s) => s.name);
      };
      assert.deepEqual(await names(running), ['app_a']);
      assert.deepEqual(await names(waiting), ['app_c']);
      assert.deepEqual(await names(last), ['app_e']);
    } finally {
      await busy.close();
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
