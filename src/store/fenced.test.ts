import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeNode } from '../testing/fixtures.ts';
import { openMemoryStore } from './memory.ts';
import { isStoreError } from './store.ts';

describe('Store.fenced', () => {
  it('shares the store’s state and watch; commits only with a fence (SQLite has no fences to check), and closing it closes nothing', async () => {
    const store = await openMemoryStore();
    try {
      let fence: { key: string; createRevision: number } | undefined = { key: '/leader', createRevision: 7 };
      const view = store.fenced(() => fence);
      const seen: string[] = [];
      const unwatch = view.watch((ev) => seen.push(ev.object.id));
      await view.update((tx) => tx.nodes.create(makeNode({ id: 'n1' })));
      assert.ok(store.nodes.get('n1'), 'a write through the view is the store’s');
      assert.equal(view.revision, store.revision);
      await store.update((tx) => tx.nodes.create(makeNode({ id: 'n2' })));
      assert.ok(view.nodes.get('n2'), 'the view reads the store’s state');
      const result = await view.batch((b) => b.update((tx) => tx.nodes.create(makeNode({ id: 'n3' }))));
      assert.deepEqual(result, { committed: 1, errors: [] });
      assert.deepEqual(seen, ['n1', 'n2', 'n3']);
      unwatch();

      fence = undefined; // not leading: refused before anything is sent
      const before = store.revision;
      await assert.rejects(
        view.update((tx) => tx.nodes.create(makeNode({ id: 'n4' }))),
        (e: unknown) => isStoreError(e) && e.code === 'fenced' && /no longer holds the leadership/.test(e.message),
      );
      await assert.rejects(
        view.batch((b) => b.update((tx) => tx.nodes.create(makeNode({ id: 'n5' })))),
        (e: unknown) => isStoreError(e) && e.code === 'fenced',
      );
      assert.equal(store.revision, before);
      assert.equal(store.nodes.get('n4'), undefined);

      await view.close();
      await store.update((tx) => tx.nodes.create(makeNode({ id: 'n6' })));
    } finally {
      await store.close();
    }
  });
});
