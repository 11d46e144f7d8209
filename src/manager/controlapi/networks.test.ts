import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { INGRESS_SUBNET, VNI_BASE } from '../../api/network.ts';
import { silentLogger } from '../../lib/logger.ts';
import { startApi, type ApiHarness } from '../../testing/api-harness.ts';
import { makeNode } from '../../testing/fixtures.ts';
import { FlotillaClient } from '../../client/client.ts';
import { parseKinds } from './events.ts';
import { ensureIngressNetwork, planIngress } from './ingress.ts';

const image = { container: { image: 'flotilla/busybox:test' } };
const svc = (name: string, extra: Record<string, unknown> = {}, template: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  taskTemplate: { ...image, ...template },
  ...extra,
});
const on = (...targets: Array<string | { target: string; aliases?: string[] }>): Record<string, unknown> => ({
  networks: targets.map((t) => (typeof t === 'string' ? { target: t } : t)),
});
const port = (published: number, mode: 'ingress' | 'host', protocol: 'tcp' | 'udp' = 'tcp'): Record<string, unknown> => ({ target: 80, published, mode, protocol });

type ApiErrorBody = { code: string; message: string; details: Array<{ path: string; message: string }> };

/** Calls, and asserts the store did not move: a refused request changes nothing. */
async function refusedBy(h: ApiHarness, method: string, url: string, payload: unknown, status: number): Promise<ApiErrorBody> {
  const rev = h.store.revision;
  const r = await h.call(method, url, payload);
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(h.store.revision, rev, 'a refused request changed the store');
  return r.body.error;
}

