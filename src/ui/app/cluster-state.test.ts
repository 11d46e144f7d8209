import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterEvent } from '../../api/event.ts';
import type { Service } from '../../api/service.ts';
import type { FlotillaClient } from '../../client/client.ts';
import { ClientError } from '../../client/errors.ts';
import { makeNode, makeService, makeTask } from '../../testing/fixtures.ts';
import { ClusterState } from './cluster-state.ts';
import { nodeCounts, summarizeService, tasksByState } from './summary.ts';

// Node has no animation frames: run them on the next macrotask.
(globalThis as { requestAnimationFrame?: (fn: () => void) => number }).requestAnimationFrame = (fn) => {
  setTimeout(fn, 0);
  return 1;
};

function svc(id: string, version: number, name = id): Service {
  return { id, version, spec: { name, mode: 'replicated', replicas: 1 }, specVersion: 1 } as unknown as Service;
}

/** A client whose event stream yields what the test pushes, and whose lists are what it says. */
function fakeClient(lists: { services: Service[] }, opts: { failWith?: ClientError } = {}) {
  const queue: ClusterEvent[] = [];
  let wake: (() => void) | undefined;
  const drainedNow: Array<() => void> = [];
  let opened!: () => void;
  const open = new Promise<void>((r) => (opened = r));
  const client = {
    listNodes: async () => [],
    listTaskBriefs: async () => [],
    listServices: async () => lists.services,
    async *events(o: { signal?: AbortSignal }) {
      if (opts.failWith) throw opts.failWith;
      opened();
      while (!o.signal?.aborted) {
        const ev = queue.shift();
        if (ev) yield ev;
        else {
          for (const r of drainedNow.splice(0)) r();
          await new Promise<void>((r) => (wake = r));
        }
      }
    },
  } as unknown as FlotillaClient;
  const push = (ev: ClusterEvent): void => {
    queue.push(ev);
    wake?.();
  };
  /** Resolves once the stream has handed every pushed event to the state. */
  const drained = (): Promise<void> => new Promise((r) => drainedNow.push(r));
  return { client, open, push, drained };
}

/** A fake of the browser's animation frames: the test runs the scheduled frame by hand. */
function fakeFrames() {
  const queued: Array<() => void> = [];
  return {
    schedule: (fn: () => void): void => void queued.push(fn),
    get pending(): number {
      return queued.length;
    },
    run(): void {
      for (const fn of queued.splice(0)) fn();
    },
  };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

describe('ClusterState', () => {
  it('applies events held while the lists load, never setting an object back', async () => {
    const lists = { services: [svc('a', 5, 'listed-a'), svc('b', 3)] };
    const f = fakeClient(lists);
    const state = new ClusterState(f.client, f.open);
    // Held: an update older than the list's copy of a, a newer one of b, a delete of a later.
    f.push({ revision: 4, kind: 'service', action: 'update', object: svc('a', 4, 'old-a') });
    f.push({ revision: 6, kind: 'service', action: 'update', object: svc('b', 6, 'new-b') });
    await state.start();
    assert.equal(state.status, 'live');
    assert.equal(state.services.get('a')?.spec.name, 'listed-a');
    assert.equal(state.services.get('b')?.spec.name, 'new-b');

    let told = 0;
    state.subscribe(() => told++);
    f.push({ revision: 7, kind: 'service', action: 'delete', object: svc('a', 5) });
    f.push({ revision: 8, kind: 'service', action: 'create', object: svc('c', 8) });
    await tick();
    assert.deepEqual([...state.services.keys()].sort(), ['b', 'c']);
    assert.equal(told, 1, 'a burst is one notification');
    assert.deepEqual(state.recent.slice(0, 2).map((e) => e.revision), [8, 7]);
    state.stop();
  });

  it('stops and says so when the session ended', async () => {
    const f = fakeClient({ services: [] }, { failWith: new ClientError('unauthenticated', 'sign in') });
    const state = new ClusterState(f.client, f.open);
    await state.start();
    await tick();
    assert.equal(state.status, 'signed-out');
    assert.equal(state.services.size, 0);
  });

  it('applies a burst of thousands of events in one frame: one render, the derived counts right', async () => {
    const services = [makeService({ id: 'big', version: 1, spec: { name: 'big', replicas: 2000 } }), makeService({ id: 'small', version: 1, spec: { name: 'small', replicas: 10 } })];
    const f = fakeClient({ services });
    const frames = fakeFrames();
    const state = new ClusterState(f.client, f.open, frames.schedule);
    await state.start();
    frames.run();
    let told = 0;
    state.subscribe(() => told++);
    const nodes = Array.from({ length: 50 }, (_, i) => makeNode({ id: `n${i}`, version: 1, status: { state: i % 10 === 0 ? 'down' : 'ready' } }));
    const states = ['pending', 'assigned', 'running', 'running', 'failed'] as const;
    let revision = 10;
    const burst = (): void => {
      for (const n of nodes) f.push({ revision: ++revision, kind: 'node', action: 'update', object: { ...n, version: revision } });
      for (let i = 0; i < 3000; i++) {
        const task = makeTask({ id: `t${i % 2500}`, version: ++revision, serviceId: i % 5 === 0 ? 'small' : 'big', slot: (i % 2500) + 1, nodeId: `n${i % 50}`, status: { state: states[(i + revision) % states.length]! } });
        f.push({ revision, kind: 'task', action: i % 97 === 0 ? 'delete' : i < 2500 ? 'create' : 'update', object: task });
      }
    };
    burst();
    await f.drained();
    assert.equal(frames.pending, 1, 'the whole burst waits for one frame');
    const big = state.tasksOf('big');
    frames.run();
    assert.equal(told, 1, 'one render for the burst');
    assertDerivedRight(state);
    assert.notEqual(state.tasksOf('big'), big, 'a changed service gives a new task array');
    assert.equal(state.tasksOf('big'), state.tasksOf('big'), 'an unchanged one gives the same array (views memoize on it)');
    assert.equal([...state.tasks.values()].some((t) => 'spec' in t), false, 'tasks are kept without their spec');

    burst();
    await f.drained();
    frames.run();
    assert.equal(told, 2);
    assertDerivedRight(state);
    state.stop();
  });
});

/** What the state keeps incrementally equals what a recount over everything gives. */
function assertDerivedRight(state: ClusterState): void {
  assert.deepEqual([...state.taskCounts()], [...tasksByState(state.tasks.values())]);
  assert.deepEqual(state.nodeCounts(), nodeCounts(state.nodes.values()));
  const health = { converged: 0, updating: 0, failing: 0 };
  for (const s of state.services.values()) {
    const tasks = [...state.tasks.values()].filter((t) => t.serviceId === s.id);
    assert.deepEqual(new Set(state.tasksOf(s.id)), new Set(tasks));
    assert.deepEqual(state.summary(s), summarizeService(s, tasks));
    health[summarizeService(s, tasks).health]++;
  }
  assert.deepEqual(state.serviceHealth(), health);
  for (const n of state.nodes.values()) {
    assert.deepEqual(new Set(state.tasksOn(n.id)), new Set([...state.tasks.values()].filter((t) => t.nodeId === n.id)));
  }
}
