import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import { isCancel } from './host-breaker.ts';

/** A lease keep-alive stream, and the member it went to (opaque: only compared). */
export interface KeepAliveStream {
  readonly stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;
  readonly member: object | undefined;
  /** Cancels the stream: our own doing, so no failure of the member (its 'error', CANCELLED, follows). */
  cancel(): void;
}

/** What this module uses of etcd3 1.1's connection pool (`Namespace.pool`, not public). */
interface Pool {
  readonly hosts: readonly object[];
  withConnection<T>(service: 'Lease', fn: (args: { resource: object; client: unknown; metadata: unknown }) => T, hosts?: Generator<object, void, unknown>): Promise<T>;
  markFailed(resource: object, error: Error): void;
  shuffledHosts(): Generator<object, void, unknown>;
}

/**
 * Opens a keep-alive stream on a member other than `avoid` (the one the last failed keep-alive
 * went to) whenever there is another. The client's own choice does not fail over for streams:
 * it picks a member at random and skips one whose circuit breaker opened, but opening a stream
 * counts as a success to the breaker, so a dead member's circuit never opens and each retry
 * may go back to it. This reaches into etcd3 1.1's pool, as its own `leaseKeepAlive` does
 * (`election.test.ts` checks the failover); without that pool it falls back to the client's choice.
 */
export async function openKeepAlive(client: Etcd3, avoid: object | undefined): Promise<KeepAliveStream> {
  const pool = (client as unknown as { pool?: Partial<Pool> }).pool;
  if (typeof pool?.withConnection !== 'function' || typeof pool.shuffledHosts !== 'function' || typeof pool.markFailed !== 'function' || !Array.isArray(pool.hosts)) {
    const stream = await client.leaseClient.leaseKeepAlive();
    return { stream, member: undefined, cancel: () => stream.cancel() };
  }
  const p = pool as Pool;
  return p.withConnection(
    'Lease',
    ({ resource, client: grpc, metadata }) => {
      const stream = (grpc as { leaseKeepAlive(metadata: unknown, options: object): KeepAliveStream['stream'] }).leaseKeepAlive(metadata, {});
      let cancelled = false;
      // As etcd3's own leaseKeepAlive, a failed stream counts against its member's circuit; not
      // one we cancelled (a slow answer, a stop): that would reset the member's connections and
      // pass it over for seconds.
      stream.on('error', (err: Error) => {
        if (cancelled || isCancel(err) || !(stream as unknown as { writable: boolean }).writable) return;
        p.markFailed(resource, err);
      });
      const cancel = (): void => {
        cancelled = true;
        stream.cancel();
      };
      return { stream, member: resource, cancel };
    },
    avoiding(p.shuffledHosts(), p.hosts.length, avoid),
  );
}

/**
 * `hosts` (an endless shuffle, a round of `count` at a time) with `avoid` moved to the end of
 * each round: the others are tried first, and with one member, that one.
 */
function* avoiding(hosts: Generator<object, void, unknown>, count: number, avoid: object | undefined): Generator<object, void, unknown> {
  if (count < 1) return;
  for (;;) {
    const round: object[] = [];
    for (let i = 0; i < count; i++) {
      const next = hosts.next();
      if (next.done === true) return;
      round.push(next.value);
    }
    yield* round.filter((h) => h !== avoid);
    if (round.includes(avoid as object)) yield avoid as object;
  }
}
