import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AgentMessage } from '../../api/agent-protocol.ts';
import { silentLogger } from '../../lib/logger.ts';
import { makeTask } from '../../testing/fixtures.ts';
import type { Driver, DriverImages } from '../drivers/driver.ts';
import { FakeDriver } from '../drivers/fake/fake-driver.ts';
import { BlobReader } from './blob-reader.ts';
import { imageHook } from './image-hook.ts';

const REF = `flotilla.local/shop_web:${'a'.repeat(64)}`;
const ARCHIVE = Buffer.from('an image archive, in three pieces');

/** An engine's images in memory: what was loaded, and what it has. */
function fakeImages(have: string[] = []): DriverImages & { loaded: Buffer[] } {
  const loaded: Buffer[] = [];
  const present = new Set(have);
  return {
    loaded,
    has: async (ref) => present.has(ref),
    async load(archive) {
      const chunks: Buffer[] = [];
      for await (const c of archive) chunks.push(Buffer.from(c));
      loaded.push(Buffer.concat(chunks));
      present.add(REF);
    },
    build: () => Promise.reject(new Error('not here')),
    save: () => Promise.reject(new Error('not here')),
  };
}

/** A fake driver with an engine's images (the docker driver's capability). */
function driverWith(images: DriverImages): Driver {
  const d = new FakeDriver({ nodeId: 'n1' } as never) as Driver;
  return Object.assign(Object.create(d) as Driver, { name: 'docker', images });
}

/** The manager's side of `blob-read`: the archive in pieces of 12 bytes; counts reads. */
function manager(reader: () => BlobReader, opts: { missing?: boolean } = {}): { send: (m: AgentMessage) => boolean; reads: number } {
  const state = { reads: 0, send: (m: AgentMessage): boolean => {
    if (m.type !== 'blob-read') return true;
    state.reads++;
    assert.equal(m.image, REF);
    const data = ARCHIVE.subarray(m.offset, m.offset + 12);
    queueMicrotask(() => reader().onChunk({ type: 'blob-chunk', requestId: m.requestId, data: data.toString('base64'), eof: m.offset + 12 >= ARCHIVE.length, ...(opts.missing ? { error: `the cluster has no image ${REF}` } : {}) }));
    return true;
  } };
  return state;
}

describe('the images task hook', () => {
  const task = makeTask({ spec: { driver: 'docker', container: { image: REF } } });
  const signal = new AbortController().signal;

  it('fetches a built image the engine lacks from the manager and loads it before the task is created, once for many tasks', async () => {
    const images = fakeImages();
    const m = manager(() => reader);
    const reader = new BlobReader(m.send);
    const hook = imageHook({ drivers: new Map([['docker', driverWith(images)]]), reader, logger: silentLogger });
    await Promise.all([hook.prestart?.(task, { prepared: {}, signal }), hook.prestart?.(makeTask({ id: 't2', spec: { driver: 'docker', container: { image: REF } } }), { prepared: {}, signal })]);
    assert.deepEqual(images.loaded, [ARCHIVE], 'loaded once, whole');
    assert.equal(m.reads, 3);
    await hook.prestart?.(task, { prepared: {}, signal });
    assert.equal(images.loaded.length, 1, 'an engine that has it is not sent it again');
  });

  it('leaves other images to the driver, and an engine that has the image alone', async () => {
    const images = fakeImages([REF]);
    const m = manager(() => reader);
    const reader = new BlobReader(m.send);
    const hook = imageHook({ drivers: new Map([['docker', driverWith(images)]]), reader, logger: silentLogger });
    await hook.prestart?.(makeTask({ spec: { driver: 'docker', container: { image: 'flotilla/busybox:test' } } }), { prepared: {}, signal });
    await hook.prestart?.(task, { prepared: {}, signal });
    assert.equal(m.reads, 0);
    assert.deepEqual(images.loaded, []);
  });

  it('rejects the task with the reason when the manager has no such image or the session is gone', async () => {
    const images = fakeImages();
    const m = manager(() => reader, { missing: true });
    const reader = new BlobReader(m.send);
    const hook = imageHook({ drivers: new Map([['docker', driverWith(images)]]), reader, logger: silentLogger });
    await assert.rejects(hook.prestart?.(task, { prepared: {}, signal }) ?? Promise.resolve(), /cannot fetch image .* the cluster has no image/);
    const offline = imageHook({ drivers: new Map([['docker', driverWith(fakeImages())]]), reader: new BlobReader(() => false), logger: silentLogger });
    await assert.rejects(offline.prestart?.(task, { prepared: {}, signal }) ?? Promise.resolve(), /not connected to a manager/);
  });
});
