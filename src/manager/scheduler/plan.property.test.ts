import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { matchConstraint, parseConstraint, type Constraint } from '../../api/constraints.ts';
import type { Node } from '../../api/node.ts';
import type { PortConfig } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { CPU, GIB, makeNode, makeTask } from '../../testing/fixtures.ts';
import { holdsNode, hostPortKeys } from './node-info.ts';
import { plan } from './plan.ts';

/*
 * Invariants of the planner checked against a naive model of the cluster after the plan:
 * nodes never over-committed, every filter holds for every assignment, and a task is left
 * unschedulable only when no node could take it.
 */

const ZONES = ['a', 'b', 'c'];
const CONSTRAINTS = ['node.labels.zone==a', 'node.labels.zone!=b', 'node.labels.disk==ssd', 'node.role==worker'];
const PORT: PortConfig = { target: 80, published: 8080, protocol: 'tcp', mode: 'host' };

const nodeArb = fc.record({
  ready: fc.constantFrom(true, true, true, false),
  availability: fc.constantFrom('active', 'active', 'active', 'pause', 'drain'),
  zone: fc.option(fc.constantFrom(...ZONES), { nil: undefined }),
  ssd: fc.boolean(),
  role: fc.constantFrom('worker', 'manager'),
  drivers: fc.subarray(['docker', 'exec'], { minLength: 0 }),
  cpus: fc.integer({ min: 1, max: 8 }),
  gib: fc.integer({ min: 1, max: 16 }),
});

const groupArb = fc.record({
  count: fc.integer({ min: 1, max: 25 }),
  driver: fc.constantFrom('docker', 'docker', 'exec'),
  halfCpus: fc.integer({ min: 0, max: 6 }),
  gib: fc.constantFrom(0, 0, 1, 2, 4),
  constraints: fc.subarray(CONSTRAINTS, { maxLength: 2 }),
  maxPerNode: fc.constantFrom(0, 0, 1, 2, 3),
  hostPort: fc.constantFrom(false, false, false, true),
  pinned: fc.constantFrom(false, false, false, true),
});

