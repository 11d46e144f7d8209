import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Network, NetworkSlice } from '../../api/network.ts';
import type { Node } from '../../api/node.ts';
import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { makeNode, makeService, makeTask, type DeepPartial } from '../../testing/fixtures.ts';
import { encodeMessage, parseManagerMessage } from '../../api/agent-protocol.ts';
import {
  encodeNetworkMapMessage,
  isServingEndpoint,
  mapFingerprint,
  networkMapFor,
  networkMapsFor,
  nodeAffectsMaps,
  serviceAffectsMaps,
  taskAffectsMaps,
  type NetworkMapSnapshot,
} from './network-map.ts';

const T0 = '2026-01-01T00:00:00.000Z';

function net(id: string, name: string, subnet: string, slices: NetworkSlice[], extra: Partial<Network> = {}): Network {
  return {
    id,
    version: 1,
    createdAt: T0,
    updatedAt: T0,
    spec: { name, labels: {}, driver: 'overlay', internal: false, attachable: false, encrypted: false },
    subnet,
    vni: 0x100000,
    ingress: false,
    slices,
    ...extra,
  };
}

const INGRESS = net('net-ingress', 'ingress', '10.255.0.0/16', [{ nodeId: 'n1', subnet: '10.255.1.0/24' }, { nodeId: 'n2', subnet: '10.255.2.0/24' }], {
  ingress: true,
  vni: 0x100001,
});
const BACK = net('net-back', 'back', '10.0.0.0/16', [
  { nodeId: 'n2', subnet: '10.0.2.0/24' },
  { nodeId: 'n1', subnet: '10.0.1.0/24' },
]);
const FRONT = net('net-front', 'front', '10.1.0.0/16', [{ nodeId: 'n2', subnet: '10.1.2.0/24' }]);

function node(id: string, overrides: DeepPartial<Node> = {}): Node {
  return makeNode({ id, description: { network: { underlay: `192.168.0.${id.slice(1)}`, mtu: 1500, encryption: 'none' } }, ...overrides });
}

/** A running, healthy-by-default task of `svc` on `nodeId` with an address on each network. */
function serving(id: string, svc: string, nodeId: string, addrs: Array<[string, string]>, overrides: DeepPartial<Task> = {}): Task {
  return makeTask({
    id,
    serviceId: svc,
    nodeId,
    networks: addrs.map(([networkId]) => ({ networkId, name: networkId.slice(4), aliases: [] })),
    status: { state: 'running', networks: addrs.map(([networkId, addr]) => ({ networkId, addr })) },
    ...overrides,
  });
}

function snapshot(parts: { networks?: Network[]; services?: Service[]; tasks?: Task[]; nodes?: Node[] }): NetworkMapSnapshot {
  const nodes = new Map((parts.nodes ?? [node('n1'), node('n2'), node('n3')]).map((n) => [n.id, n]));
  const tasks = parts.tasks ?? [];
  return {
    networks: parts.networks ?? [INGRESS, BACK, FRONT],
    services: parts.services ?? [],
    tasksOf: (id) => tasks.filter((t) => t.serviceId === id),
    node: (id) => nodes.get(id),
  };
}

const api = makeService({
  id: 'svc-api',
  spec: { name: 'api', taskTemplate: { networks: [{ target: 'back', aliases: ['db-api'] }] } },
  endpointStatus: { specVersion: 1, virtualIps: [{ networkId: 'net-back', addr: '10.0.0.2/16' }] },
});