describe('networks API', () => {
  let h: ApiHarness;
  beforeEach(async () => {
    h = await startApi();
  });
  afterEach(async () => {
    await h.close();
  });

  const refused = (method: string, url: string, payload: unknown, status: number): Promise<ApiErrorBody> => refusedBy(h, method, url, payload, status);

  it('creates networks with a range from the default pool or the one given, and the lowest free VNI', async () => {
    const a = await h.call('POST', '/v1/networks', { spec: { name: 'front', labels: { team: 'a' } } });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.equal(a.body.subnet, '10.0.0.0/16');
    assert.equal(a.body.vni, VNI_BASE);
    assert.equal(a.body.ingress, false);
    assert.deepEqual(a.body.slices, []);
    assert.deepEqual(a.body.spec, { name: 'front', labels: { team: 'a' }, driver: 'overlay', internal: false, attachable: false, encrypted: false });
    assert.deepEqual(a.body, JSON.parse(JSON.stringify(h.store.table('network').get(a.body.id))));
    const b = await h.call('POST', '/v1/networks', { spec: { name: 'back', subnet: '10.1.0.0/24', internal: true, encrypted: true } });
    assert.equal(b.status, 201);
    assert.equal(b.body.subnet, '10.1.0.0/24');
    assert.equal(b.body.vni, VNI_BASE + 1);
    assert.equal(b.body.spec.internal, true);
    const c = await h.call('POST', '/v1/networks', { spec: { name: 'third' } });
    assert.equal(c.body.subnet, '10.2.0.0/16');
  });

  it('refuses bad input with one clear message and changes nothing', async () => {
    await h.call('POST', '/v1/networks', { spec: { name: 'back', subnet: '10.1.0.0/16' } });
    const malformed = await refused('POST', '/v1/networks', { spec: { name: 'x', subnet: '10.1.0.300/16' } }, 400);
    assert.equal(malformed.code, 'invalid_argument');
    assert.match(malformed.message, /^invalid network x: subnet /);
    assert.equal(malformed.details[0]?.path, 'spec.subnet');
    const hostBits = await refused('POST', '/v1/networks', { spec: { name: 'x', subnet: '10.9.0.1/16' } }, 400);
    assert.match(hostBits.message, /subnet/);
    const overlap = await refused('POST', '/v1/networks', { spec: { name: 'x', subnet: '10.1.128.0/24' } }, 400);
    assert.equal(overlap.message, 'invalid network x: subnet 10.1.128.0/24 overlaps network back (10.1.0.0/16)');
    const small = await refused('POST', '/v1/networks', { spec: { name: 'x', subnet: '10.7.0.0/28' } }, 400);
    assert.match(small.message, /prefix length must be \/8 to \/24/);
    const taken = await refused('POST', '/v1/networks', { spec: { name: 'back' } }, 409);
    assert.equal(taken.code, 'already_exists');
    assert.equal(taken.message, 'network name back is already taken');
    const reserved = await refused('POST', '/v1/networks', { spec: { name: 'ingress' } }, 400);
    assert.match(reserved.message, /network name ingress is reserved/);
    const name = await refused('POST', '/v1/networks', { spec: { name: '-x' } }, 400);
    assert.match(name.message, /spec\.name/);
    const driver = await refused('POST', '/v1/networks', { spec: { name: 'x', driver: 'bridge' } }, 400);
    assert.match(driver.message, /spec\.driver/);
    const extra = await refused('POST', '/v1/networks', { spec: { name: 'x', ipv6: true } }, 400);
    assert.equal(extra.code, 'invalid_argument');
    assert.equal(h.store.table('network').size, 1);
  });

  it('lists (with label filters), inspects by name, id and id prefix, 404 when absent', async () => {
    const a = (await h.call('POST', '/v1/networks', { spec: { name: 'a', labels: { 'com.docker.stack.namespace': 'shop', tier: 'front' } } })).body;
    await h.call('POST', '/v1/networks', { spec: { name: 'b' } });
    assert.deepEqual(((await h.call('GET', '/v1/networks')).body as Array<{ spec: { name: string } }>).map((n) => n.spec.name).sort(), ['a', 'b']);
    const filtered = await h.call('GET', '/v1/networks?label=com.docker.stack.namespace=shop&label=tier');
    assert.deepEqual(filtered.body.map((n: { id: string }) => n.id), [a.id]);
    assert.deepEqual((await h.call('GET', '/v1/networks?label=tier=back')).body, []);
    assert.equal((await h.call('GET', '/v1/networks?label==x')).status, 400);
    assert.equal((await h.call('GET', '/v1/networks?name=a')).status, 400);
    for (const ref of ['a', a.id, a.id.slice(0, 8)]) assert.equal((await h.call('GET', `/v1/networks/${ref}`)).body.id, a.id);
    const missing = await h.call('GET', '/v1/networks/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.message, 'network nope not found');
  });

  it("refuses Docker's pre-defined network names (bridge, host, none) at create, as Swarm does", async () => {
    for (const name of ['bridge', 'host', 'none']) {
      const r = await h.call('POST', '/v1/networks', { spec: { name, attachable: true } });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.message, `network name ${name} is one of Docker's pre-defined networks (bridge, host, none) and cannot be created: choose another name`);
    }
    assert.equal(h.store.table('network').all().filter((n) => !n.ingress).length, 0);
  });

  it('refuses rm while a plain container is attached (as Swarm does), naming it and its node; a down node does not count', async () => {
    const n = (await h.call('POST', '/v1/networks', { spec: { name: 'shared', attachable: true } })).body;
    const container = { networkId: n.id, containerId: 'c0ffee', name: 'debug', aliases: [], addr: '10.0.1.192/16' };
    const { version: _v, createdAt: _c, updatedAt: _u, ...node } = makeNode({ description: { hostname: 'alpha' } });
    await h.store.update((tx) => {
      tx.nodes.create({ ...node, status: { ...node.status, containers: [container] } });
    });
    const attached = await refused('DELETE', '/v1/networks/shared', undefined, 412);
    assert.equal(attached.message, 'network shared has 1 container(s) attached (debug on alpha): disconnect or remove them first');
    await h.store.update((tx) => {
      const stored = tx.nodes.all()[0]!;
      tx.nodes.update({ ...stored, status: { ...stored.status, state: 'down' } });
    });
    assert.equal((await h.call('DELETE', '/v1/networks/shared')).status, 204);
  });

  it('refuses rm while services are on it, naming them; removes it after; a stack network is removed like any other', async () => {
    const n = (await h.call('POST', '/v1/networks', { spec: { name: 'back', labels: { 'com.docker.stack.namespace': 'shop' } } })).body;
    assert.equal((await h.call('POST', '/v1/services', svc('db', {}, on('back')))).status, 201);
    assert.equal((await h.call('POST', '/v1/services', svc('api', {}, on(n.id)))).status, 201);
    const inUse = await refused('DELETE', '/v1/networks/back', undefined, 412);
    assert.equal(inUse.code, 'failed_precondition');
    assert.equal(inUse.message, 'network back is in use by services api, db: remove it from them first');
    await h.call('DELETE', '/v1/services/api');
    const one = await refused('DELETE', `/v1/networks/${n.id}`, undefined, 412);
    assert.match(one.message, /in use by service db:/);
    await h.call('DELETE', '/v1/services/db');
    assert.equal((await h.call('DELETE', '/v1/networks/back')).status, 204);
    assert.equal(h.store.table('network').get(n.id), undefined);
    assert.equal((await h.call('DELETE', '/v1/networks/back')).status, 404);
  });

  it('creates the built-in ingress network once, and never removes it', async () => {
    await ensureIngressNetwork(h.store, silentLogger);
    const [ingress] = h.store.table('network').all();
    assert.ok(ingress);
    assert.equal(ingress.spec.name, 'ingress');
    assert.equal(ingress.ingress, true);
    assert.equal(ingress.subnet, INGRESS_SUBNET);
    assert.equal(ingress.vni, VNI_BASE);
    assert.deepEqual(ingress.spec.labels, {});
    const rev = h.store.revision;
    await ensureIngressNetwork(h.store, silentLogger);
    assert.equal(h.store.revision, rev);
    assert.equal(h.store.table('network').size, 1);
    const rm = await refused('DELETE', '/v1/networks/ingress', undefined, 412);
    assert.equal(rm.message, 'network ingress is the built-in routing-mesh network: it cannot be removed');
    const dup = await refused('POST', '/v1/networks', { spec: { name: 'ingress' } }, 400);
    assert.match(dup.message, /reserved/);
    const overlap = await refused('POST', '/v1/networks', { spec: { name: 'x', subnet: '10.0.3.0/24' } }, 400);
    assert.match(overlap.message, /overlaps network ingress \(10\.0\.0\.0\/16\)/);
    // The next network gets the next VNI and the pool's first free /16.
    const n = (await h.call('POST', '/v1/networks', { spec: { name: 'front' } })).body;
    assert.equal(n.vni, VNI_BASE + 1);
    assert.equal(n.subnet, '10.1.0.0/16');
  });

  it('plans the ingress network: exists, create, or blocked by a network in its range', async () => {
    const user = { id: 'u', version: 1, createdAt: '', updatedAt: '', spec: { name: 'big', labels: {}, driver: 'overlay' as const, internal: false, attachable: false, encrypted: false }, subnet: '10.0.0.0/8', vni: VNI_BASE, ingress: false, slices: [] };
    const blocked = planIngress([user], 'i');
    assert.equal(blocked.kind, 'blocked');
    assert.match(blocked.kind === 'blocked' ? blocked.reason : '', /overlaps network big/);
    const named = { ...user, spec: { ...user.spec, name: 'ingress' }, subnet: '10.9.0.0/16' };
    assert.equal(planIngress([named], 'i').kind, 'exists');
    const created = planIngress([{ ...user, subnet: '10.1.0.0/16' }], 'i');
    assert.equal(created.kind, 'create');
    assert.equal(created.kind === 'create' ? created.network.vni : 0, VNI_BASE + 1);
  });

  it('documents the routes in the OpenAPI document', async () => {
    const doc = (await h.call('GET', '/v1/openapi.json')).body;
    assert.deepEqual(Object.keys(doc.paths['/v1/networks']).sort(), ['get', 'post']);
    assert.deepEqual(Object.keys(doc.paths['/v1/networks/{idOrName}']).sort(), ['delete', 'get']);
    assert.ok(doc.components.schemas.Network);
  });

  it('streams network events', async () => {
    assert.deepEqual(parseKinds('network'), ['network']);
    await h.close();
    h = await startApi({ listen: true });
    const client = new FlotillaClient({ socketPath: h.socketPath });
    const ac = new AbortController();
    const events = client.events({ signal: ac.signal, kinds: ['network'] });
    const first = events.next();
    await client.info();
    const created = await client.createNetwork({ name: 'n1' });
    const ev = (await first).value;
    assert.equal(ev?.kind, 'network');
    assert.equal(ev?.action, 'create');
    assert.deepEqual(ev?.object, created);
    ac.abort();
  });
});

