import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Task } from '../../api/task.ts';
import { isTerminal, stateRank, TASK_STATES } from '../../api/task.ts';
import { makeNode, makeService, makeTask } from '../../testing/fixtures.ts';
import { globalFit } from './node-health.ts';
import { SimWorld } from '../../testing/sim-world.ts';

/*
 * Whatever mess the store holds (duplicate slots, stale specs, tasks on lost nodes, half-removed
 * tasks), repeated planning — with an agent that stops what it is asked to stop — converges to
 * exactly one live task per wanted slot (or eligible node), and then plans nothing more.
 */

const T0 = Date.UTC(2026, 0, 1);
const NODE_IDS = ['n1', 'n2', 'n3', 'gone'];

const taskArb = fc.record({
  slot: fc.integer({ min: 1, max: 6 }),
  node: fc.option(fc.constantFrom(...NODE_IDS), { nil: undefined }),
  desired: fc.constantFrom('running', 'running', 'shutdown', 'remove'),
  state: fc.constantFrom(...TASK_STATES.filter((s) => s !== 'remove')),
  specVersion: fc.integer({ min: 1, max: 2 }),
  ageMs: fc.integer({ min: 0, max: 600_000 }),
});

const nodeArb = fc.record({
  state: fc.constantFrom('ready', 'ready', 'down', 'unknown'),
  availability: fc.constantFrom('active', 'active', 'pause', 'drain'),
});

const worldArb = fc.record({
  global: fc.boolean(),
  replicas: fc.integer({ min: 0, max: 5 }),
  specVersion: fc.integer({ min: 1, max: 2 }),
  condition: fc.constantFrom('any', 'on-failure', 'none'),
  nodes: fc.tuple(nodeArb, nodeArb, nodeArb),
  tasks: fc.array(taskArb, { maxLength: 10 }),
});

type WorldSpec = typeof worldArb extends fc.Arbitrary<infer W> ? W : never;

function build(w: WorldSpec): SimWorld {
  const svc = makeService({
    specVersion: w.specVersion,
    spec: {
      mode: w.global ? 'global' : 'replicated',
      replicas: w.replicas,
      taskTemplate: { restartPolicy: { condition: w.condition } },
    },
  });
  const world = new SimWorld(svc, T0);
  w.nodes.forEach((n, i) =>
    world.addNode(makeNode({ id: NODE_IDS[i] ?? 'n1', status: { state: n.state }, spec: { availability: n.availability } })),
  );
  w.tasks.forEach((t, i) => {
    const task: Task = makeTask({
      id: `x${i}`,
      slot: t.slot,
      desiredState: t.desired,
      specVersion: Math.min(t.specVersion, w.specVersion),
      status: { state: t.state, timestamp: new Date(T0 - t.ageMs / 2).toISOString() },
      createdAt: new Date(T0 - t.ageMs).toISOString(),
    });
    // A task past `assigned` has a node; one before it has none unless global (preset).
    const assigned = stateRank(t.state) >= stateRank('assigned');
    const node = t.node ?? (assigned ? 'n1' : undefined);
    if (node !== undefined && (assigned || w.global)) task.nodeId = node;
    if (w.global) delete task.slot;
    world.tasks.set(task.id, task);
  });
  return world;
}

/** Plans and applies until nothing changes, playing an agent that stops what it must. */
function settle(world: SimWorld): void {
  for (let i = 0; i < 30; i++) {
    const plan = world.step();
    let agentActed = false;
    for (const t of world.tasks.values()) {
      const held = stateRank(t.status.state) >= stateRank('assigned') && !isTerminal(t.status.state);
      const agentUp = t.nodeId !== undefined && world.nodes.get(t.nodeId)?.status.state !== 'down';
      if (t.desiredState !== 'running' && held && agentUp && world.nodes.has(t.nodeId ?? '')) {
        world.report(t.id, 'shutdown');
        agentActed = true;
      }
    }
    if (agentActed) continue;
    if (plan.actions.length === 0 && plan.wakeAt === undefined) return;
    if (plan.actions.length === 0 && plan.wakeAt !== undefined) world.now = plan.wakeAt;
  }
}

void test('plans converge to one live task per wanted slot or node, then stop changing', () => {
  fc.assert(
    fc.property(worldArb, (w) => {
      const world = build(w);
      settle(world);
      const live = world.live();
      if (w.global) {
        const byNode = new Map<string, number>();
        for (const t of live) byNode.set(t.nodeId ?? '', (byNode.get(t.nodeId ?? '') ?? 0) + 1);
        for (const [nodeId, n] of byNode) {
          assert.equal(n, 1, `one live task on ${nodeId}`);
          assert.equal(globalFit(world.nodes.get(nodeId), world.service!.spec.taskTemplate).canRun, true);
        }
        for (const [id, node] of world.nodes) {
          if (globalFit(node, world.service!.spec.taskTemplate).canStart) assert.equal(byNode.get(id), 1, `a task on ${id}`);
        }
      } else {
        const slots = live.map((t) => t.slot);
        assert.equal(live.length, w.replicas);
        assert.equal(new Set(slots).size, w.replicas, 'one live task per slot');
      }
      for (const t of live) {
        if (t.status.state === 'new') assert.equal(t.specVersion, w.specVersion, 'new tasks use the current spec');
      }
      assert.deepEqual(world.plan().actions, [], 'stable once converged');
    }),
    { numRuns: 300 },
  );
});

void test('a deleted service ends with no tasks once its agents stopped them', () => {
  fc.assert(
    fc.property(worldArb, (w) => {
      const world = build(w);
      world.service = undefined;
      settle(world);
      assert.equal(world.tasks.size, 0);
    }),
    { numRuns: 200 },
  );
});
