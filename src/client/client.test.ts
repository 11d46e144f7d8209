import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApi, type ApiHarness } from '../testing/api-harness.ts';
import { FlotillaClient, isClientError, parseHost } from './client.ts';
import { ndjson } from './streams.ts';

describe('parseHost', () => {
  it('reads unix sockets and http URLs', () => {
    assert.deepEqual(parseHost('unix:///run/f.sock'), { socketPath: '/run/f.sock' });
    assert.deepEqual(parseHost('/run/f.sock'), { socketPath: '/run/f.sock' });
    assert.deepEqual(parseHost('http://10.0.0.1:7420/'), { url: 'http://10.0.0.1:7420' });
    assert.deepEqual(parseHost('tcp://10.0.0.1:7420'), { url: 'http://10.0.0.1:7420' });
    assert.throws(() => parseHost('ftp://x'), (e) => isClientError(e) && e.code === 'invalid_argument');
  });
});

describe('FlotillaClient', () => {
  let h: ApiHarness;
  let client: FlotillaClient;
  before(async () => {
    h = await startApi({ listen: true });
    client = new FlotillaClient({ socketPath: h.socketPath });
  });
  after(async () => {
    await h.close();
  });

  it('round-trips a service and carries API errors as ClientError', async () => {
    const s = await client.createService({ name: 'web', taskTemplate: { container: { image: 'img' } } });
    assert.deepEqual(await client.getService('web'), s);
    const updated = await client.updateService('web', s.version, { ...s.spec, replicas: 4 });
    assert.equal(updated.spec.replicas, 4);
    await assert.rejects(client.updateService('web', s.version, s.spec), (e) => isClientError(e) && e.code === 'conflict' && e.status === 409);
    await assert.rejects(client.getService('nope'), (e) => isClientError(e) && e.code === 'not_found' && e.message === 'service nope not found');
    await assert.rejects(
      client.createService({ name: 'bad name!', taskTemplate: { container: { image: 'img' } } }),
      (e) => isClientError(e) && e.code === 'invalid_argument' && e.details[0]?.path === 'name',
    );
    await client.removeService('web');
    assert.deepEqual(await client.listServices(), []);
    const doc = await client.openapi();
    assert.equal(doc['openapi'], '3.1.0');
  });

  it('reports an absent manager as unreachable', async () => {
    const c = new FlotillaClient({ socketPath: `${h.dir}/none.sock` });
    await assert.rejects(c.info(), (e) => isClientError(e) && e.code === 'unreachable');
  });

  it('parses NDJSON split across chunks', async () => {
    async function* chunks(): AsyncGenerator<string> {
      yield '{"a":1}\n{"a"';
      yield ':2}\n\n{"a":3}';
    }
    const got = [];
    for await (const o of ndjson<{ a: number }>(chunks())) got.push(o.a);
    assert.deepEqual(got, [1, 2, 3]);
  });
});
