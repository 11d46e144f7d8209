import type { Clock } from '../../lib/clock.ts';
import type { EtcdConnection } from './connect.ts';

/** Options of `EtcdBackend.open`. */
export interface EtcdBackendOptions extends EtcdConnection {
  /** Every key of the store lives under it. Default `/flotilla`. */
  readonly root?: string;
  /** etcd's `--max-txn-ops` (default 128 in etcd 3.4): one op is the revision counter's. */
  readonly maxTxnOps?: number;
  /** etcd's `--max-request-bytes` (default 1.5 MiB). */
  readonly maxRequestBytes?: number;
  /**
   * History kept: every `historyRevisions / 10` of its own commits, the backend compacts etcd
   * to `historyRevisions` behind (etcd-wide; 0: never, leave it to etcd's
   * `--auto-compaction-*`). Default 10,000, as the SQLite backend keeps.
   */
  readonly historyRevisions?: number;
  /**
   * The id of the manager writing through this backend: every commit's token names it
   * (`commitToken`), so etcd's history says which manager wrote each commit. Letters, digits,
   * `_` and `-` only. Default: none (commits name no writer).
   */
  readonly writerId?: string;
  /** Timers (how long a txn waits for the watch to catch up). Default: the system clock. */
  readonly clock?: Clock;
  /**
   * Largest store transaction, in bytes of keys and values (default 64 MiB): above it `too_large`,
   * nothing written. One larger than an etcd request (`limits`) is staged (README "Large transactions").
   */
  readonly maxTxnBytes?: number;
  /** Seconds the staging of a writer that died midway lives before it is cleaned. Default 60. */
  readonly stagingLeaseSeconds?: number;
  /**
   * Tests only: called between the steps of a staged commit (`staged`: chunks written, commit txn
   * not sent; `committed`: committed, not rolled forward). A rejection stops the commit there,
   * as a crash would (nothing cleaned; the txn rejects with it).
   */
  readonly stagedStepForTest?: (step: 'staged' | 'committed') => Promise<void> | void;
}
