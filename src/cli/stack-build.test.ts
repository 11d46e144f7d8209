import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BuildEvent, BuildOptions, BuiltImage } from '../api/build.ts';
import { buildStackImages, imageName, isBuildFailed } from './stack-build.ts';

describe('imageName', () => {
  it('is STACK_SERVICE as a Docker repository name', () => {
    assert.equal(imageName('shop', 'web'), 'shop_web');
    assert.equal(imageName('Shop', 'Web.API'), 'shop_web.api');
    assert.equal(imageName('shop', 'a._b--c'), 'shop_a-b--c');
  });
});

describe('buildStackImages', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-stack-build-'));
    await mkdir(join(dir, 'web'));
    await writeFile(join(dir, 'web', 'Dockerfile'), 'FROM scratch\n');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const options: BuildOptions = { dockerfile: 'Dockerfile', args: {}, labels: {} };

  function client(have: string[], outcome: (ref: string) => BuildEvent) {
    const built: string[] = [];
    return {
      built,
      getImage: async (ref: string) => (have.includes(ref) ? ({ ref } as BuiltImage) : undefined),
      async *build(name: string, _o: BuildOptions, _tar: Uint8Array): AsyncGenerator<BuildEvent> {
        built.push(name);
        yield { progress: 'Step 1/2 : FROM scratch\nStep 2/2 : RUN x' };
        yield outcome(name);
      },
    };
  }

  it('builds what the cluster lacks, with live output, and returns each service\'s image', async () => {
    const c = client([], (name) => ({ done: { ref: `flotilla.local/${name}:h` } as BuiltImage, cached: false }));
    const said: string[] = [];
    const progress: string[] = [];
    const images = await buildStackImages(c, 'shop', [{ service: 'web', context: join(dir, 'web'), options }], { say: (l) => said.push(l), progress: (l) => progress.push(l), fail: () => {} });
    assert.deepEqual(images, { web: 'flotilla.local/shop_web:h' });
    assert.match(said[0] ?? '', /^Building service web from .*web \(1 file, \d+ bytes\)$/);
    assert.deepEqual(progress, ['web: Step 1/2 : FROM scratch', 'web: Step 2/2 : RUN x']);
  });

  it('does not send a context the cluster has built', async () => {
    const first = client([], (name) => ({ done: { ref: `flotilla.local/${name}:h` } as BuiltImage, cached: false }));
    let asked = '';
    const c = { ...first, getImage: async (ref: string) => ((asked = ref), { ref } as BuiltImage) };
    const said: string[] = [];
    const images = await buildStackImages(c, 'shop', [{ service: 'web', context: join(dir, 'web'), options }], { say: (l) => said.push(l), fail: () => {} });
    assert.deepEqual(images, { web: asked });
    assert.match(asked, /^flotilla\.local\/shop_web:[0-9a-f]{64}$/);
    assert.deepEqual(first.built, []);
    assert.match(said[0] ?? '', /up to date .*not rebuilt/);
  });

  it('fails with the step, showing the output a quiet build kept', async () => {
    const c = client([], () => ({ error: { code: 'build_failed', message: 'returned 3', step: 'Step 2/2 : RUN x' } }));
    const failed: string[] = [];
    await assert.rejects(
      buildStackImages(c, 'shop', [{ service: 'web', context: join(dir, 'web'), options }], { say: () => {}, fail: (l) => failed.push(l) }),
      (e) => isBuildFailed(e) && e.failure.step === 'Step 2/2 : RUN x',
    );
    assert.deepEqual(failed, ['web: Step 1/2 : FROM scratch', 'web: Step 2/2 : RUN x', 'error: service web: build failed at Step 2/2 : RUN x: returned 3']);
  });
});
