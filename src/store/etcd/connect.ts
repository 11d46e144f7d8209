import { readFileSync } from 'node:fs';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { BackendError } from '../backend.ts';
import { HostBreaker, MemberPassedOver } from './host-breaker.ts';

/** How to reach etcd. */
export interface EtcdConnection {
  /** `host:port` of every member to use (`http://` or `https://` prefixes are kept as given). */
  readonly endpoints: readonly string[];
  /** PEM files for TLS: the CA that signed etcd's certificate, and our client certificate and key. */
  readonly tls?: { readonly caFile: string; readonly certFile?: string; readonly keyFile?: string };
  /** Deadline of each request. Default 5 s: past it the store reports itself unavailable. */
  readonly requestTimeoutMs?: number;
  /** The time a member is passed over after a failure is read from it (`HostBreaker`). Default: the system clock. */
  readonly clock?: Clock;
}

/**
 * The endpoints of a `--store` value `etcd://HOST:2379[,HOST:2379…]`, and the root prefix
 * when the URL has a path (`etcd://h:2379/myprefix`, default `/flotilla`).
 */
export function parseEtcdUrl(url: string): { endpoints: string[]; root: string } {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(url);
  if (!m) throw new BackendError('invalid', `not an etcd store URL: ${JSON.stringify(url)} (expected etcd://HOST:PORT[,HOST:PORT…][/prefix])`);
  const endpoints = m[1]!.split(',').map((h) => h.trim()).filter((h) => h !== '');
  for (const e of endpoints) {
    if (!/^[^:\s]+:\d+$/.test(e) && !/^\[[0-9a-fA-F:]+\]:\d+$/.test(e)) {
      throw new BackendError('invalid', `bad etcd endpoint ${JSON.stringify(e)} in ${JSON.stringify(url)} (expected HOST:PORT)`);
    }
  }
  const path = m[2] === undefined || m[2] === '/' ? '/flotilla' : m[2].replace(/\/+$/, '');
  return { endpoints, root: path };
}

/**
 * An etcd client for `conn`. The client's own retries are off: a transaction retried after an
 * unknown outcome could report a conflict for its own commit, so a failed request is reported
 * (`unavailable`) and the caller decides; the next request may go to another member (a member
 * that just failed is passed over while another is usable: `HostBreaker`).
 */
export function connect(conn: EtcdConnection): Etcd3 {
  const scheme = conn.tls ? 'https://' : 'http://';
  const hosts = conn.endpoints.map((e) => (/^https?:\/\//.test(e) ? e : scheme + e));
  const timeout = conn.requestTimeoutMs ?? 5_000;
  const clock = conn.clock ?? systemClock;
  const members: HostBreaker[] = [];
  const options: IOptions = {
    hosts,
    dialTimeout: timeout,
    grpcOptions: {
      // Responses carry whole ranges of the store (tens of MB at 50,000 tasks).
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      // A member whose link is cut never answers nor resets: pings find the dead connection, so
      // the watches and lease keep-alives on it fail (and go to another member) within seconds
      // instead of hanging. etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time).
      'grpc.keepalive_time_ms': 6_000,
      'grpc.keepalive_timeout_ms': 2_000,
    },
    // gRPC's deadline is a wall-clock date.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    faultHandling: { global: noRetry, host: () => new HostBreaker(clock, members) as unknown as HostPolicy, watchBackoff: watchBackoff(100) },
  };
  if (conn.tls) {
    const read = (what: string, file: string): Buffer => {
      try {
        return readFileSync(file);
      } catch (err) {
        throw new BackendError('invalid', `cannot read the etcd ${what} ${file}: ${(err as Error).message}`, { cause: err });
      }
    };
    if ((conn.tls.certFile === undefined) !== (conn.tls.keyFile === undefined)) {
      throw new BackendError('invalid', 'an etcd client certificate needs its key, and a key its certificate (--etcd-cert with --etcd-key)');
    }
    options.credentials = {
      rootCertificate: read('CA certificate', conn.tls.caFile),
      ...(conn.tls.certFile !== undefined ? { certChain: read('client certificate', conn.tls.certFile) } : {}),
      ...(conn.tls.keyFile !== undefined ? { privateKey: read('client key', conn.tls.keyFile) } : {}),
    };
  }
  return new Etcd3(options);
}

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/** The client's global policy without retries (only `execute` is used by the client). */
const noRetry = {
  execute: async (fn: (ctx: { signal: AbortSignal }) => unknown) => fn({ signal: new AbortController().signal }),
} as unknown as Policy;

type HostPolicy = ReturnType<NonNullable<NonNullable<IOptions['faultHandling']>['host']>>;

type Backoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;

/**
 * How soon a broken watch stream reconnects: doubling from `ms` up to 2 s (the client's default
 * goes up to 30 s, and the store's watch is what every commit waits on after a failover).
 */
function watchBackoff(ms: number): Backoff {
  return { duration: ms, next: () => watchBackoff(Math.min(ms * 2, 2_000)) } as unknown as Backoff;
}

/**
 * An etcd client failure as a `BackendError`: `unavailable` ("store unavailable: …") when etcd
 * cannot be reached or does not answer in time, `too_large` for etcd's request limits,
 * `internal` otherwise. The etcd3 client reports these as error classes without codes; its
 * `isRecoverableError` is the library's own classification of transport failures.
 */
export function toBackendError(err: unknown, endpoints: readonly string[]): BackendError {
  if (err instanceof BackendError) return err;
  // Members passed over: what made them fail is the cause to report.
  if (err instanceof MemberPassedOver && err.lastFailure) return toBackendError(err.lastFailure, endpoints);
  const e = err instanceof Error ? err : new Error(String(err));
  // A member's circuit breaker (`HostBreaker`, cockatiel's BrokenCircuitError) refuses calls to a
  // member that failed moments ago: as unreachable as the member itself.
  const brokenCircuit = (e as { isBrokenCircuitError?: unknown }).isBrokenCircuitError === true;
  if (isRecoverableError(e) || e.name === 'GRPCDeadlineExceededError' || brokenCircuit) {
    return new BackendError('unavailable', `store unavailable: etcd at ${endpoints.join(',')} did not answer: ${e.message}`, { cause: e });
  }
  if (/request is too large|too many operations/.test(e.message)) {
    return new BackendError('too_large', `the write is larger than etcd accepts in one transaction: ${e.message}`, { cause: e });
  }
  return new BackendError('internal', `etcd failed: ${e.message}`, { cause: e });
}

/** etcd reports compaction only in the message ("mvcc: required revision has been compacted"). */
export function isCompactedMessage(err: unknown): boolean {
  return err instanceof Error && /required revision has been compacted/.test(err.message);
}

/**
 * Tries of a request before it is reported `unavailable`: enough to get past a dead member the
 * client picks at random until its circuit opens (3 failures).
 */
export function triesFor(endpoints: readonly string[]): number {
  return endpoints.length === 1 ? 2 : 3 * endpoints.length + 1;
}

/** Runs `fn` (a request safe to repeat: a read) up to `tries` times while it fails `unavailable`. */
export async function retryUnavailable<T>(fn: () => Promise<T>, tries: number): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof BackendError && err.code === 'unavailable' && n < tries)) throw err;
    }
  }
}
