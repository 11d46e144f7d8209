import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { Watcher } from 'etcd3';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { skipUnlessEtcd, startEtcd, type EtcdTestCluster } from '../../testing/etcd-server.ts';
import { EtcdBackend } from './etcd-backend.ts';
import { attachedWatchers } from './watch-teardown.ts';

const skip = skipUnlessEtcd();
/** Rounds of each race: enough that the old close() (which cleared etcd3's watcher list under an open stream) crashed every run. */
const ROUNDS = 15;

/** A clock on which every timer is due at once: `close` gives up on unconfirmed cancels at once, as it does when etcd is slow. */
const impatient: Clock = { ...systemClock, setTimer: (_ms, fn) => systemClock.setTimer(0, fn) };

/**
 * Errors no caller could catch (from etcd3's stream handlers), seen while `fn` runs. The test
 * runner would also report them, but later and against whichever test is running then.
 */
async function uncaughtDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onError = (err: unknown): void => void seen.push(err);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  try {
    await fn();
  } finally {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  }
  return seen;
}

/**
 * Another manager committing under `root` in a tight loop until `stop`: `commits(n)` resolves
 * once it has committed `n` more (each commit is seen by every watch under the root).
 */
function writer(other: EtcdBackend): { commits(n: number): Promise<void>; stop(): Promise<void> } {
  let done = 0;
  let stopped = false;
  let waiting: { until: number; resolve: () => void } | undefined;
  const loop = (async () => {
    for (let n = 0; !stopped; n++) {
      await other.txn([], [{ type: 'put', key: `/nodes/${n % 8}`, value: 'x'.repeat(512) }]);
      done++;
      if (waiting && done >= waiting.until) waiting.resolve();
    }
  })();
  return {
    commits: (n) => new Promise<void>((resolve) => (waiting = { until: done + n, resolve })),
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** A watcher of another part sharing the backend's client (as the election's), connected. */
async function foreignWatcher(b: EtcdBackend): Promise<Watcher> {
  const w = b.client.watch().prefix(`${b.root}/`).watcher();
  w.on('error', () => undefined);
  await once(w, 'connected');
  return w;
}

let etcd: EtcdTestCluster | undefined;

void describe('etcd backend close', { skip }, () => {
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.stop();
  });

  const open = (root: string, clock: Clock = systemClock): Promise<EtcdBackend> => EtcdBackend.open({ endpoints: etcd!.endpoints, root, clock });

  /** Closes `b` while `other` commits under its root, and waits for commits after the close. */
  async function closeDuringWrites(b: EtcdBackend, other: EtcdBackend): Promise<void> {
    const w = writer(other);
    try {
      await w.commits(3);
      await b.close();
      await w.commits(20); // responses a still-open stream would carry arrive meanwhile
    } finally {
      await w.stop();
    }
  }

  void it('throws nothing uncaught when its own cancels are not confirmed in time while another manager writes', async () => {
    const seen = await uncaughtDuring(async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const root = `/flotilla-test/${randomUUID()}`;
        const other = await open(root);
        const b = await open(root, impatient);
        await closeDuringWrites(b, other);
        assert.equal(attachedWatchers(b.client), 0);
        await other.close();
      }
    });
    assert.deepEqual(seen, []);
  });

  void it('throws nothing uncaught when another part’s watcher is still on its client while another manager writes', async () => {
    const seen = await uncaughtDuring(async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const root = `/flotilla-test/${randomUUID()}`;
        const other = await open(root);
        const b = await open(root);
        await foreignWatcher(b);
        await closeDuringWrites(b, other);
        assert.equal(attachedWatchers(b.client), 0);
        await other.close();
      }
    });
    assert.deepEqual(seen, []);
  });

  void it('leaves no watcher attached (nothing reconnecting) when etcd does not answer the cancels', async () => {
    const own = await startEtcd();
    try {
      const seen = await uncaughtDuring(async () => {
        const b = await EtcdBackend.open({ endpoints: own.endpoints, root: `/flotilla-test/${randomUUID()}` });
        await foreignWatcher(b);
        own.members[0]!.pause();
        try {
          await b.close(); // bounded: 2 s
          assert.equal(attachedWatchers(b.client), 0);
        } finally {
          own.members[0]!.resume();
        }
      });
      assert.deepEqual(seen, []);
    } finally {
      await own.stop();
    }
  });

  void it('knows the etcd3 client it tears down (an upgrade that changed its watch manager fails here)', async () => {
    const b = await open(`/flotilla-test/${randomUUID()}`);
    await foreignWatcher(b);
    assert.equal(attachedWatchers(b.client), 2); // the backend's own and this one
    await b.close();
    assert.equal(attachedWatchers(b.client), 0);
  });
});
