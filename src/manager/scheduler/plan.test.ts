import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Node } from '../../api/node.ts';
import type { Task } from '../../api/task.ts';
import { CPU, GIB, MIB, makeNode, makeTask, type DeepPartial } from '../../testing/fixtures.ts';
import { plan } from './plan.ts';

function nodes(n: number, overrides: DeepPartial<Node> = {}): Node[] {
  return Array.from({ length: n }, (_, i) =>
    makeNode({ ...overrides, id: `node-${String(i).padStart(3, '0')}`, description: { ...overrides.description, hostname: `h${i}` } }),
  );
}

function tasks(n: number, overrides: DeepPartial<Task> = {}): Task[] {
  return Array.from({ length: n }, (_, i) => makeTask({ ...overrides, id: `${overrides.serviceId ?? 't'}-${i}`, slot: i + 1 }));
}

function running(nodeId: string, overrides: DeepPartial<Task> = {}): Task {
  return makeTask({ ...overrides, nodeId, status: { state: 'running' } });
}

function countBy(assignments: ReadonlyArray<{ nodeId: string }>): Map<string, number> {
  const m = new Map<string, number>();
  for (const a of assignments) m.set(a.nodeId, (m.get(a.nodeId) ?? 0) + 1);
  return m;
}

void describe('plan', () => {
  void it('spreads a service evenly over identical nodes', () => {
    const r = plan({ nodes: nodes(3), tasks: [] }, tasks(7));
    assert.equal(r.assignments.length, 7);
    assert.deepEqual([...countBy(r.assignments).values()].sort(), [2, 2, 3]);
    assert.equal(r.unschedulable.length, 0);
  });

  void it('prefers nodes without the service, then the least loaded', () => {
    const ns = nodes(3);
    const existing = [
      running('node-000', { serviceId: 'svc-web' }),
      running('node-001', { serviceId: 'other' }),
      running('node-001', { serviceId: 'other' }),
      running('node-002', { serviceId: 'other' }),
    ];
    const r = plan({ nodes: ns, tasks: existing }, tasks(2, { serviceId: 'svc-web' }));
    // node-000 already runs one of web; node-002 (1 task) is less loaded than node-001 (2).
    assert.deepEqual(
      r.assignments.map((a) => a.nodeId),
      ['node-002', 'node-001'],
    );
  });

  void it('is deterministic whatever the order of nodes in the snapshot', () => {
    const ns = nodes(5);
    const ts = tasks(12);
    const a = plan({ nodes: ns, tasks: [] }, ts);
    const b = plan({ nodes: [...ns].reverse(), tasks: [] }, ts);
    assert.deepEqual(a, b);
  });

  void it('skips nodes that are not ready, paused or drained, or lack the driver', () => {
    const ns = [
      makeNode({ id: 'a', status: { state: 'down' } }),
      makeNode({ id: 'b', spec: { availability: 'drain' } }),
      makeNode({ id: 'c', spec: { availability: 'pause' } }),
      makeNode({ id: 'd', description: { drivers: ['exec'] } }),
      makeNode({ id: 'e' }),
    ];
    const r = plan({ nodes: ns, tasks: [] }, tasks(3));
    assert.deepEqual(new Set(r.assignments.map((a) => a.nodeId)), new Set(['e']));
  });

  void it('respects resources and explains when they run out', () => {
    const ns = [
      makeNode({ id: 'a', description: { resources: { nanoCpus: 4 * CPU, memoryBytes: 8 * GIB } } }),
      makeNode({ id: 'b', description: { resources: { nanoCpus: 1 * CPU, memoryBytes: 8 * GIB } } }),
      makeNode({ id: 'c', status: { state: 'down' } }),
    ];
    const existing = [running('a', { spec: { resources: { reservations: { nanoCpus: 1 * CPU } } } })];
    const r = plan(
      { nodes: ns, tasks: existing },
      tasks(3, { spec: { resources: { reservations: { nanoCpus: 2 * CPU, memoryBytes: 512 * MIB } } } }),
    );
    assert.deepEqual(r.assignments.map((a) => a.nodeId), ['a']);
    assert.equal(r.unschedulable.length, 2);
    assert.equal(r.unschedulable[0]?.reason, 'no suitable node (2 nodes lack 2 CPUs; 1 node not ready)');
  });

  void it('does not count tasks that no longer hold their node', () => {
    const ns = [makeNode({ id: 'a', description: { resources: { nanoCpus: 2 * CPU } } })];
    const big = { spec: { resources: { reservations: { nanoCpus: 2 * CPU } } } };
    const existing = [
      makeTask({ ...big, nodeId: 'a', status: { state: 'failed' } }),
      makeTask({ ...big, nodeId: 'a', desiredState: 'shutdown', status: { state: 'running' } }),
      makeTask({ ...big, nodeId: 'a', status: { state: 'pending' } }),
    ];
    const r = plan({ nodes: ns, tasks: existing }, tasks(1, big));
    assert.equal(r.assignments.length, 1);
  });

  void it('explains memory shortage', () => {
    const ns = [makeNode({ id: 'a', description: { resources: { memoryBytes: 1 * GIB } } })];
    const r = plan({ nodes: ns, tasks: [] }, tasks(1, { spec: { resources: { reservations: { memoryBytes: 1.5 * GIB } } } }));
    assert.equal(r.unschedulable[0]?.reason, 'no suitable node (1 node lacks 1.5 GiB of memory)');
  });

  void it('applies constraints and names the failing one', () => {
    const ns = [
      makeNode({ id: 'a', spec: { labels: { zone: 'east' } } }),
      makeNode({ id: 'b', spec: { labels: { zone: 'west' } } }),
      makeNode({ id: 'c', spec: { labels: {} } }),
    ];
    const east = plan({ nodes: ns, tasks: [] }, tasks(4, { spec: { placement: { constraints: ['node.labels.zone==east'] } } }));
    assert.deepEqual(new Set(east.assignments.map((a) => a.nodeId)), new Set(['a']));
    const north = plan({ nodes: ns, tasks: [] }, tasks(1, { spec: { placement: { constraints: ['node.labels.zone == north'] } } }));
    assert.equal(north.unschedulable[0]?.reason, 'no suitable node (3 nodes fail constraint node.labels.zone == north)');
    const notEast = plan({ nodes: ns, tasks: [] }, tasks(4, { spec: { placement: { constraints: ['node.labels.zone!=east'] } } }));
    assert.deepEqual(new Set(notEast.assignments.map((a) => a.nodeId)), new Set(['b', 'c']));
  });

  void it('reports an unparsable constraint instead of throwing', () => {
    const r = plan({ nodes: nodes(1), tasks: [] }, tasks(1, { spec: { placement: { constraints: ['zone=east'] } } }));
    assert.match(r.unschedulable[0]?.reason ?? '', /^invalid placement: malformed constraint/);
  });

  void it('caps replicas per node', () => {
    const r = plan({ nodes: nodes(2), tasks: [] }, tasks(5, { spec: { placement: { maxReplicasPerNode: 2 } } }));
    assert.equal(r.assignments.length, 4);
    assert.deepEqual([...countBy(r.assignments).values()], [2, 2]);
    assert.equal(r.unschedulable[0]?.reason, 'no suitable node (2 nodes already run the max of 2 per node)');
  });

  void it('binds a host port once per node and protocol', () => {
    const port = { target: 80, published: 8080, protocol: 'tcp' as const, mode: 'host' as const };
    const ns = nodes(3);
    const existing = [running('node-000', { serviceId: 'other', ports: [port] })];
    const r = plan({ nodes: ns, tasks: existing }, tasks(3, { ports: [port] }));
    assert.deepEqual(new Set(r.assignments.map((a) => a.nodeId)), new Set(['node-001', 'node-002']));
    assert.equal(r.unschedulable[0]?.reason, 'no suitable node (3 nodes have port 8080/tcp in use)');
    const udp = plan({ nodes: ns.slice(0, 1), tasks: existing }, tasks(1, { ports: [{ ...port, protocol: 'udp' }] }));
    assert.equal(udp.assignments[0]?.nodeId, 'node-000');
  });

  void it('places a global task on its own node only, and says why not', () => {
    const ns = [makeNode({ id: 'a', description: { hostname: 'alpha' } }), makeNode({ id: 'b', status: { state: 'down' }, description: { hostname: 'beta' } })];
    const r = plan({ nodes: ns, tasks: [] }, [
      makeTask({ id: 'ga', nodeId: 'a' }),
      makeTask({ id: 'gb', nodeId: 'b' }),
      makeTask({ id: 'gz', nodeId: 'zzz' }),
    ]);
    assert.deepEqual(r.assignments, [{ taskId: 'ga', nodeId: 'a' }]);
    assert.deepEqual(r.unschedulable, [
      { taskId: 'gb', reason: 'cannot run on node beta: node not ready', cause: 'node_unsuitable' },
      { taskId: 'gz', reason: 'cannot run on node zzz: node not found', cause: 'node_not_found' },
    ]);
  });

  void it('ignores tasks that are not pending and desired running', () => {
    const r = plan({ nodes: nodes(1), tasks: [] }, [
      makeTask({ status: { state: 'new' } }),
      makeTask({ desiredState: 'shutdown' }),
    ]);
    assert.deepEqual(r, { assignments: [], unschedulable: [] });
  });

  void it('says so when there are no nodes', () => {
    const r = plan({ nodes: [], tasks: [] }, tasks(1));
    assert.equal(r.unschedulable[0]?.reason, 'no suitable node (no nodes in the cluster)');
  });

  void it('sees earlier groups in the same plan', () => {
    const ns = [makeNode({ id: 'a', description: { resources: { nanoCpus: 2 * CPU } } })];
    const big = { spec: { resources: { reservations: { nanoCpus: 2 * CPU } } } };
    const r = plan({ nodes: ns, tasks: [] }, [...tasks(1, { ...big, serviceId: 'x' }), ...tasks(1, { ...big, serviceId: 'y' })]);
    assert.equal(r.assignments.length, 1);
    assert.equal(r.unschedulable.length, 1);
  });
});
