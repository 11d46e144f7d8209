import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Service } from '../../api/service.ts';
import { makeService, makeServiceSpec, makeTask } from '../../testing/fixtures.ts';
import { makeIngressNetwork, makeNetwork, networksReader } from '../../testing/network-fixtures.ts';
import { networksAllocator } from './networks.ts';
import { lacksSlice, wantedSlices } from './slices.ts';

const front = makeNetwork({ id: 'net-front', spec: { name: 'front' } });
const back = makeNetwork({ id: 'net-back', subnet: '10.2.0.0/16', spec: { name: 'back' } });
const ingress = makeIngressNetwork();
const networks = networksReader([front, back, ingress]);
const ingressPort = { target: 80, published: 8080, protocol: 'tcp', mode: 'ingress' } as const;
const attached = [{ target: 'front', aliases: ['web'] }, { target: 'net-back', aliases: [] }];

function withEndpoint(s: Service): Service {
  return { ...s, endpointStatus: { specVersion: s.specVersion, virtualIps: [] } };
}

void test('a task on no network gets networks: [] at once', () => {
  const vote = networksAllocator.allocate(makeTask({ status: { state: 'new' } }), { service: makeService(), networks });
  assert.deepEqual(vote.ok && vote.task.networks, []);
});

void test('the spec’s networks resolved in order, then ingress for an ingress port', () => {
  const spec = makeServiceSpec({ endpoint: { ports: [ingressPort] }, taskTemplate: { networks: attached } });
  const service = withEndpoint(makeService({ spec }));
  const vote = networksAllocator.allocate(makeTask({ spec: spec.taskTemplate, status: { state: 'new' } }), { service, networks });
  assert.ok(vote.ok);
  assert.deepEqual(vote.task.networks, [
    { networkId: 'net-front', name: 'front', aliases: ['web'] },
    { networkId: 'net-back', name: 'back', aliases: [] },
    { networkId: 'net-ingress', name: 'ingress', aliases: [] },
  ]);
});

void test('refused while a network is unknown or the service’s VIPs are not allocated for its spec', () => {
  const spec = makeServiceSpec({ taskTemplate: { networks: [{ target: 'nowhere', aliases: [] }] } });
  const lost = networksAllocator.allocate(makeTask({ spec: spec.taskTemplate }), { service: withEndpoint(makeService({ spec })), networks });
  assert.deepEqual(lost, { ok: false, reason: 'network nowhere not found' });

  const onFront = makeServiceSpec({ taskTemplate: { networks: attached } });
  const task = makeTask({ spec: onFront.taskTemplate });
  const bare = makeService({ spec: onFront });
  assert.deepEqual(networksAllocator.allocate(task, { service: bare, networks }), { ok: false, reason: "waiting for the service's virtual IPs" });
  const stale = { ...bare, specVersion: 2, endpointStatus: { specVersion: 1, virtualIps: [] } };
  assert.equal(networksAllocator.allocate(task, { service: stale, networks }).ok, false, 'VIPs of an older spec do not count');
  assert.deepEqual(networksAllocator.allocate(task, { service: bare, networks, endpointProblem: 'network front has no free virtual IP' }), {
    ok: false,
    reason: "waiting for the service's virtual IPs: network front has no free virtual IP",
  });
});

void test('slices are wanted for non-terminal placed tasks, and on every node for ingress and attachable networks', () => {
  const shared = makeNetwork({ id: 'net-shared', spec: { name: 'shared', attachable: true } });
  const on = (nodeId: string | undefined, state: 'assigned' | 'failed', networkId: string) =>
    makeTask({ ...(nodeId === undefined ? {} : { nodeId }), status: { state }, networks: [{ networkId, name: 'x', aliases: [] }] });
  const tasks = [on('n2', 'assigned', 'net-front'), on('n1', 'failed', 'net-back'), on(undefined, 'assigned', 'net-back'), on('gone', 'assigned', 'net-front')];
  const wanted = wantedSlices([front, back, ingress, shared], [{ id: 'n2' }, { id: 'n1' }], tasks);
  assert.deepEqual(Object.fromEntries(wanted), {
    'net-front': ['n2'],
    'net-back': [],
    'net-ingress': ['n1', 'n2'],
    'net-shared': ['n1', 'n2'],
  });
  const lookup = (id: string) => [front, back].find((n) => n.id === id);
  assert.equal(lacksSlice(on('n2', 'assigned', 'net-front'), lookup), true);
  assert.equal(lacksSlice(on('n2', 'assigned', 'net-front'), () => ({ ...front, slices: [{ nodeId: 'n2', subnet: '10.1.1.0/24' }] })), false);
  assert.equal(lacksSlice(on('n2', 'failed', 'net-front'), lookup), false);
});
