import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FlotillaClient } from '../../client/client.ts';
import { testSealingKey } from '../../testing/sealing-key.ts';
import { startApi, type ApiHarness } from '../../testing/api-harness.ts';

const PLAINTEXT = 'p4ssw0rd-7f3a9c-do-not-leak';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function serviceUsing(secret: { id: string; name: string }, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'db', taskTemplate: { container: { image: 'flotilla/busybox:test', secrets: [{ id: secret.id, name: secret.name, ...extra }] } } };
}

describe('secrets API', () => {
  let h: ApiHarness;
  const key = testSealingKey();
  beforeEach(async () => {
    h = await startApi({ secrets: key });
  });
  afterEach(async () => {
    await h.close();
  });

  it('creates a secret, seals it at rest, and never returns its data', async () => {
    const r = await h.call('POST', '/v1/secrets', { spec: { name: 'db_pw', labels: { a: 'b' } }, data: b64(PLAINTEXT) });
    assert.equal(r.status, 201);
    assert.equal(r.body.spec.name, 'db_pw');
    assert.equal(r.body.sizeBytes, PLAINTEXT.length);
    assert.equal(r.body.sealed, undefined);
    assert.equal(r.body.data, undefined);
    const stored = h.store.table('secret').get(r.body.id);
    assert.ok(stored);
    assert.ok(!JSON.stringify(stored).includes(PLAINTEXT));
    assert.ok(!JSON.stringify(stored).includes(b64(PLAINTEXT)));
    assert.equal(key.open(stored.sealed, stored.id).toString(), PLAINTEXT);
    const responses = [
      r.raw.body,
      (await h.call('GET', '/v1/secrets')).raw.body,
      (await h.call('GET', '/v1/secrets/db_pw')).raw.body,
      (await h.call('GET', `/v1/secrets/${r.body.id}`)).raw.body,
      (await h.call('GET', `/v1/secrets/${r.body.id.slice(0, 6)}`)).raw.body,
    ];
    for (const body of responses) {
      assert.ok(!body.includes(PLAINTEXT) && !body.includes(b64(PLAINTEXT)) && !body.includes(stored.sealed), body);
      assert.ok(!body.includes('sealed'), body);
    }
  });

  it('refuses bad input with a clear error and changes nothing', async () => {
    const rev = h.store.revision;
    const bad = await h.call('POST', '/v1/secrets', { spec: { name: 'x' }, data: 'not base64!!' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /not valid base64/);
    const big = await h.call('POST', '/v1/secrets', { spec: { name: 'x' }, data: Buffer.alloc(500 * 1024 + 1).toString('base64') });
    assert.equal(big.status, 400);
    assert.match(big.body.error.message, /at most 512000/);
    const name = await h.call('POST', '/v1/secrets', { spec: { name: '-bad' }, data: b64('x') });
    assert.equal(name.status, 400);
    assert.equal(h.store.revision, rev);
    await h.call('POST', '/v1/secrets', { spec: { name: 'dup' }, data: b64('x') });
    const dup = await h.call('POST', '/v1/secrets', { spec: { name: 'dup' }, data: b64('y') });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.error.message, 'secret name dup is already taken');
  });

  it('refuses rm while a service uses the secret, naming the service; allows it after', async () => {
    const s = (await h.call('POST', '/v1/secrets', { spec: { name: 'db_pw' }, data: b64(PLAINTEXT) })).body;
    const svc = await h.call('POST', '/v1/services', serviceUsing({ id: s.id, name: 'db_pw' }, { target: 'pw', mode: 0o400 }));
    assert.equal(svc.status, 201, JSON.stringify(svc.body));
    const rm = await h.call('DELETE', '/v1/secrets/db_pw');
    assert.equal(rm.status, 412);
    assert.equal(rm.body.error.code, 'failed_precondition');
    assert.match(rm.body.error.message, /in use by service db/);
    assert.ok(h.store.table('secret').get(s.id));
    assert.equal((await h.call('DELETE', '/v1/services/db')).status, 204);
    assert.equal((await h.call('DELETE', '/v1/secrets/db_pw')).status, 204);
    assert.equal((await h.call('GET', '/v1/secrets/db_pw')).status, 404);
  });

  it('refuses a service that references a secret that does not exist, or by the wrong name', async () => {
    const missing = await h.call('POST', '/v1/services', serviceUsing({ id: 'nope', name: 'ghost' }));
    assert.equal(missing.status, 400);
    assert.match(missing.body.error.message, /taskTemplate\.container\.secrets\[0\]\.id: no secret with id nope \(ghost\)/);
    const s = (await h.call('POST', '/v1/secrets', { spec: { name: 'real' }, data: b64('x') })).body;
    const wrong = await h.call('POST', '/v1/services', serviceUsing({ id: s.id, name: 'other' }));
    assert.equal(wrong.status, 400);
    assert.match(wrong.body.error.message, /is named real, not other/);
    assert.equal(h.store.services.all().length, 0);
  });

  it('strips sealed data from the event stream', async () => {
    const listening = await startApi({ secrets: key, listen: true });
    try {
      const client = new FlotillaClient({ socketPath: listening.socketPath });
      const created = await client.createSecret({ name: 'ev' }, Buffer.from(PLAINTEXT));
      const stored = listening.store.table('secret').get(created.id);
      assert.ok(stored);
      const ac = new AbortController();
      for await (const ev of client.events({ since: 0, kinds: ['secret'], signal: ac.signal })) {
        assert.equal(ev.object.id, created.id);
        assert.ok(!JSON.stringify(ev).includes(stored.sealed));
        assert.deepEqual(ev.object, created);
        break;
      }
      ac.abort();
    } finally {
      await listening.close();
    }
  });

  it('answers unavailable without a sealing key', async () => {
    const bare = await startApi();
    try {
      const r = await bare.call('POST', '/v1/secrets', { spec: { name: 'x' }, data: b64('x') });
      assert.equal(r.status, 503);
    } finally {
      await bare.close();
    }
  });
});

describe('configs API', () => {
  let h: ApiHarness;
  beforeEach(async () => {
    h = await startApi();
  });
  afterEach(async () => {
    await h.close();
  });

  it('creates, lists, inspects (with data) and removes a config; rm refused while used', async () => {
    const r = await h.call('POST', '/v1/configs', { spec: { name: 'nginx.conf' }, data: b64('server {}') });
    assert.equal(r.status, 201);
    assert.equal(Buffer.from(r.body.data, 'base64').toString(), 'server {}');
    assert.equal((await h.call('GET', '/v1/configs')).body.length, 1);
    assert.equal((await h.call('GET', '/v1/configs/nginx.conf')).body.id, r.body.id);
    const svc = await h.call('POST', '/v1/services', {
      name: 'proxy',
      taskTemplate: { container: { image: 'flotilla/busybox:test', configs: [{ id: r.body.id, name: 'nginx.conf', target: '/etc/nginx.conf' }] } },
    });
    assert.equal(svc.status, 201, JSON.stringify(svc.body));
    const rm = await h.call('DELETE', '/v1/configs/nginx.conf');
    assert.equal(rm.status, 412);
    assert.match(rm.body.error.message, /config nginx\.conf is in use by service proxy/);
  });
});
