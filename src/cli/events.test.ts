import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ClusterEvent } from '../api/event.ts';
import { STACK_LABEL } from '../api/stack.ts';
import { startApi, type ApiHarness } from '../testing/api-harness.ts';
import { makeNode, makeService, makeServiceSpec, makeTask } from '../testing/fixtures.ts';
import { parseUntil } from './events.ts';
import { run } from './main.ts';

const spec = (name: string, labels: Record<string, string> = {}): unknown => ({ name, labels, taskTemplate: { container: { image: 'img' } } });

void describe('flotilla events', () => {
  let h: ApiHarness;
  /** Runs the CLI; `onOut` sees stdout as it grows. */
  const cli = async (argv: string[], options: { signal?: AbortSignal; onOut?: (out: string) => void } = {}): Promise<{ code: number; stdout: string; stderr: string }> => {
    let stdout = '';
    let stderr = '';
    const code = await run(argv, {
      stdout: {
        write: (s: string) => {
          stdout += s;
          options.onOut?.(stdout);
        },
      },
      stderr: { write: (s: string) => (stderr += s) },
      env: { FLOTILLA_HOST: `unix://${h.socketPath}` },
      now: () => h.clock.now(),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { code, stdout, stderr };
  };
  const json = (out: string): ClusterEvent[] => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as ClusterEvent);

  beforeEach(async () => {
    h = await startApi({ listen: true });
  });
  afterEach(async () => {
    await h.close();
  });

  void it('replays from --since up to --until, filtered by type, service, stack, node and event', async () => {
    const from = h.store.revision;
    const web = (await h.call('POST', '/v1/services', spec('web', { [STACK_LABEL]: 'shop' }))).body as { id: string };
    await h.call('POST', '/v1/services', spec('db'));
    await h.store.update((tx) => tx.nodes.create(makeNode({ id: 'n1', description: { hostname: 'alpha' } })));
    await h.store.update((tx) => tx.tasks.create(makeTask({ id: 't1', serviceId: web.id, serviceName: 'web', slot: 1, nodeId: 'n1' })));
    const to = h.store.revision;
    const base = ['events', '--since', String(from), '--until', String(to), '--format', 'json'];

    const all = await cli(base);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(json(all.stdout).map((e) => `${e.kind} ${e.action}`).filter((e) => e !== 'network create'), ['service create', 'service create', 'node create', 'task create']);

    const bySvc = json((await cli([...base, '--filter', 'service=web'])).stdout);
    assert.deepEqual(bySvc.map((e) => `${e.kind} ${e.object.id}`), [`service ${web.id}`, 'task t1']);
    const byStack = json((await cli([...base, '--filter', 'stack=shop'])).stdout);
    assert.deepEqual(byStack.map((e) => e.object.id), [web.id, 't1'], 'a task is in the stack of its service');
    const byNode = json((await cli([...base, '--filter', 'node=alpha'])).stdout);
    assert.deepEqual(byNode.map((e) => e.object.id), ['n1', 't1'], 'a node by hostname, and the tasks on it');
    const services = json((await cli([...base, '--filter', 'type=service', '--filter', 'type=node'])).stdout);
    assert.deepEqual(services.map((e) => e.kind), ['service', 'service', 'node'], "one key's values are alternatives");
    const none = json((await cli([...base, '--filter', 'type=service', '--filter', 'event=delete'])).stdout);
    assert.deepEqual(none, [], 'different keys all apply');

    const text = await cli(['events', '--since', String(from), '--until', String(to), '--filter', 'type=task']);
    assert.match(text.stdout, /^\S+ task create web\.1 \(id=t1, state=pending, desired=running, node=n1, revision=\d+\)\n$/);
  });

  void it('follows live changes until interrupted', async () => {
    const ac = new AbortController();
    let seen: () => void = () => {};
    const saw = new Promise<void>((resolve) => (seen = resolve));
    // From the current revision: whatever is created after this line is sent, however soon.
    const running = cli(['events', '--since', String(h.store.revision), '--filter', 'type=service'], { signal: ac.signal, onOut: (out) => out.includes(' live ') && seen() });
    await h.call('POST', '/v1/services', spec('live'));
    await saw;
    ac.abort();
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /service create live \(id=/);
  });

  void it('learns services and nodes the listing at start missed, printing only the type asked for', async () => {
    const from = h.store.revision;
    // Gone before the command lists services and nodes: only their events can tell it their stack and hostname.
    await h.store.update((tx) => {
      tx.services.create(makeService({ id: 'gone', spec: makeServiceSpec({ name: 'gone', labels: { [STACK_LABEL]: 'shop' } }) }));
      tx.nodes.create(makeNode({ id: 'n-gone', description: { hostname: 'beta' } }));
    });
    await h.store.update((tx) => {
      tx.tasks.create(makeTask({ id: 't-gone', serviceId: 'gone', serviceName: 'gone', slot: 1, nodeId: 'n-gone' }));
    });
    await h.store.update((tx) => {
      tx.services.delete('gone');
      tx.nodes.delete('n-gone');
    });
    // Still there when it lists: its task is the last line either way.
    await h.store.update((tx) => {
      tx.services.create(makeService({ id: 'kept', spec: makeServiceSpec({ name: 'kept', labels: { [STACK_LABEL]: 'shop' } }) }));
      tx.nodes.create(makeNode({ id: 'n-kept', description: { hostname: 'beta' } }));
    });
    await h.store.update((tx) => {
      tx.tasks.create(makeTask({ id: 't-kept', serviceId: 'kept', serviceName: 'kept', slot: 1, nodeId: 'n-kept' }));
    });
    for (const filter of ['stack=shop', 'node=beta']) {
      const ac = new AbortController();
      const r = await cli(['events', '--since', String(from), '--filter', 'type=task', '--filter', filter, '--format', 'json'], {
        signal: ac.signal,
        onOut: (out) => out.includes('"t-kept"') && ac.abort(),
      });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(json(r.stdout).map((e) => `${e.kind} ${e.object.id}`), ['task t-gone', 'task t-kept'], filter);
    }
  });

  void it('keeps following when --until is further ahead than setTimeout can wait (~24.8 days)', async () => {
    const ac = new AbortController();
    let seen: () => void = () => {};
    const saw = new Promise<string>((resolve) => (seen = () => resolve('printed')));
    const running = cli(['events', '--since', String(h.store.revision), '--until', '800h', '--filter', 'type=service'], {
      signal: ac.signal,
      onOut: (out) => out.includes(' far ') && seen(),
    });
    await h.call('POST', '/v1/services', spec('far'));
    // Overflowed, the timer fired after 1 ms and the command ended before the event came.
    assert.equal(await Promise.race([saw, running.then(() => 'ended')]), 'printed');
    ac.abort();
    assert.equal((await running).code, 0);
  });

  void it('says what is wrong with a filter, --since or --until', async () => {
    const bad = await cli(['events', '--filter', 'colour=red']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown key "colour"; expected one of type, event, service, node, stack/);
    assert.match((await cli(['events', '--filter', 'type=volume'])).stderr, /type is one of node, service, task, network, secret, config, stack/);
    const since = await cli(['events', '--since', '10m']);
    assert.equal(since.code, 2);
    assert.match(since.stderr, /expected a revision/);
    assert.match((await cli(['events', '--until', 'soon'])).stderr, /expected a revision \(123\), a duration/);
    assert.deepEqual(parseUntil('90s', 1_000), { at: 91_000 });
    assert.deepEqual(parseUntil('42', 0), { revision: 42 });
  });
});