const scenarioArb = fc.record({
  nodes: fc.array(nodeArb, { minLength: 0, maxLength: 12 }),
  groups: fc.array(groupArb, { minLength: 1, maxLength: 5 }),
  existing: fc.array(
    fc.record({ node: fc.nat(), group: fc.nat(), state: fc.constantFrom('assigned', 'running', 'failed', 'pending') }),
    { maxLength: 20 },
  ),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

function build(s: Scenario): { nodes: Node[]; existing: Task[]; pending: Task[] } {
  const nodes = s.nodes.map((n, i) =>
    makeNode({
      id: `n${String(i).padStart(2, '0')}`,
      spec: {
        role: n.role,
        availability: n.availability,
        labels: { ...(n.zone ? { zone: n.zone } : {}), disk: n.ssd ? 'ssd' : 'hdd' },
      },
      description: { drivers: n.drivers, resources: { nanoCpus: n.cpus * CPU, memoryBytes: n.gib * GIB } },
      status: { state: n.ready ? 'ready' : 'down' },
    }),
  );
  const taskOf = (g: number, extra: Parameters<typeof makeTask>[0]): Task => {
    const grp = s.groups[g] as Scenario['groups'][number];
    return makeTask({
      serviceId: `s${g}`,
      ports: grp.hostPort ? [PORT] : [],
      spec: {
        driver: grp.driver,
        resources: { reservations: { nanoCpus: (grp.halfCpus * CPU) / 2, memoryBytes: grp.gib * GIB } },
        placement: { constraints: grp.constraints, maxReplicasPerNode: grp.maxPerNode },
      },
      ...extra,
    });
  };
  const existing = nodes.length === 0 ? [] : s.existing.map((e, k) =>
    taskOf(e.group % s.groups.length, {
      id: `e${k}`,
      nodeId: (nodes[e.node % nodes.length] as Node).id,
      status: { state: e.state },
    }),
  );
  const pending: Task[] = [];
  s.groups.forEach((g, gi) => {
    for (let k = 0; k < g.count; k++) {
      const pin = g.pinned && nodes.length > 0 ? { nodeId: (nodes[k % nodes.length] as Node).id } : {};
      pending.push(taskOf(gi, { id: `p${gi}-${k}`, slot: k + 1, ...pin }));
    }
  });
  return { nodes, existing, pending };
}

/** Naive check: could node `n` take one more task `t`, given the tasks holding nodes now? */
function fits(n: Node, t: Task, holding: readonly Task[], pinned: boolean): boolean {
  if (n.status.state !== 'ready' || n.spec.availability !== 'active') return false;
  if (!n.description.drivers.includes(t.spec.driver)) return false;
  const cs = t.spec.placement.constraints.map((c) => parseConstraint(c) as Constraint);
  if (!cs.every((c) => matchConstraint(n, c))) return false;
  const on = holding.filter((h) => h.nodeId === n.id);
  const r = t.spec.resources.reservations;
  const cpu = on.reduce((a, h) => a + h.spec.resources.reservations.nanoCpus, 0);
  const mem = on.reduce((a, h) => a + h.spec.resources.reservations.memoryBytes, 0);
  if (r.nanoCpus > 0 && cpu + r.nanoCpus > n.description.resources.nanoCpus) return false;
  if (r.memoryBytes > 0 && mem + r.memoryBytes > n.description.resources.memoryBytes) return false;
  const used = new Set(on.flatMap((h) => hostPortKeys(h.ports)));
  if (hostPortKeys(t.ports).some((p) => used.has(p))) return false;
  const max = t.spec.placement.maxReplicasPerNode;
  if (!pinned && max > 0 && on.filter((h) => h.serviceId === t.serviceId).length >= max) return false;
  return true;
}

void describe('plan (properties)', () => {
  void it('never over-commits, always honours the filters, and leaves a task unplaced only when nothing fits', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const { nodes, existing, pending } = build(s);
        const result = plan({ nodes, tasks: existing }, pending);
        const byId = new Map(pending.map((t) => [t.id, t]));
        const seen = new Set<string>();
        for (const x of [...result.assignments, ...result.unschedulable]) {
          assert.ok(!seen.has(x.taskId), `task ${x.taskId} decided twice`);
          seen.add(x.taskId);
        }
        assert.equal(seen.size, pending.length, 'every pending task is decided');

        // Replay the assignments in order: each must fit the cluster as it stood then.
        const holding: Task[] = existing.filter(holdsNode);
        for (const a of result.assignments) {
          const t = byId.get(a.taskId) as Task;
          const n = nodes.find((x) => x.id === a.nodeId) as Node;
          if (t.nodeId !== undefined) assert.equal(a.nodeId, t.nodeId, 'a pinned task stays on its node');
          assert.ok(fits(n, t, holding, t.nodeId !== undefined), `task ${t.id} does not fit node ${n.id}`);
          holding.push({ ...t, nodeId: a.nodeId, status: { ...t.status, state: 'assigned' } });
        }
        // Nothing was left behind that some node could still take.
        for (const u of result.unschedulable) {
          const t = byId.get(u.taskId) as Task;
          const candidates = t.nodeId !== undefined ? nodes.filter((n) => n.id === t.nodeId) : nodes;
          for (const n of candidates) {
            assert.ok(!fits(n, t, holding, t.nodeId !== undefined), `task ${t.id} left out though ${n.id} fits: ${u.reason}`);
          }
          assert.ok(u.reason.length > 0);
        }
      }),
      { numRuns: 300 },
    );
  });

  void it('spreads a service evenly across equally eligible nodes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 15 }),
        fc.integer({ min: 1, max: 80 }),
        fc.array(fc.tuple(fc.nat(), fc.boolean()), { maxLength: 30 }),
        (nodeCount, taskCount, load) => {
          const nodes = Array.from({ length: nodeCount }, (_, i) => makeNode({ id: `n${String(i).padStart(2, '0')}` }));
          // Existing load: tasks of other services, and some of this one.
          const existing = load.map(([n, same], k) =>
            makeTask({ id: `e${k}`, serviceId: same ? 'web' : 'other', nodeId: (nodes[n % nodeCount] as Node).id, status: { state: 'running' } }),
          );
          const pending = Array.from({ length: taskCount }, (_, k) => makeTask({ id: `p${k}`, serviceId: 'web', slot: k + 1 }));
          const result = plan({ nodes, tasks: existing }, pending);
          assert.equal(result.assignments.length, taskCount);
          const count = new Map(nodes.map((n) => [n.id, 0]));
          for (const t of existing) if (t.serviceId === 'web') count.set(t.nodeId as string, (count.get(t.nodeId as string) ?? 0) + 1);
          for (const a of result.assignments) count.set(a.nodeId, (count.get(a.nodeId) ?? 0) + 1);
          const min = Math.min(...count.values());
          // Every node that received a task ends at most one above the least-used node.
          for (const a of result.assignments) assert.ok((count.get(a.nodeId) as number) <= min + 1);
          if (!existing.some((t) => t.serviceId === 'web')) assert.ok(Math.max(...count.values()) - min <= 1);
        },
      ),
      { numRuns: 300 },
    );
  });
});
