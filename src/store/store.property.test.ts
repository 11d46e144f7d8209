import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import type { Task } from '../api/task.ts';
import { silentLogger } from '../lib/logger.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { makeTask } from '../testing/fixtures.ts';
import { SqliteBackend } from './sqlite/sqlite-backend.ts';
import { Store, type Tx } from './store.ts';

/** What the test expects of a task: the fields the commands change. */
interface ModelTask {
  nodeId: string | undefined;
  slot: number;
}

type Command =
  | { op: 'create'; id: string; nodeId: string | undefined }
  | { op: 'move'; id: string; nodeId: string }
  | { op: 'slot'; id: string; slot: number }
  | { op: 'delete'; id: string }
  | { op: 'drain'; from: string; to: string }
  | { op: 'fail'; id: string; nodeId: string };

const ids = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
const nodes = fc.constantFrom('n1', 'n2', 'n3');
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constant('create' as const), id: ids, nodeId: fc.option(nodes, { nil: undefined }) }),
  fc.record({ op: fc.constant('move' as const), id: ids, nodeId: nodes }),
  fc.record({ op: fc.constant('slot' as const), id: ids, slot: fc.integer({ min: 1, max: 9 }) }),
  fc.record({ op: fc.constant('delete' as const), id: ids }),
  fc.record({ op: fc.constant('drain' as const), from: nodes, to: nodes }),
  fc.record({ op: fc.constant('fail' as const), id: ids, nodeId: nodes }),
);
/** A step is one command alone (`update`) or several (`batch`). */
const step = fc.oneof(
  command.map((c) => ({ batch: false, commands: [c] })),
  fc.array(command, { minLength: 1, maxLength: 8 }).map((commands) => ({ batch: true, commands })),
);

/** Applies a command through a tx; throws (changing nothing) where the model says it fails. */
function run(tx: Tx, c: Command): void {
  const cur = 'id' in c ? tx.tasks.get(c.id) : undefined;
  switch (c.op) {
    case 'create': {
      const { version: _v, createdAt: _c, updatedAt: _u, ...t } = makeTask({ id: c.id });
      tx.tasks.create(c.nodeId === undefined ? t : { ...t, nodeId: c.nodeId });
      return;
    }
    case 'move':
      if (cur) tx.tasks.update({ ...cur, nodeId: c.nodeId });
      else throw new Error('missing');
      return;
    case 'slot':
      if (cur) tx.tasks.update({ ...cur, slot: c.slot });
      else throw new Error('missing');
      return;
    case 'delete':
      tx.tasks.delete(c.id);
      return;
    case 'drain':
      // reads an index inside the tx: must see earlier writes, and not rolled-back ones
      for (const t of tx.tasks.byNode(c.from)) tx.tasks.update({ ...t, nodeId: c.to });
      return;
    case 'fail':
      if (cur) tx.tasks.update({ ...cur, nodeId: c.nodeId, slot: 99 });
      throw new Error('rolled back');
  }
}

/** The model's version of `run`: false when the command fails (and changes nothing). */
function model(m: Map<string, ModelTask>, c: Command): boolean {
  const cur = 'id' in c ? m.get(c.id) : undefined;
  switch (c.op) {
    case 'create':
      if (cur) return false;
      m.set(c.id, { nodeId: c.nodeId, slot: 1 });
      return true;
    case 'move':
    case 'slot':
      if (!cur) return false;
      m.set(c.id, c.op === 'move' ? { ...cur, nodeId: c.nodeId } : { ...cur, slot: c.slot });
      return true;
    case 'delete':
      return m.delete(c.id);
    case 'drain':
      for (const [id, t] of m) if (t.nodeId === c.from) m.set(id, { ...t, nodeId: c.to });
      return true;
    case 'fail':
      return false;
  }
}

function view(tasks: readonly Task[]): Array<[string, ModelTask]> {
  return tasks.map((t): [string, ModelTask] => [t.id, { nodeId: t.nodeId, slot: t.slot ?? 0 }]).sort(([a], [b]) => a.localeCompare(b));
}

void it('store matches a model map; indexes, watchers and a reload agree with it', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
      const backend = SqliteBackend.open(':memory:');
      const opts = { clock: new FakeClock(), logger: silentLogger, batchChunkSize: 3 };
      const store = await Store.open(backend, opts);
      const replica = new Map<string, Task>();
      store.watch((ev) => {
        if (ev.kind !== 'task') return;
        if (ev.action === 'delete') replica.delete(ev.object.id);
        else replica.set(ev.object.id, ev.object);
      });
      const expected = new Map<string, ModelTask>();
      for (const s of steps) {
        if (s.batch) {
          const r = await store.batch((b) => {
            for (const c of s.commands) b.update((tx) => run(tx, c));
          });
          const failed = s.commands.flatMap((c, i) => (model(expected, c) ? [] : [i]));
          assert.deepEqual(r.errors.map((e) => e.index), failed);
          assert.equal(r.committed, s.commands.length - failed.length);
        } else {
          const c = s.commands[0]!;
          const ok = model(expected, c);
          const outcome = await store.update((tx) => run(tx, c)).then(() => true, () => false);
          assert.equal(outcome, ok);
        }
        const all = store.tasks.all();
        assert.deepEqual(view(all), [...expected].sort(([a], [b]) => a.localeCompare(b)));
        for (const n of ['n1', 'n2', 'n3']) {
          assert.deepEqual(view(store.tasks.byNode(n)), view(all.filter((t) => t.nodeId === n)));
        }
        for (const t of all) assert.ok(t.version > 0 && t.version <= store.revision);
      }
      assert.deepEqual(view([...replica.values()]), view(store.tasks.all()));
      const reloaded = await Store.open(backend, opts);
      assert.deepEqual(
        reloaded.tasks.all().sort((a, b) => a.id.localeCompare(b.id)),
        store.tasks.all().sort((a, b) => a.id.localeCompare(b.id)),
      );
      assert.equal(reloaded.revision, store.revision);
      await reloaded.close();
      await store.close();
      await backend.close();
    }),
    { numRuns: 60 },
  );
});
