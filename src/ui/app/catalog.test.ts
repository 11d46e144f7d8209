import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterEvent } from '../../api/event.ts';
import type { Secret } from '../../api/secret.ts';
import type { FlotillaClient } from '../../client/client.ts';
import { Catalog } from './catalog.ts';

// Node has no animation frames: run them on the next macrotask.
(globalThis as { requestAnimationFrame?: (fn: () => void) => number }).requestAnimationFrame = (fn) => {
  setTimeout(fn, 0);
  return 1;
};

const secret = (id: string, version: number, name = id): Secret => ({ id, version, spec: { name, labels: {} }, sizeBytes: 1 }) as unknown as Secret;

describe('Catalog', () => {
  it('follows stacks, secrets and configs on a stream of their kinds, holding events while the lists load', async () => {
    const queue: ClusterEvent[] = [];
    let wake: (() => void) | undefined;
    let opened!: () => void;
    const open = new Promise<void>((r) => (opened = r));
    let asked: readonly string[] | undefined;
    const client = {
      listStacks: async () => [],
      listConfigs: async () => [],
      listSecrets: async () => [secret('a', 5, 'listed')],
      async *events(o: { kinds?: readonly string[]; signal?: AbortSignal }) {
        asked = o.kinds;
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
    const catalog = new Catalog(client, open);
    push({ revision: 4, kind: 'secret', action: 'update', object: secret('a', 4, 'older') });
    await catalog.start();
    assert.deepEqual(asked, ['stack', 'secret', 'config']);
    assert.equal(catalog.status, 'live');
    assert.equal(catalog.secrets.get('a')?.spec.name, 'listed', 'an older event never sets a listed object back');
    let told = 0;
    catalog.subscribe(() => told++);
    push({ revision: 6, kind: 'secret', action: 'create', object: secret('b', 6) });
    push({ revision: 7, kind: 'secret', action: 'delete', object: secret('a', 5) });
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual([...catalog.secrets.keys()], ['b']);
    assert.equal(told, 1);
    catalog.stop();
    wake?.();
  });
});
