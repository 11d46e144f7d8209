import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { BuildEvent, BuildOptions, BuildOutcome, BuiltImage } from '../../api/build.ts';
import { startApi, type ApiHarness } from '../../testing/api-harness.ts';
import type { ImageBuilds } from './context.ts';

const IMAGE: BuiltImage = {
  id: 'img1', version: 1, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', labels: {},
  ref: `flotilla.local/shop_web:${'a'.repeat(64)}`, contentHash: 'a'.repeat(64), blobDigest: 'b'.repeat(64), sizeBytes: 10, builtOn: 'n1',
};

/** Builds that record what they were given and answer as told. */
function fakeBuilds(outcome: BuildOutcome, have: BuiltImage[] = []): ImageBuilds & { calls: { name: string; options: BuildOptions; context: Buffer }[] } {
  const calls: { name: string; options: BuildOptions; context: Buffer }[] = [];
  return {
    calls,
    find: (ref) => have.find((i) => i.ref === ref),
    async build(name, options, context, emit: (e: BuildEvent) => void) {
      const chunks: Buffer[] = [];
      for await (const c of context) chunks.push(Buffer.from(c));
      calls.push({ name, options, context: Buffer.concat(chunks) });
      emit({ progress: 'Step 1/1 : FROM x' });
      return outcome;
    },
  };
}

const lines = (body: string): unknown[] => body.trim().split('\n').map((l) => JSON.parse(l) as unknown);

describe('GET /v1/images and POST /v1/builds', () => {
  let h: ApiHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('streams the context to the builder and answers with its progress, then the outcome', async () => {
    const builds = fakeBuilds({ done: IMAGE, cached: false });
    h = await startApi({ images: builds });
    const options = JSON.stringify({ dockerfile: 'Dockerfile', args: { A: '1' } });
    // Larger than the API's default body limit (1 MiB): a context is streamed, not parsed.
    const tar = Buffer.alloc(3 * 1024 * 1024, 7);
    const r = await h.api.inject({ method: 'POST', url: `/v1/builds?name=shop_web&options=${encodeURIComponent(options)}`, payload: tar, headers: { 'content-type': 'application/x-tar' } });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(lines(r.body), [{ progress: 'Step 1/1 : FROM x' }, { done: IMAGE, cached: false }]);
    assert.ok(builds.calls[0]?.context.equals(tar), 'the whole context reached the builder');
    assert.deepEqual(builds.calls[0]?.options, { dockerfile: 'Dockerfile', args: { A: '1' }, labels: {} }, 'defaults filled in');
  });

  it('ends with the failure and its step', async () => {
    h = await startApi({ images: fakeBuilds({ error: { code: 'build_failed', message: 'returned 3', step: 'Step 2/2 : RUN exit 3' } }) });
    const r = await h.api.inject({ method: 'POST', url: `/v1/builds?name=shop_web&options=${encodeURIComponent('{}')}`, payload: Buffer.from('x'), headers: { 'content-type': 'application/x-tar' } });
    assert.deepEqual(lines(r.body).at(-1), { error: { code: 'build_failed', message: 'returned 3', step: 'Step 2/2 : RUN exit 3' } });
  });

  it('refuses bad options, another content type, and a manager that cannot build', async () => {
    h = await startApi({ images: fakeBuilds({ done: IMAGE, cached: true }) });
    const bad = await h.api.inject({ method: 'POST', url: `/v1/builds?name=shop_web&options=${encodeURIComponent('{"dockerfile":""}')}`, payload: Buffer.from('x'), headers: { 'content-type': 'application/x-tar' } });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.match(bad.body, /options\/dockerfile/);
    const json = await h.call('POST', `/v1/builds?name=shop_web&options=${encodeURIComponent('{}')}`, { not: 'a tar' });
    assert.equal(json.status, 400);
    assert.match(json.body.error.message, /application\/x-tar/);
    const name = await h.api.inject({ method: 'POST', url: `/v1/builds?name=Shop/Web&options=${encodeURIComponent('{}')}`, payload: Buffer.from('x'), headers: { 'content-type': 'application/x-tar' } });
    assert.equal(name.statusCode, 400);
    await h.close();
    h = await startApi();
    const none = await h.api.inject({ method: 'POST', url: `/v1/builds?name=shop_web&options=${encodeURIComponent('{}')}`, payload: Buffer.from('x'), headers: { 'content-type': 'application/x-tar' } });
    assert.equal(none.statusCode, 503, none.body);
  });

  it('finds a built image by its reference, or says it has none', async () => {
    h = await startApi({ images: fakeBuilds({ done: IMAGE, cached: true }, [IMAGE]) });
    const found = await h.call('GET', `/v1/images?ref=${encodeURIComponent(IMAGE.ref)}`);
    assert.equal(found.status, 200);
    assert.deepEqual(found.body, IMAGE);
    const missing = await h.call('GET', `/v1/images?ref=${encodeURIComponent('flotilla.local/x:y')}`);
    assert.equal(missing.status, 404);
  });
});

describe('POST /v1/stacks with build:', () => {
  let h: ApiHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  const compose = 'services:\n  web:\n    build:\n      context: ./web\n      args: [GREETING=hi]\n      target: prod\n      cache_from: [x]\n';
  const base = { name: 'shop', composeFiles: ['compose.yaml'], files: [{ path: 'compose.yaml', content: compose }], missingFiles: ['.env'], workingDir: '/srv/shop' };

  it('lists the builds in the dry run', async () => {
    h = await startApi({ images: fakeBuilds({ done: IMAGE, cached: true }) });
    const r = await h.call('POST', '/v1/stacks?dryRun=true', base);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.builds, [{ service: 'web', context: '/srv/shop/web', options: { dockerfile: 'Dockerfile', target: 'prod', args: { GREETING: 'hi' }, labels: {} } }]);
    assert.deepEqual(r.body.warnings, ['service web: field `build.cache_from` is not supported; ignored']);
  });

  it('deploys only with a built image the cluster holds for each service that builds, and changes nothing otherwise', async () => {
    h = await startApi({ images: fakeBuilds({ done: IMAGE, cached: true }, [IMAGE]) });
    const rev = h.store.revision;
    const none = await h.call('POST', '/v1/stacks', base);
    assert.equal(none.status, 400, JSON.stringify(none.body));
    assert.match(none.body.error.message, /service web has `build:` and the request names no built image/);
    const unknown = await h.call('POST', '/v1/stacks', { ...base, builtImages: { web: 'flotilla.local/shop_web:nope' } });
    assert.equal(unknown.status, 412, JSON.stringify(unknown.body));
    assert.match(unknown.body.error.message, /does not have/);
    const other = await h.call('POST', '/v1/stacks', { ...base, builtImages: { web: IMAGE.ref, db: IMAGE.ref } });
    assert.equal(other.status, 400);
    assert.match(other.body.error.message, /service db has no `build:`/);
    assert.equal(h.store.revision, rev, 'nothing was written');

    const ok = await h.call('POST', '/v1/stacks', { ...base, builtImages: { web: IMAGE.ref } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const [service] = h.store.services.all();
    assert.equal(service?.spec.taskTemplate.container.image, IMAGE.ref);
  });
});
