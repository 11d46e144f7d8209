import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterEvent } from '../../api/event.ts';
import type { Service } from '../../api/service.ts';
import type { FlotillaClient } from '../../client/client.ts';
import { ClientError } from '../../client/errors.ts';
import { ClusterState } from './cluster-state.ts';

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
  let opened!: () => void;
  const open = new Promise<void>((r) => (opened = r));
  const client = {
    listNodes: async () => [],
    listTasks: async () => [],
    listServices: async () => lists.services,
    async *events(o: { signal?: AbortSignal }) {
      if (opts.failWith) throw opts.failWith;
      opened();
      while (!o.signal?.aborted) {
        const ev = queue.shift();
        if (ev) yield ev;
        else await new Promise<void>((r) => (wake = r));
      }
    },
  } as unknown as FlotillaClient;
  const push = (ev: ClusterEvent): void => {
    queue.push(ev);
    wake?.();
  };
  return { client, open, push };
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
});