describe('services on networks', () => {
  let h: ApiHarness;
  beforeEach(async () => {
    h = await startApi();
    await ensureIngressNetwork(h.store, silentLogger);
    await h.call('POST', '/v1/networks', { spec: { name: 'front' } });
    await h.call('POST', '/v1/networks', { spec: { name: 'back' } });
  });
  afterEach(async () => {
    await h.close();
  });

  const refused = (method: string, url: string, payload: unknown, status: number): Promise<ApiErrorBody> => refusedBy(h, method, url, payload, status);
  const byName = (name: string): { id: string } => {
    const n = h.store.table('network').by('name', name)[0];
    assert.ok(n);
    return n;
  };

  it('stores targets as given (name or id), an id prefix as the name, with aliases', async () => {
    const back = byName('back');
    const r = await h.call('POST', '/v1/services', svc('web', {}, on({ target: 'front', aliases: ['www'] }, back.id)));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(r.body.spec.taskTemplate.networks, [{ target: 'front', aliases: ['www'] }, { target: back.id, aliases: [] }]);
    const p = await h.call('POST', '/v1/services', svc('api', {}, on(back.id.slice(0, 6))));
    assert.equal(p.status, 201, JSON.stringify(p.body));
    assert.deepEqual(p.body.spec.taskTemplate.networks, [{ target: 'back', aliases: [] }]);
  });

  it('refuses an unknown network, one listed twice and the ingress network, naming the field', async () => {
    const unknown = await refused('POST', '/v1/services', svc('web', {}, on('front', 'nope')), 400);
    assert.equal(unknown.code, 'invalid_argument');
    assert.equal(unknown.message, 'service web: taskTemplate.networks[1].target: network nope not found');
    assert.equal(unknown.details[0]?.path, 'taskTemplate.networks[1].target');
    const twice = await refused('POST', '/v1/services', svc('web', {}, on('front', byName('front').id)), 400);
    assert.match(twice.message, /taskTemplate\.networks\[1\]\.target: network front is already taskTemplate\.networks\[0\]/);
    const ingress = await refused('POST', '/v1/services', svc('web', {}, on('ingress')), 400);
    assert.match(ingress.message, /the ingress network carries published ports only/);
    const ingressId = await refused('POST', '/v1/services', svc('web', {}, on(byName('ingress').id)), 400);
    assert.match(ingressId.message, /carries published ports only/);
    assert.equal(h.store.services.size, 0);
  });

  it('refuses ingress ports with endpoint mode dnsrr', async () => {
    const e = await refused('POST', '/v1/services', svc('web', { endpoint: { mode: 'dnsrr', ports: [port(8080, 'ingress')] } }), 400);
    assert.match(e.message, /endpoint\.ports\[0\]\.mode: ports published in ingress mode need endpoint mode vip/);
    const ok = await h.call('POST', '/v1/services', svc('web', { endpoint: { mode: 'dnsrr', ports: [port(8080, 'host')] } }));
    assert.equal(ok.status, 201);
  });

  it('refuses ingress ports the nodes use themselves (DNS, VXLAN, the manager), in host mode they are the user\'s', async () => {
    const dns = await refused('POST', '/v1/services', svc('web', { endpoint: { ports: [{ ...port(53, 'ingress'), protocol: 'udp' }] } }), 400);
    assert.match(dns.message, /port 53\/udp cannot be published in ingress mode: every node uses it for the DNS server/);
    const vxlan = await refused('POST', '/v1/services', svc('web', { endpoint: { ports: [{ ...port(4789, 'ingress'), protocol: 'udp' }] } }), 400);
    assert.match(vxlan.message, /VXLAN/);
    assert.equal(h.store.services.size, 0);
    const host = await h.call('POST', '/v1/services', svc('web', { endpoint: { ports: [{ ...port(53, 'host'), protocol: 'udp' }] } }));
    assert.equal(host.status, 201);
  });

  it('refuses a published port another service holds in ingress mode (409), on create and update', async () => {
    assert.equal((await h.call('POST', '/v1/services', svc('web', { endpoint: { ports: [port(8080, 'ingress')] } }))).status, 201);
    const same = await refused('POST', '/v1/services', svc('api', { endpoint: { ports: [port(8080, 'ingress')] } }), 409);
    assert.equal(same.code, 'already_exists');
    assert.equal(same.message, 'port 8080/tcp is already published by service web');
    const host = await refused('POST', '/v1/services', svc('api', { endpoint: { ports: [port(9000, 'host'), port(8080, 'host')] } }), 409);
    assert.equal(host.message, 'port 8080/tcp is already published by service web');
    assert.equal(host.details[0]?.path, 'endpoint.ports[1]');
    // Another protocol, and host ports shared by two services, are fine.
    assert.equal((await h.call('POST', '/v1/services', svc('dns', { endpoint: { ports: [port(8080, 'ingress', 'udp')] } }))).status, 201);
    assert.equal((await h.call('POST', '/v1/services', svc('a', { endpoint: { ports: [port(7000, 'host')] } }))).status, 201);
    const b = await h.call('POST', '/v1/services', svc('b', { endpoint: { ports: [port(7000, 'host')] } }));
    assert.equal(b.status, 201);
    // An update that adds a clashing port is refused; one that keeps its own ports is not.
    const spec = { ...b.body.spec, endpoint: { ...b.body.spec.endpoint, ports: [...b.body.spec.endpoint.ports, port(8080, 'ingress')] } };
    const upd = await refused('PUT', '/v1/services/b', { version: b.body.version, spec }, 409);
    assert.match(upd.message, /port 8080\/tcp is already published by service web/);
    const web = h.store.services.byName('web');
    assert.ok(web);
    const relabel = await h.call('PUT', '/v1/services/web', { version: web.version, spec: { ...web.spec, labels: { x: 'y' } } });
    assert.equal(relabel.status, 200, JSON.stringify(relabel.body));
  });

  it('checks networks on update too, and a network in use cannot then be removed', async () => {
    const web = (await h.call('POST', '/v1/services', svc('web'))).body;
    const bad = await refused('PUT', '/v1/services/web', { version: web.version, spec: { ...web.spec, taskTemplate: { ...web.spec.taskTemplate, ...on('ghost') } } }, 400);
    assert.match(bad.message, /network ghost not found/);
    const ok = await h.call('PUT', '/v1/services/web', { version: web.version, spec: { ...web.spec, taskTemplate: { ...web.spec.taskTemplate, ...on('back') } } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.specVersion, 2);
    assert.equal((await h.call('DELETE', '/v1/networks/back')).status, 412);
  });
});
