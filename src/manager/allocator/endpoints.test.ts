import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeService } from '../../testing/fixtures.ts';
import { makeIngressNetwork, makeNetwork, networksReader } from '../../testing/network-fixtures.ts';
import { needsEndpoint, planEndpoint, VipBook } from './endpoints.ts';

const front = makeNetwork({ id: 'net-front', subnet: '10.1.0.0/16', spec: { name: 'front' } });
const back = makeNetwork({ id: 'net-back', subnet: '10.2.0.0/16', spec: { name: 'back' } });
const ingress = makeIngressNetwork();
const networks = networksReader([front, back, ingress]);
const ingressPort = { target: 80, published: 8080, protocol: 'tcp', mode: 'ingress' } as const;

void test('needsEndpoint: only services on a network (or that were), once per specVersion', () => {
  assert.equal(needsEndpoint(makeService()), false, 'no networks, no ingress ports: nothing to allocate');
  assert.equal(needsEndpoint(makeService({ spec: { taskTemplate: { networks: [{ target: 'front', aliases: [] }] } } })), true);
  assert.equal(needsEndpoint(makeService({ spec: { endpoint: { ports: [ingressPort] } } })), true);
  const done = makeService({ specVersion: 2, endpointStatus: { specVersion: 2, virtualIps: [] } });
  assert.equal(needsEndpoint(done), false);
  assert.equal(needsEndpoint({ ...done, specVersion: 3 }), true, 'left its networks: the old VIPs go');
});

void test('vip mode: one VIP per network, by id or name, ingress last for an ingress port', () => {
  const svc = makeService({
    specVersion: 4,
    spec: { endpoint: { ports: [ingressPort] }, taskTemplate: { networks: [{ target: 'net-back', aliases: [] }, { target: 'front', aliases: ['x'] }] } },
  });
  const r = planEndpoint(svc, networks, new VipBook());
  assert.deepEqual(r, {
    ok: true,
    endpoint: {
      specVersion: 4,
      virtualIps: [
        { networkId: 'net-back', addr: '10.2.0.1/16' },
        { networkId: 'net-front', addr: '10.1.0.1/16' },
        { networkId: 'net-ingress', addr: '10.255.0.1/16' },
      ],
    },
  });
});

void test('VIPs never collide with other services’ and stay put across updates', () => {
  const other = makeService({ id: 'svc-other', endpointStatus: { specVersion: 1, virtualIps: [{ networkId: 'net-front', addr: '10.1.0.1/16' }] } });
  const book = VipBook.of([other]);
  const svc = makeService({ spec: { taskTemplate: { networks: [{ target: 'front', aliases: [] }] } } });
  const first = planEndpoint(svc, networks, book);
  assert.ok(first.ok);
  assert.deepEqual(first.endpoint.virtualIps, [{ networkId: 'net-front', addr: '10.1.0.2/16' }]);
  book.record(svc.id, first.endpoint.virtualIps);
  const third = makeService({ id: 'svc-third', spec: { taskTemplate: { networks: [{ target: 'front', aliases: [] }] } } });
  assert.deepEqual(planEndpoint(third, networks, book), {
    ok: true,
    endpoint: { specVersion: 1, virtualIps: [{ networkId: 'net-front', addr: '10.1.0.3/16' }] },
  });

  // An update that adds `back` keeps the VIP on `front`.
  const updated = {
    ...svc,
    specVersion: 2,
    endpointStatus: first.endpoint,
    spec: { ...svc.spec, taskTemplate: { ...svc.spec.taskTemplate, networks: [{ target: 'back', aliases: [] }, { target: 'front', aliases: [] }] } },
  };
  assert.deepEqual(planEndpoint(updated, networks, book), {
    ok: true,
    endpoint: {
      specVersion: 2,
      virtualIps: [
        { networkId: 'net-back', addr: '10.2.0.1/16' },
        { networkId: 'net-front', addr: '10.1.0.2/16' },
      ],
    },
  });
});

void test('dnsrr: no VIPs, but the endpoint is resolved', () => {
  const svc = makeService({ spec: { endpoint: { mode: 'dnsrr' }, taskTemplate: { networks: [{ target: 'front', aliases: [] }] } } });
  assert.deepEqual(planEndpoint(svc, networks, new VipBook()), { ok: true, endpoint: { specVersion: 1, virtualIps: [] } });
});

void test('refusals: an unknown network, a missing ingress network, a full VIP block', () => {
  const lost = makeService({ spec: { taskTemplate: { networks: [{ target: 'nowhere', aliases: [] }] } } });
  assert.deepEqual(planEndpoint(lost, networks, new VipBook()), { ok: false, reason: 'network nowhere not found' });
  const meshed = makeService({ spec: { endpoint: { ports: [ingressPort] } } });
  assert.deepEqual(planEndpoint(meshed, networksReader([front]), new VipBook()), { ok: false, reason: 'network ingress not found' });

  const small = makeNetwork({ id: 'net-small', subnet: '10.9.0.0/24', spec: { name: 'small' } });
  const holders = Array.from({ length: 14 }, (_, i) =>
    makeService({ id: `svc-${i}`, endpointStatus: { specVersion: 1, virtualIps: [{ networkId: 'net-small', addr: `10.9.0.${i + 1}/24` }] } }),
  );
  const late = makeService({ id: 'svc-late', spec: { taskTemplate: { networks: [{ target: 'small', aliases: [] }] } } });
  assert.deepEqual(planEndpoint(late, networksReader([small]), VipBook.of(holders)), { ok: false, reason: 'network small has no free virtual IP' });
});
