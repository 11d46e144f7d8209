import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { AgentMessage, ManagerMessage } from '../../api/agent-protocol.ts';
import { builtImageRef, contentHash, type BuildEvent } from '../../api/build.ts';
import { silentLogger } from '../../lib/logger.ts';
import { openMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { BlobStore } from './blob-store.ts';
import { ImageService } from './image-service.ts';

const OPTIONS = { dockerfile: 'Dockerfile', args: {}, labels: {} };
const CONTEXT = Buffer.from('a tar of the context');

/**
 * A node's agent as the image service sees it: reads the context through `blob-read`, sends
 * progress, then `image` in pieces (or fails at `failStep`), through the service's own handler.
 */
function fakeAgent(service: () => ImageService, behaviour: { image?: Buffer; failStep?: string; pieces?: number }) {
  const seen: ManagerMessage[] = [];
  const context: Buffer[] = [];
  const from = (m: AgentMessage): boolean => service().onAgentMessage('n1', m);
  const send = (nodeId: string, m: ManagerMessage): boolean => {
    assert.equal(nodeId, 'n1');
    seen.push(m);
    queueMicrotask(() => {
      if (m.type === 'build') from({ type: 'blob-read', requestId: 'r0', build: m.buildId, offset: 0 });
      if (m.type === 'blob-chunk' && m.requestId === 'r0') {
        context.push(Buffer.from(m.data, 'base64'));
        const buildId = (seen.find((x) => x.type === 'build') as { buildId: string }).buildId;
        from({ type: 'build-progress', buildId, lines: ['Step 1/2 : FROM x', 'Step 2/2 : RUN exit 3'] });
        if (behaviour.failStep !== undefined) {
          from({ type: 'build-end', buildId, error: { message: 'returned a non-zero code: 3' } });
          return;
        }
        const image = behaviour.image ?? Buffer.alloc(0);
        const n = behaviour.pieces ?? 1;
        const size = Math.ceil(image.length / n);
        for (let i = 0; i < n; i++) from({ type: 'build-blob', buildId, seq: i, data: image.subarray(i * size, (i + 1) * size).toString('base64') });
        from({ type: 'build-end', buildId });
      }
    });
    return true;
  };
  return { send, seen, context };
}

describe('ImageService', () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-images-'));
    store = await openMemoryStore({ clock: new FakeClock(), logger: silentLogger });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  function service(send: (n: string, m: ManagerMessage) => boolean, builders: string[] = ['n1']): ImageService {
    return new ImageService({ store, clock: new FakeClock(), logger: silentLogger, blobs: new BlobStore(dir), send, builders: () => builders });
  }

  it('hands the build to a node, relays its progress, keeps the image and its metadata, and answers from them next time', async () => {
    const image = Buffer.from('saved image archive '.repeat(50));
    const agent = fakeAgent(() => s, { image, pieces: 3 });
    const s = service(agent.send);
    const events: BuildEvent[] = [];
    const outcome = await s.build('shop_web', OPTIONS, [CONTEXT], (e) => events.push(e));
    assert.ok('done' in outcome, JSON.stringify(outcome));
    const hash = contentHash(createHash('sha256').update(CONTEXT).digest('hex'), OPTIONS);
    assert.equal(outcome.done.ref, builtImageRef('shop_web', hash));
    assert.equal(outcome.cached, false);
    assert.equal(outcome.done.sizeBytes, image.length);
    assert.equal(outcome.done.builtOn, 'n1');
    assert.deepEqual(Buffer.concat(agent.context), CONTEXT, 'the node read the context');
    assert.ok(events.some((e) => 'progress' in e && e.progress === 'Step 2/2 : RUN exit 3'));
    assert.deepEqual(agent.seen.filter((m) => m.type === 'build-ack').map((m) => (m as { seq: number }).seq), [0, 1, 2]);
    assert.deepEqual(store.table('image').all().map((i) => i.ref), [outcome.done.ref]);
    assert.deepEqual(await readdir(join(dir, 'sha256')), [outcome.done.blobDigest], 'only the image is kept, not the context');

    // A node reads the image back with blob-read.
    let answered: (m: ManagerMessage) => void = () => {};
    const reply = new Promise<ManagerMessage>((resolve) => (answered = resolve));
    const reader = service((_n, m) => {
      answered(m);
      return true;
    });
    reader.onAgentMessage('n2', { type: 'blob-read', requestId: 'q', image: outcome.done.ref, offset: 0 });
    const m = await reply;
    assert.ok(m.type === 'blob-chunk' && Buffer.from(m.data, 'base64').equals(image) && m.eof, 'the whole image in one chunk');

    const again = await s.build('shop_web', OPTIONS, [CONTEXT], () => {});
    assert.ok('done' in again && again.cached, 'the same context is not built again');
    assert.equal(agent.seen.filter((m) => m.type === 'build').length, 1);
  });

  it('reports a failed build with its step and keeps nothing', async () => {
    const agent = fakeAgent(() => s, { failStep: 'x' });
    const s = service(agent.send);
    const outcome = await s.build('shop_web', OPTIONS, [CONTEXT], () => {});
    assert.deepEqual(outcome, { error: { code: 'build_failed', message: 'returned a non-zero code: 3', step: 'Step 2/2 : RUN exit 3' } });
    assert.deepEqual(store.table('image').all(), []);
    assert.deepEqual(await readdir(join(dir, 'sha256')), []);
  });

  it('says when no node can build, when a context is too large, and when the node goes away', async () => {
    const none = await service(() => true, []).build('shop_web', OPTIONS, [CONTEXT], () => {});
    assert.ok('error' in none && none.error.code === 'unavailable' && /no node can build/.test(none.error.message), JSON.stringify(none));
    const small = new ImageService({ store, clock: new FakeClock(), logger: silentLogger, blobs: new BlobStore(dir), send: () => true, builders: () => ['n1'] }, { maxContextBytes: 4 });
    const big = await small.build('shop_web', OPTIONS, [CONTEXT], () => {});
    assert.ok('error' in big && big.error.code === 'too_large', JSON.stringify(big));
    const s: ImageService = service((_n, m) => {
      if (m.type === 'build') queueMicrotask(() => s.nodeGone('n1'));
      return true;
    });
    const gone = await s.build('shop_web', OPTIONS, [CONTEXT], () => {});
    assert.ok('error' in gone && /disconnected during the build/.test(gone.error.message), JSON.stringify(gone));
  });
});