void describe('network map', () => {
  void it('serving endpoints: running, wanted running, healthy or unchecked, node ready, with an address', () => {
    const n1 = node('n1');
    const ok = serving('t', 'svc-api', 'n1', [['net-back', '10.0.1.2/16']]);
    assert.equal(isServingEndpoint(ok, n1), true);
    assert.equal(isServingEndpoint({ ...ok, status: { ...ok.status, health: 'healthy' } }, n1), true);
    assert.equal(isServingEndpoint({ ...ok, status: { ...ok.status, health: 'starting' } }, n1), false, 'health check not passed yet');
    assert.equal(isServingEndpoint({ ...ok, status: { ...ok.status, health: 'unhealthy' } }, n1), false, 'unhealthy');
    assert.equal(isServingEndpoint({ ...ok, status: { ...ok.status, state: 'starting' } }, n1), false, 'starting');
    assert.equal(isServingEndpoint({ ...ok, status: { ...ok.status, state: 'complete' } }, n1), false, 'exited');
    assert.equal(isServingEndpoint({ ...ok, desiredState: 'shutdown' }, n1), false, 'being stopped');
    assert.equal(isServingEndpoint({ ...ok, desiredState: 'remove' }, n1), false, 'being removed');
    assert.equal(isServingEndpoint({ ...ok, status: { ...ok.status, networks: [] } }, n1), false, 'no address');
    const { networks: _, ...noNetworks } = ok.status;
    assert.equal(isServingEndpoint({ ...ok, status: noNetworks }, n1), false, 'not attached');
    assert.equal(isServingEndpoint(ok, node('n1', { status: { state: 'down' } })), false, 'node down');
    assert.equal(isServingEndpoint(ok, node('n1', { status: { state: 'unknown' } })), false, 'node unknown');
    assert.equal(isServingEndpoint(ok, undefined), false, 'node gone');
    assert.equal(isServingEndpoint(ok, node('n2')), false, 'another node');
  });

  void it('holds the networks the node has a slice of, plus ingress, with every slice and its underlay', () => {
    const nodes = [node('n1'), makeNode({ id: 'n2' })]; // n2 describes no underlay
    const m = networkMapFor('n1', snapshot({ nodes }), 7);
    assert.equal(m.revision, 7);
    assert.deepEqual(m.networks.map((n) => n.id), ['net-back', 'net-ingress'], 'sorted by id; not front');
    assert.deepEqual(m.networks[0], {
      id: 'net-back',
      name: 'back',
      subnet: '10.0.0.0/16',
      vni: 0x100000,
      internal: false,
      encrypted: false,
      ingress: false,
      slices: [
        { nodeId: 'n1', subnet: '10.0.1.0/24', underlay: '192.168.0.1' },
        { nodeId: 'n2', subnet: '10.0.2.0/24' },
      ],
    });
  });

  void it('carries only addresses an agent could own: on the task\'s networks, IPv4 with the prefix, inside its node\'s slice; only IPv4 underlays', () => {
    const tasks = [
      serving('ok', 'svc-api', 'n1', [['net-back', '10.0.1.2/16']]),
      serving('other-slice', 'svc-api', 'n1', [['net-back', '10.0.2.9/16']]),
      serving('bad-prefix', 'svc-api', 'n1', [['net-back', '10.0.1.3/24']]),
      serving('garbage', 'svc-api', 'n1', [['net-back', '10.0.1.4/16\n-A FORWARD -j ACCEPT']]),
      serving('not-allocated', 'svc-api', 'n1', [['net-back', '10.0.1.5/16']], { networks: [] }),
    ];
    const nodes = [node('n1'), node('n2', { description: { network: { underlay: '1.2.3.4 -j ACCEPT' } } })];
    const m = networkMapFor('n1', snapshot({ services: [api], tasks, nodes }), 3);
    assert.deepEqual(m.services[0]?.endpoints.map((e) => e.taskId), ['ok']);
    const back = m.networks.find((n) => n.id === 'net-back');
    assert.deepEqual(back?.slices.find((x) => x.nodeId === 'n2'), { nodeId: 'n2', subnet: '10.0.2.0/24' }, 'a bad underlay is left out');
  });

  void it('gives a node without any slice the ingress network', () => {
    const m = networkMapFor('n3', snapshot({}), 1);
    assert.deepEqual(m.networks.map((n) => n.name), ['ingress']);
    assert.deepEqual(m.services, []);
  });

  void it('lists a service on a network of the node, with its aliases, VIPs and serving endpoints only', () => {
    const tasks = [
      serving('t2', 'svc-api', 'n2', [['net-back', '10.0.2.2/16']], { slot: 2 }),
      serving('t1', 'svc-api', 'n1', [['net-back', '10.0.1.2/16']], { slot: 1 }),
      serving('t3', 'svc-api', 'n1', [['net-back', '10.0.1.3/16']], { slot: 3, status: { health: 'unhealthy' } }),
      serving('t4', 'svc-api', 'n1', [['net-back', '10.0.1.4/16']], { slot: 4, desiredState: 'shutdown' }),
      serving('t5', 'svc-api', 'n3', [['net-back', '10.0.3.2/16']], { slot: 5 }),
      serving('t6', 'svc-api', 'n1', [['net-back', '10.0.1.5/16']], { slot: 6, status: { state: 'starting' } }),
    ];
    const nodes = [node('n1'), node('n2'), node('n3', { status: { state: 'down' } })];
    const m = networkMapFor('n1', snapshot({ services: [api], tasks, nodes }), 3);
    assert.deepEqual(m.services, [
      {
        id: 'svc-api',
        name: 'api',
        mode: 'vip',
        networks: [{ networkId: 'net-back', name: 'back', aliases: ['db-api'] }],
        virtualIps: [{ networkId: 'net-back', addr: '10.0.0.2/16' }],
        ingressPorts: [],
        endpoints: [
          { taskId: 't1', nodeId: 'n1', slot: 1, addresses: [{ networkId: 'net-back', addr: '10.0.1.2/16' }] },
          { taskId: 't2', nodeId: 'n2', slot: 2, addresses: [{ networkId: 'net-back', addr: '10.0.2.2/16' }] },
        ],
      },
    ]);
  });

  void it('leaves out a service on a network the node lacks, unless it publishes an ingress port', () => {
    const front = makeService({ id: 'svc-front', spec: { name: 'front', taskTemplate: { networks: [{ target: 'net-front', aliases: [] }] } } });
    const mesh = makeService({
      id: 'svc-mesh',
      spec: {
        name: 'mesh',
        taskTemplate: { networks: [{ target: 'front', aliases: [] }] },
        endpoint: {
          ports: [
            { target: 80, published: 8080, protocol: 'tcp', mode: 'ingress' },
            { target: 81, published: 8081, protocol: 'tcp', mode: 'host' },
            { target: 53, published: 5353, protocol: 'udp', mode: 'ingress' },
          ],
        },
      },
      endpointStatus: {
        specVersion: 1,
        virtualIps: [
          { networkId: 'net-ingress', addr: '10.255.0.2/16' },
          { networkId: 'net-front', addr: '10.1.0.2/16' },
        ],
      },
    });
    const tasks = [serving('m1', 'svc-mesh', 'n2', [['net-front', '10.1.2.2/16'], ['net-ingress', '10.255.2.2/16']])];
    const snap = snapshot({ services: [mesh, front], tasks });
    const m1 = networkMapFor('n1', snap, 1);
    assert.deepEqual(m1.services, [
      {
        id: 'svc-mesh',
        name: 'mesh',
        mode: 'vip',
        networks: [{ networkId: 'net-ingress', name: 'ingress', aliases: [] }],
        virtualIps: [{ networkId: 'net-ingress', addr: '10.255.0.2/16' }],
        ingressPorts: [
          { published: 5353, target: 53, protocol: 'udp' },
          { published: 8080, target: 80, protocol: 'tcp' },
        ],
        endpoints: [{ taskId: 'm1', nodeId: 'n2', slot: 1, addresses: [{ networkId: 'net-ingress', addr: '10.255.2.2/16' }] }],
      },
    ]);
    const m2 = networkMapFor('n2', snap, 1);
    assert.deepEqual(m2.services.map((s) => s.id), ['svc-front', 'svc-mesh']);
    assert.deepEqual(m2.services[1]?.networks.map((n) => n.name), ['front', 'ingress'], 'on front, and on ingress for its ports');
    assert.deepEqual(m2.services[0]?.endpoints, [], 'no task yet: known, with no endpoint');
  });

  void it("adds the networks of a serving task the spec no longer names, with the task's aliases", () => {
    const moved = makeService({ id: 'svc-api', spec: { name: 'api', taskTemplate: { networks: [{ target: 'front', aliases: [] }] } } });
    const old = serving('t1', 'svc-api', 'n2', [['net-back', '10.0.2.2/16']], { networks: [{ networkId: 'net-back', name: 'back', aliases: ['old'] }] });
    const m = networkMapFor('n1', snapshot({ services: [moved], tasks: [old] }), 1);
    assert.deepEqual(m.services[0]?.networks, [{ networkId: 'net-back', name: 'back', aliases: ['old'] }]);
    assert.equal(networkMapFor('n1', snapshot({ services: [moved] }), 1).services.length, 0, 'once it stops, the service is off back');
  });

  void it('leaves out a service on no network at all, and names that resolve to nothing', () => {
    const plain = makeService({ id: 'svc-plain' });
    const lost = makeService({ id: 'svc-lost', spec: { name: 'lost', taskTemplate: { networks: [{ target: 'gone', aliases: [] }] } } });
    assert.deepEqual(networkMapFor('n1', snapshot({ services: [plain, lost] }), 1).services, []);
  });

  void it('is deterministic: equal state, equal maps, whatever the input order', () => {
    const tasks = [serving('a', 'svc-api', 'n1', [['net-back', '10.0.1.2/16']]), serving('b', 'svc-api', 'n2', [['net-back', '10.0.2.2/16']])];
    const m1 = networkMapFor('n1', snapshot({ services: [api], tasks }), 1);
    const m2 = networkMapFor('n1', snapshot({ services: [api], tasks: [...tasks].reverse(), networks: [FRONT, BACK, INGRESS] }), 2);
    assert.deepEqual({ ...m1, revision: 0 }, { ...m2, revision: 0 });
    assert.equal(mapFingerprint(m1), mapFingerprint(m2), 'the fingerprint leaves out the revision');
    const m3 = networkMapFor('n1', snapshot({ services: [api], tasks: tasks.slice(1) }), 3);
    assert.notEqual(mapFingerprint(m1), mapFingerprint(m3));
  });

  void it('computes several nodes at once, sharing unchanged parts', () => {
    const tasks = [serving('a', 'svc-api', 'n1', [['net-back', '10.0.1.2/16']])];
    const maps = networkMapsFor(['n1', 'n2', 'n3'], snapshot({ services: [api], tasks }), 4);
    assert.equal(maps.get('n1')?.services[0], maps.get('n2')?.services[0], 'the same part object');
    assert.deepEqual(maps.get('n3')?.services, []);
    assert.deepEqual(maps.get('n1'), networkMapFor('n1', snapshot({ services: [api], tasks }), 4));
  });

  void it('encodes the message as encodeMessage does, sharing the text of equal lists', () => {
    const tasks = [serving('a', 'svc-api', 'n1', [['net-back', '10.0.1.2/16']])];
    const nodes = [node('n1'), node('n2'), node('n3')];
    const withN3 = BACK.slices.concat({ nodeId: 'n3', subnet: '10.0.3.0/24' });
    const maps = networkMapsFor(['n1', 'n2', 'n3'], snapshot({ services: [api], tasks, nodes, networks: [INGRESS, { ...BACK, slices: withN3 }, FRONT] }), 9);
    assert.equal(maps.get('n1')?.services, maps.get('n3')?.services, 'n1 and n3 hold the same networks: one list');
    for (const m of maps.values()) {
      const text = encodeNetworkMapMessage(m);
      assert.equal(text, encodeMessage({ type: 'network-map', map: m }));
      assert.deepEqual(parseManagerMessage(text), { ok: true, message: { type: 'network-map', map: m } });
    }
  });

  void it('watch filter: tasks matter only as endpoint material', () => {
    const pending = makeTask({ id: 't', serviceId: 'svc-api', nodeId: 'n1' });
    const running = serving('t', 'svc-api', 'n1', [['net-back', '10.0.1.2/16']]);
    assert.equal(taskAffectsMaps(undefined, pending), false, 'a new pending task');
    assert.equal(taskAffectsMaps(pending, { ...pending, status: { ...pending.status, state: 'assigned' } }), false);
    assert.equal(taskAffectsMaps(pending, running), true, 'becomes an endpoint');
    assert.equal(taskAffectsMaps(running, { ...running, status: { ...running.status, message: 'still running' } }), false);
    assert.equal(taskAffectsMaps(running, { ...running, status: { ...running.status, health: 'unhealthy' } }), true);
    assert.equal(taskAffectsMaps(running, { ...running, desiredState: 'shutdown' }), true);
    assert.equal(taskAffectsMaps(running, { ...running, status: { ...running.status, networks: [{ networkId: 'net-back', addr: '10.0.1.9/16' }] } }), true);
    assert.equal(taskAffectsMaps(running, undefined), true, 'deleted');
  });

  void it('watch filter: services by endpoint, networks, VIPs; nodes by state and underlay', () => {
    assert.equal(serviceAffectsMaps(api, { ...api, updateStatus: { state: 'updating', startedAt: T0, message: '' } }), false);
    assert.equal(serviceAffectsMaps(api, { ...api, endpointStatus: { specVersion: 2, virtualIps: [] } }), true);
    assert.equal(serviceAffectsMaps(api, { ...api, spec: { ...api.spec, endpoint: { mode: 'dnsrr', ports: [] } } }), true);
    assert.equal(serviceAffectsMaps(undefined, api), true);
    const n = node('n1');
    assert.equal(nodeAffectsMaps(n, { ...n, status: { ...n.status, heartbeatAt: T0 } }), false);
    assert.equal(nodeAffectsMaps(n, { ...n, status: { ...n.status, state: 'down' } }), true);
    assert.equal(nodeAffectsMaps(n, node('n1', { description: { network: { underlay: '192.168.9.9' } } })), true);
  });
});

