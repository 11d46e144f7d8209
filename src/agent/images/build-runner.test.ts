import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AgentMessage } from '../../api/agent-protocol.ts';
import { BLOB_CHUNK_BYTES } from '../../api/agent-protocol.ts';
import { silentLogger } from '../../lib/logger.ts';
import { DriverError, type Driver, type DriverImages } from '../drivers/driver.ts';
import { BlobReader } from './blob-reader.ts';
import { BuildRunner } from './build-runner.ts';

const REF = `flotilla.local/shop_web:${'a'.repeat(64)}`;
const OPTIONS = { dockerfile: 'Dockerfile', args: {}, labels: {} };

/** An engine that "builds" by reading the context, and saves `image`; or fails at a step. */
function engine(image: Buffer, fail?: DriverError): DriverImages & { context: Buffer[] } {
  const context: Buffer[] = [];
  return {
    context,
    has: async () => true,
    load: async () => {},
    async build(ctx, ref, _o, onLine) {
      for await (const c of ctx) context.push(Buffer.from(c));
      assert.equal(ref, REF);
      onLine('Step 1/2 : FROM x');
      onLine('Step 2/2 : RUN make');
      if (fail) throw fail;
    },
    save: async () =>
      (async function* () {
        yield image.subarray(0, 100_000);
        yield image.subarray(100_000);
      })(),
  };
}

const drivers = (images: DriverImages): ReadonlyMap<string, Driver> => new Map([['docker', { name: 'docker', images } as unknown as Driver]]);

/** The manager's side: answers the context read, acks blobs as told, records the rest. */
function manager(runner: () => BuildRunner, reader: () => BlobReader, ackUpTo = Infinity) {
  const got: AgentMessage[] = [];
  let ended: (m: AgentMessage) => void = () => {};
  const end = new Promise<AgentMessage>((resolve) => (ended = resolve));
  const send = (m: AgentMessage): boolean => {
    got.push(m);
    queueMicrotask(() => {
      if (m.type === 'blob-read') reader().onChunk({ type: 'blob-chunk', requestId: m.requestId, data: Buffer.from('context').toString('base64'), eof: true });
      if (m.type === 'build-blob' && m.seq <= ackUpTo) runner().ack(m.buildId, m.seq);
      if (m.type === 'build-end') ended(m);
    });
    return true;
  };
  return { got, send, end };
}

describe('BuildRunner', () => {
  it('builds the context it reads, sends the progress, then the saved image in order, and ends', async () => {
    const image = Buffer.alloc(BLOB_CHUNK_BYTES * 2 + 10, 3);
    const images = engine(image);
    const m = manager(() => runner, () => reader);
    const reader = new BlobReader(m.send);
    const runner = new BuildRunner({ drivers: drivers(images), reader, logger: silentLogger, send: m.send });
    runner.start({ type: 'build', buildId: 'b1', ref: REF, options: OPTIONS });
    assert.deepEqual(await m.end, { type: 'build-end', buildId: 'b1' });
    assert.equal(Buffer.concat(images.context).toString(), 'context');
    const progress = m.got.flatMap((x) => (x.type === 'build-progress' ? x.lines : []));
    assert.deepEqual(progress, ['Step 1/2 : FROM x', 'Step 2/2 : RUN make']);
    const blobs = m.got.filter((x) => x.type === 'build-blob');
    assert.deepEqual(blobs.map((x) => x.seq), [0, 1, 2]);
    assert.ok(Buffer.concat(blobs.map((x) => Buffer.from(x.data, 'base64'))).equals(image), 'the image, whole and in order');
  });

  it('reports the failing step', async () => {
    const m = manager(() => runner, () => reader);
    const reader = new BlobReader(m.send);
    const failure = new DriverError('build_failed', 'returned a non-zero code: 2', { step: 'Step 2/2 : RUN make' });
    const runner = new BuildRunner({ drivers: drivers(engine(Buffer.alloc(1), failure)), reader, logger: silentLogger, send: m.send });
    runner.start({ type: 'build', buildId: 'b2', ref: REF, options: OPTIONS });
    assert.deepEqual(await m.end, { type: 'build-end', buildId: 'b2', error: { message: 'returned a non-zero code: 2', step: 'Step 2/2 : RUN make' } });
    assert.equal(m.got.filter((x) => x.type === 'build-blob').length, 0);
  });

  it('sends no more than its window ahead of the acknowledgements, and stops when cancelled', async () => {
    const image = Buffer.alloc(BLOB_CHUNK_BYTES * 20, 1);
    const m = manager(() => runner, () => reader, -1);
    const reader = new BlobReader(m.send);
    const runner = new BuildRunner({ drivers: drivers(engine(image)), reader, logger: silentLogger, send: m.send });
    runner.start({ type: 'build', buildId: 'b3', ref: REF, options: OPTIONS });
    // Wait until the runner stalls on its window (nothing is acknowledged).
    for (let i = 0; i < 1000 && m.got.filter((x) => x.type === 'build-blob').length < 8; i++) await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    assert.equal(m.got.filter((x) => x.type === 'build-blob').length, 8, 'at most 8 unacknowledged');
    runner.cancel('b3');
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    assert.equal(m.got.filter((x) => x.type === 'build-end').length, 0, 'a cancelled build sends nothing more');
  });
});
