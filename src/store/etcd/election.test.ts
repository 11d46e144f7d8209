import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { ConnectionPool } from 'etcd3/lib/connection-pool.js';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { skipUnlessEtcd, startEtcd, type EtcdTestCluster } from '../../testing/etcd-server.ts';
import { isBackendError, type Fence } from '../backend.ts';
import { isStoreError, Store } from '../store.ts';
import { makeNode } from '../../testing/fixtures.ts';
import { connect } from './connect.ts';
import { EtcdBackend } from './etcd-backend.ts';
import { EtcdElection, type ElectionState } from './election.ts';

const skip = skipUnlessEtcd();
/** Only catches hangs: elections settle in seconds. */
const HANG_MS = 30_000;

let one: EtcdTestCluster | undefined;
let three: EtcdTestCluster | undefined;

/** Resolves with the first value `get` returns that `ok` accepts, checked on each `subscribe` call. */
function until<T>(what: string, subscribe: (check: () => void) => () => void, get: () => T, ok: (v: T) => boolean): Promise<T> {
  return new Promise((resolve, reject) => {
    let unsubscribe = (): void => {};
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out waiting for ${what} (last: ${JSON.stringify(get())})`));
    }, HANG_MS);
    const check = (): void => {
      const v = get();
      if (!ok(v)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(v);
    };
    unsubscribe = subscribe(check);
    check();
  });
}

/** Waits until exactly one of `es` leads, and every one of them lists `es.length` members with that one marked. */
async function oneLeader(es: readonly EtcdElection[]): Promise<EtcdElection> {
  const subscribe = (check: () => void): (() => void) => {
    const offs = es.flatMap((e) => [e.onChange(check), e.onMembersChange(check)]);
    return () => offs.forEach((f) => f());
  };
  const snapshot = (): string => JSON.stringify(es.map((e) => ({ state: e.state, members: e.members() })));
  await until('one leader that every member agrees on', subscribe, snapshot, () => {
    const leaders = es.filter((e) => e.state === 'leader');
    if (leaders.length !== 1) return false;
    const id = leaders[0]!.members().find((m) => m.leader)?.id;
    return es.every((e) => e.members().length === es.length && e.members().filter((m) => m.leader).map((m) => m.id).join() === id);
  });
  return es.find((e) => e.state === 'leader')!;
}

/** What a client's keep-alive streams did: each call's time, and an event per answer or error. */
interface KeepAliveSpy extends EventEmitter<{ opened: [at: number]; answered: [sentAt: number]; failed: [err: unknown] }> {
  failures: number;
  /** When the last answered keep-alive stream was opened (its request sent just after). */
  lastAnsweredAt: number;
}

/**
 * Watches `c`'s keep-alive streams: they are opened through its connection pool (etcd3's
 * `withConnection`, `keep-alive-stream.ts`), which this wraps.
 */
function spyKeepAlives(c: Etcd3): KeepAliveSpy {
  const spy = Object.assign(new EventEmitter<{ opened: [number]; answered: [number]; failed: [unknown] }>(), { failures: 0, lastAnsweredAt: 0 });
  type WithConnection = (...args: unknown[]) => Promise<unknown>;
  const pool = (c as unknown as { pool: { withConnection: WithConnection } }).pool;
  const original = pool.withConnection.bind(pool);
  pool.withConnection = async (...args) => {
    const at = Date.now();
    const res = await original(...args);
    const stream = (res !== null && typeof res === 'object' && 'stream' in res ? res.stream : res) as Partial<EventEmitter> | undefined;
    if (args[0] === 'Lease' && typeof stream?.on === 'function') {
      stream.on('data', () => {
        spy.lastAnsweredAt = Math.max(spy.lastAnsweredAt, at);
        spy.emit('answered', at);
      });
      stream.on('error', (err) => {
        spy.failures++;
        spy.emit('failed', err);
      });
      spy.emit('opened', at);
    }
    return res;
  };
  return spy;
}

/** Waits for `n` events `name` of `spy` after now. */
function nextEvents(spy: KeepAliveSpy, name: 'answered' | 'failed', n: number): Promise<void> {
  return until(
    `${n} keep-alives ${name}`,
    (check) => {
      spy.on(name, check);
      return () => spy.off(name, check);
    },
    (() => {
      let seen = -1;
      return () => ++seen;
    })(),
    (count) => count >= n,
  ).then(() => undefined);
}

/** The system clock, counting the timers set and not yet fired or cancelled. */
function countingClock(): Clock & { readonly pending: number } {
  let pending = 0;
  return {
    get pending() {
      return pending;
    },
    now: () => systemClock.now(),
    sleep: (ms, signal) => systemClock.sleep(ms, signal),
    setTimer(ms, fn) {
      pending++;
      let live = true;
      const done = (): void => {
        if (live) pending--;
        live = false;
      };
      const h = systemClock.setTimer(ms, () => {
        done();
        fn();
      });
      return {
        cancel: () => {
          done();
          h.cancel();
        },
      };
    },
  };
}

void describe('etcd election', { skip }, () => {
  const clients: Etcd3[] = [];
  const elections: EtcdElection[] = [];
  before(async () => {
    [one, three] = await Promise.all([startEtcd(), startEtcd({ members: 3 })]);
  });
  after(async () => {
    await Promise.all(elections.map((e) => e.close()));
    for (const c of clients) c.close();
    await Promise.all([one?.stop(), three?.stop()]);
  });

  const client = (endpoints: readonly string[]): Etcd3 => {
    const c = connect({ endpoints, requestTimeoutMs: 2_000 });
    clients.push(c);
    return c;
  };
  const join = async (root: string, id: string, endpoints: readonly string[] | Etcd3 = one!.endpoints, clock?: Clock): Promise<EtcdElection> => {
    const c = Array.isArray(endpoints) ? client(endpoints) : (endpoints as Etcd3);
    const e = await EtcdElection.open(c, { root, self: { id, addr: `${id}.test:4280` }, ...(clock ? { clock } : {}) });
    elections.push(e);
    return e;
  };

  void it('three managers: exactly one leads, every one lists all three with the leader marked; the leader resigns, another leads', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const es = await Promise.all(['m1', 'm2', 'm3'].map((id) => join(root, id)));
    const first = await oneLeader(es);
    assert.deepEqual(
      first.members().map((m) => m.addr),
      ['m1.test:4280', 'm2.test:4280', 'm3.test:4280'],
    );
    const changes: ElectionState[] = [];
    first.onChange((s) => changes.push(s));
    await first.close();
    assert.equal(first.state, 'follower');
    assert.deepEqual(changes, [], 'close reports no change');
    const rest = es.filter((e) => e !== first);
    const second = await oneLeader(rest);
    assert.notEqual(second, first);
  });

  void it('a write fenced on a term that has ended is refused and changes nothing', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const backend = await EtcdBackend.open({ endpoints: one!.endpoints, root });
    const store = await Store.open(backend, { closeBackend: true });
    try {
      const a = await join(root, 'a');
      await oneLeader([a]);
      const fence = a.fence();
      assert.ok(fence);
      const asLeader = store.fenced(() => a.fence());
      await asLeader.update((tx) => tx.nodes.create(makeNode({ id: 'n1' })));
      assert.ok(store.nodes.get('n1'));

      const b = await join(root, 'b');
      await a.close(); // resigns: its leader key goes
      await oneLeader([b]);
      const before = store.revision;
      // The view reads the fence at each commit: none now.
      await assert.rejects(
        asLeader.update((tx) => tx.nodes.create(makeNode({ id: 'n2' }))),
        (e: unknown) => isStoreError(e) && e.code === 'fenced',
      );
      // A writer still holding the old term's fence (its timers late): etcd refuses it.
      const stale: Fence = fence;
      let refused = 0;
      await assert.rejects(
        store.fenced(() => stale, () => refused++).update((tx) => tx.nodes.create(makeNode({ id: 'n3' }))),
        (e: unknown) => isStoreError(e) && e.code === 'fenced',
      );
      assert.equal(refused, 1, 'the view tells whoever fenced it (the manager tells its leadership)');
      await assert.rejects(backend.txn([], [{ type: 'put', key: '/flotilla/nodes/n4', value: '{}' }], { fence: stale }), (e: unknown) => isBackendError(e) && e.code === 'fenced');
      assert.equal(store.revision, before);
      assert.equal((await backend.range('')).revision, before);
      assert.equal(store.nodes.get('n3'), undefined);
      // The new leader's fenced writes go through; unfenced (API) writes from anyone too.
      await store.fenced(() => b.fence()).update((tx) => tx.nodes.create(makeNode({ id: 'n5' })));
      await store.update((tx) => tx.nodes.create(makeNode({ id: 'n6' })));
      assert.ok(store.nodes.get('n5') && store.nodes.get('n6'));
    } finally {
      await store.close();
    }
  });

  void it('a refusal of an earlier term of its own does not make a leader step down; one of its current term does', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const a = await join(root, 'a');
    await oneLeader([a]);
    const term = a.fence();
    assert.ok(term);
    a.fenceRefused({ ...term, createRevision: term.createRevision - 1 });
    assert.equal(a.state, 'leader', 'a write of a previous term still in flight says nothing of this one');
    a.fenceRefused(term);
    assert.equal(a.state, 'follower', 'steps down at once');
  });

  void it('a leader whose keep-alives stop being confirmed reports follower before another can lead, and its fence is refused', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const [m0, m1, m2] = three!.members;
    const a = await join(root, 'a', [m0!.endpoint]);
    await oneLeader([a]);
    const fence = a.fence()!;
    const others = await Promise.all([join(root, 'b', [m1!.endpoint]), join(root, 'c', [m2!.endpoint])]);
    await oneLeader([a, ...others]);
    assert.equal(a.state, 'leader');

    // When `a` steps down, nobody else may lead yet: its lease has not expired at etcd.
    let othersLeadingWhenASteppedDown: string[] | undefined;
    a.onChange((s) => {
      if (s === 'follower') othersLeadingWhenASteppedDown ??= others.filter((e) => e.state === 'leader').map((e) => e.members().find((m) => m.leader)?.id ?? '?');
    });
    await m0!.stop();
    try {
      await until('a to step down', (check) => a.onChange(check), () => a.state, (s) => s === 'follower');
      assert.deepEqual(othersLeadingWhenASteppedDown, []);
      const next = await until(
        'b or c to lead',
        (check) => {
          const offs = others.map((e) => e.onChange(check));
          return () => offs.forEach((f) => f());
        },
        () => others.filter((e) => e.state === 'leader').length,
        (n) => n === 1,
      );
      assert.equal(next, 1);
      const backend = await EtcdBackend.open({ endpoints: [m1!.endpoint, m2!.endpoint], root });
      try {
        await assert.rejects(backend.txn([], [{ type: 'put', key: '/x', value: '1' }], { fence }), (e: unknown) => isBackendError(e) && e.code === 'fenced');
        assert.deepEqual((await backend.range('')).kvs, []);
      } finally {
        await backend.close();
      }
    } finally {
      await m0!.start();
    }
    // Back in touch, `a` rejoins as a follower under a new lease.
    await oneLeader([a, ...others]);
    assert.equal(a.state, 'follower');
  });

  void it('a leader whose etcd member hangs (keep-alives never answered) steps down at its local deadline, before the lease can expire', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const [m0, m1, m2] = three!.members;
    const a = await join(root, 'a', [m0!.endpoint]);
    await oneLeader([a]);
    const others = await Promise.all([join(root, 'b', [m1!.endpoint]), join(root, 'c', [m2!.endpoint])]);
    await oneLeader([a, ...others]);
    let othersLeadingWhenASteppedDown: number | undefined;
    a.onChange((s) => {
      if (s === 'follower') othersLeadingWhenASteppedDown ??= others.filter((e) => e.state === 'leader').length;
    });
    m0!.pause();
    try {
      await until('a to step down', (check) => a.onChange(check), () => a.state, (s) => s === 'follower');
      assert.equal(othersLeadingWhenASteppedDown, 0, 'nobody else led before a stepped down');
      await until(
        'b or c to lead',
        (check) => {
          const offs = others.map((e) => e.onChange(check));
          return () => offs.forEach((f) => f());
        },
        () => others.filter((e) => e.state === 'leader').length,
        (n) => n === 1,
      );
    } finally {
      m0!.resume();
    }
    await oneLeader([a, ...others]);
    assert.equal(a.state, 'follower');
  });

  void it('a leader on a single etcd member keeps leading across a keep-alive slower than its answer timeout (cancelled, retried on the same member)', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const [m] = one!.members;
    const ca = client(one!.endpoints);
    const spy = spyKeepAlives(ca);
    const a = await join(root, 'a', ca);
    await oneLeader([a]);
    const changes: ElectionState[] = [];
    a.onChange((s) => changes.push(s));
    await nextEvents(spy, 'answered', 1);
    // Freeze etcd as the next keep-alive stream opens: it is not answered within half a period,
    // so the session cancels it and tries again; etcd goes on once that cancel is seen.
    const failed = nextEvents(spy, 'failed', 1);
    await new Promise<void>((resolve) => spy.once('opened', () => resolve(m!.pause())));
    try {
      await failed;
    } finally {
      m!.resume();
    }
    // The cancel is no failure of the member: it is not passed over, the retries reach it.
    await nextEvents(spy, 'answered', 3);
    assert.deepEqual(changes, [], 'no leader change');
    assert.equal(a.state, 'leader');
    assert.ok(a.fence());
  });

  void it('close leaves no timer of the election or its lease running', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const clock = countingClock();
    const a = await join(root, 'a', one!.endpoints, clock);
    const b = await join(root, 'b', one!.endpoints, clock);
    await oneLeader([a, b]);
    assert.ok(clock.pending > 0, 'a running election keeps its lease alive on timers');
    await Promise.all([a.close(), b.close()]);
    assert.equal(clock.pending, 0);
  });

  void it('a leader whose etcd member dies keeps leading: its keep-alives go to another member before the lease is in doubt', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const [m0, m1, m2] = three!.members;
    // In deterministic order the client sends every request to its last endpoint while that
    // member's circuit is closed: m0 is the member the leader talks to.
    ConnectionPool.deterministicOrder = true;
    const ca = client([m1!.endpoint, m2!.endpoint, m0!.endpoint]);
    const spy = spyKeepAlives(ca);
    try {
      const a = await join(root, 'a', ca);
      await oneLeader([a]);
      const others = await Promise.all([join(root, 'b', [m1!.endpoint]), join(root, 'c', [m2!.endpoint])]);
      await oneLeader([a, ...others]);
      const changes: string[] = [];
      for (const [i, e] of [a, ...others].entries()) e.onChange((st) => changes.push(`${'abc'[i]!}: ${st}`));
      await nextEvents(spy, 'answered', 1);
      const failed = nextEvents(spy, 'failed', 1);
      await m0!.stop();
      try {
        await failed;
        // A TTL's worth of confirmed keep-alives after the failure: a lease in doubt would have ended by then.
        await nextEvents(spy, 'answered', 4);
        assert.deepEqual(changes, [], 'no leader change');
        assert.equal(a.state, 'leader');
        assert.ok(a.fence());
      } finally {
        await m0!.start();
      }
    } finally {
      ConnectionPool.deterministicOrder = false;
    }
  });

  void it('a leader that loses etcd quorum keeps trying until its local deadline, then steps down before etcd could expire its lease', async (t) => {
    const root = `/flotilla-test/${randomUUID()}`;
    const [, m1, m2] = three!.members;
    const ca = client(three!.endpoints);
    const spy = spyKeepAlives(ca);
    // Every clock reading of the election, kept: `fence()` reads the clock.
    let lastRead = 0;
    const clock: Clock = { ...systemClock, now: () => (lastRead = systemClock.now()) };
    const a = await join(root, 'a', ca, clock);
    await oneLeader([a]);
    await nextEvents(spy, 'answered', 1);
    const ttl = 3_000;
    const margin = 500;
    // The safety property, checked at every sample: once the clock reads the last answered
    // keep-alive's send time + TTL − margin, no fence (etcd renewed the lease no earlier than
    // that send, so it cannot expire before send + TTL).
    let samples = 0;
    const check = (): void => {
      const f = a.fence();
      samples++;
      if (lastRead >= spy.lastAnsweredAt + ttl - margin) assert.equal(f, undefined, `fenced ${lastRead - spy.lastAnsweredAt} ms after the last confirmed keep-alive was sent`);
    };
    let steppedDownAt: number | undefined;
    let failuresWhileLeading = 0;
    const failuresBefore = spy.failures;
    a.onChange((s) => {
      if (s !== 'follower' || steppedDownAt !== undefined) return;
      steppedDownAt = Date.now();
      failuresWhileLeading = spy.failures - failuresBefore;
      check();
    });
    const sampler = setInterval(check, 10);
    await Promise.all([m1!.stop(), m2!.stop()]);
    try {
      await until('a to step down', (c) => a.onChange(c), () => a.state, (s) => s === 'follower');
      clearInterval(sampler);
      check();
      assert.ok(steppedDownAt !== undefined);
      assert.equal(a.fence(), undefined);
      // It did not give up at the first failure: keep-alives failed (and were retried) while it led.
      assert.ok(failuresWhileLeading > 0, 'keep-alives failed while it still led');
      t.diagnostic(`stepped down ${steppedDownAt - spy.lastAnsweredAt} ms after the last confirmed keep-alive was sent (TTL ${ttl} ms, margin ${margin} ms; ${failuresWhileLeading} failed keep-alives, ${samples} fence samples)`);
    } finally {
      clearInterval(sampler);
      await Promise.all([m1!.start(), m2!.start()]);
    }
    await oneLeader([a]);
  });
});