describe('plain containers on attachable networks', () => {
  const SHARED = net('net-shared', 'shared', '10.5.0.0/16', [{ nodeId: 'n1', subnet: '10.5.1.0/24' }, { nodeId: 'n2', subnet: '10.5.2.0/24' }], {
    spec: { name: 'shared', labels: {}, driver: 'overlay', internal: false, attachable: true, encrypted: false },
  });
  const c = (networkId: string, name: string, addr: string, containerId = `id-${name}`): NonNullable<Node['status']['containers']>[number] => ({
    networkId,
    containerId,
    name,
    aliases: [],
    addr,
  });

  it('carries the containers ready nodes report, only inside their own slice’s container range, on attachable networks only', () => {
    const n1 = node('n1', {
      status: {
        containers: [
          c('net-shared', 'debug', '10.5.1.194/16'),
          c('net-shared', 'task-range', '10.5.1.7/16'), // a task's part of the slice
          c('net-shared', 'foreign', '10.5.2.200/16'), // n2's slice
          c('net-shared', 'bad-prefix', '10.5.1.195/24'),
          c('net-back', 'not-attachable', '10.0.1.200/16'),
        ],
      },
    });
    const n2 = node('n2', { status: { containers: [c('net-shared', 'alpha', '10.5.2.192/16')] } });
    const map = networkMapFor('n1', snapshot({ networks: [INGRESS, BACK, SHARED], nodes: [n1, n2, node('n3')] }), 9);
    const shared = map.networks.find((n) => n.id === 'net-shared');
    assert.equal(shared?.attachable, true);
    assert.deepEqual(shared?.containers, [
      { nodeId: 'n1', containerId: 'id-debug', name: 'debug', aliases: [], addr: '10.5.1.194/16' },
      { nodeId: 'n2', containerId: 'id-alpha', name: 'alpha', aliases: [], addr: '10.5.2.192/16' },
    ]);
    const back = map.networks.find((n) => n.id === 'net-back');
    assert.equal(back?.attachable, undefined);
    assert.equal(back?.containers, undefined);
    assert.equal(parseManagerMessage(encodeNetworkMapMessage(map)).ok, true);
  });

  it('leaves out the containers of a node that is down, and a report change is a map change', () => {
    const up = node('n2', { status: { containers: [c('net-shared', 'alpha', '10.5.2.192/16')] } });
    const down = node('n2', { status: { state: 'down', containers: [c('net-shared', 'alpha', '10.5.2.192/16')] } });
    const map = networkMapFor('n1', snapshot({ networks: [SHARED], nodes: [node('n1'), down] }), 1);
    assert.equal(map.networks[0]?.containers, undefined);
    assert.equal(nodeAffectsMaps(node('n2'), up), true);
    assert.equal(nodeAffectsMaps(up, node('n2', { status: { containers: [c('net-shared', 'alpha', '10.5.2.192/16')] } })), false);
  });
});
