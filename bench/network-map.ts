/**
 * Network map benchmark (the pure core of the dispatcher's map push): S services spread over K
 * networks (every tenth publishes an ingress port), R serving tasks each; node i runs tasks
 * of networks i mod K and i+1 mod K, so it holds those two slices and ingress. A push tick in
 * which nothing changed = every node's map from one snapshot plus its fingerprint (`tickMs`);
 * when every map changed, encoding them all is added (`encodeAllMs`). Medians of the runs,
 * in CPU time of this process (what the push costs the manager's event loop; steadier than
 * wall time on a shared machine). The last line is one JSON object:
 * {"nodes","networks","services","tasks","tickMs","encodeAllMs","mapBytes"} (`mapBytes`: the
 * largest node's map as JSON).
 *
 *   node bench/network-map.ts [--nodes 100] [--networks 20] [--services 1000] [--replicas 3] [--runs 15]
 */
import { parseArgs } from 'node:util';
import type { Network } from '../src/api/network.ts';
import type { Task } from '../src/api/task.ts';
import { encodeNetworkMapMessage, mapFingerprint, networkMapsFor, type NetworkMapSnapshot } from '../src/manager/dispatcher/network-map.ts';
import { makeNode, makeService, makeTask } from '../src/testing/fixtures.ts';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '100' },
    networks: { type: 'string', default: '20' },
    services: { type: 'string', default: '1000' },
    replicas: { type: 'string', default: '3' },
    runs: { type: 'string', default: '15' },
  },
});
const NODES = Number(args.nodes);
const NETWORKS = Number(args.networks);
const SERVICES = Number(args.services);
const REPLICAS = Number(args.replicas);
const RUNS = Number(args.runs);

const T0 = '2026-01-01T00:00:00.000Z';
const nodeIds = Array.from({ length: NODES }, (_, i) => `node-${String(i).padStart(4, '0')}`);
const nodes = new Map(nodeIds.map((id, i) => [id, makeNode({ id, description: { network: { underlay: `192.168.${i >> 8}.${i & 255}`, mtu: 1500, encryption: 'none' } } })]));
const slices = new Map<string, Set<string>>();
const networks: Network[] = Array.from({ length: NETWORKS + 1 }, (_, i) => ({
  id: i === NETWORKS ? 'net-ingress' : `net-${i}`,
  version: 1,
  createdAt: T0,
  updatedAt: T0,
  spec: { name: i === NETWORKS ? 'ingress' : `n${i}`, labels: {}, driver: 'overlay', internal: false, attachable: false, encrypted: false },
  subnet: `10.${i}.0.0/16`,
  vni: 0x100000 + i,
  ingress: i === NETWORKS,
  slices: [],
}));
const tasksBySvc = new Map<string, Task[]>();
const services = Array.from({ length: SERVICES }, (_, s) => {
  const net = networks[s % NETWORKS]!;
  const ingress = s % 10 === 0;
  const svc = makeService({
    id: `svc-${s}`,
    spec: {
      name: `s${s}`,
      taskTemplate: { networks: [{ target: net.id, aliases: [] }] },
      endpoint: { ports: ingress ? [{ target: 80, published: 30000 + s, protocol: 'tcp', mode: 'ingress' }] : [] },
    },
    endpointStatus: { specVersion: 1, virtualIps: [{ networkId: net.id, addr: `10.${s % NETWORKS}.0.${(s % 250) + 1}/16` }] },
  });
  const tasks: Task[] = [];
  for (let r = 0; r < REPLICAS; r++) {
    // Nodes of network k: those with index ≡ k or k−1 (mod K).
    const k = s % NETWORKS;
    const group = nodeIds.filter((_, i) => i % NETWORKS === k || (i + 1) % NETWORKS === k);
    const nodeId = group[(Math.floor(s / NETWORKS) * REPLICAS + r) % group.length]!;
    let held = slices.get(net.id);
    if (!held) slices.set(net.id, (held = new Set()));
    held.add(nodeId);
    const addrs = [{ networkId: net.id, addr: `10.${s % NETWORKS}.1.${r + 2}/16` }, ...(ingress ? [{ networkId: 'net-ingress', addr: `10.255.1.${r + 2}/16` }] : [])];
    tasks.push(
      makeTask({
        id: `t-${s}-${r}`,
        serviceId: svc.id,
        nodeId,
        slot: r + 1,
        networks: addrs.map((a) => ({ networkId: a.networkId, name: a.networkId, aliases: [] })),
        status: { state: 'running', networks: addrs },
      }),
    );
  }
  tasksBySvc.set(svc.id, tasks);
  return svc;
});
for (const n of networks) {
  const held = n.ingress ? new Set(nodeIds) : (slices.get(n.id) ?? new Set<string>());
  n.slices = [...held].map((nodeId, i) => ({ nodeId, subnet: `${n.subnet.split('.').slice(0, 2).join('.')}.${i + 1}.0/24` }));
}

const snapshot: NetworkMapSnapshot = {
  networks,
  services,
  tasksOf: (id) => tasksBySvc.get(id) ?? [],
  node: (id) => nodes.get(id),
};

const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const ticks: number[] = [];
const encodes: number[] = [];
let mapBytes = 0;
for (let run = 0; run < RUNS; run++) {
  const t0 = cpu();
  const maps = networkMapsFor(nodeIds, snapshot, run);
  for (const m of maps.values()) mapFingerprint(m);
  const t1 = cpu();
  for (const m of maps.values()) mapBytes = Math.max(mapBytes, encodeNetworkMapMessage(m).length);
  ticks.push(t1 - t0);
  encodes.push(cpu() - t1);
}
const median = (xs: number[]): number => Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! * 10) / 10;
console.log(
  JSON.stringify({ nodes: NODES, networks: NETWORKS, services: SERVICES, tasks: SERVICES * REPLICAS, tickMs: median(ticks), encodeAllMs: median(encodes), mapBytes }),
);
