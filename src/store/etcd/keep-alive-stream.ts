import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';

/** A lease keep-alive stream, and the member it went to (opaque: only compared). */
export interface KeepAliveStream {
  readonly stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;
  readonly member: object | undefined;
}

/** What this module uses of etcd3 1.1's connection pool (`Namespace.pool`, not public). */
interface Pool {
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
  if (typeof pool?.withConnection !== 'function' || typeof pool.shuffledHosts !== 'function' || typeof pool.markFailed !== 'function') {
    return { stream: await client.leaseClient.leaseKeepAlive(), member: undefined };
  }
  const p = pool as Pool;
  return p.withConnection(
    'Lease',
    ({ resource, client: grpc, metadata }) => {
      const stream = (grpc as { leaseKeepAlive(metadata: unknown, options: object): KeepAliveStream['stream'] }).leaseKeepAlive(metadata, {});
      // As etcd3's own leaseKeepAlive: a failed stream counts against its member's circuit.
      stream.on('error', (err: Error) => (stream as unknown as { writable: boolean }).writable && p.markFailed(resource, err));
      return { stream, member: resource };
    },
    avoiding(p.shuffledHosts(), avoid),
  );
}

/** `hosts` (an endless shuffle) with `avoid` passed over once each time it comes first: with one member, that one. */
function* avoiding(hosts: Generator<object, void, unknown>, avoid: object | undefined): Generator<object, void, unknown> {
  for (;;) {
    const next = hosts.next();
    if (next.done === true) return;
    if (next.value !== avoid) {
      yield next.value;
      continue;
    }
    const other = hosts.next();
    if (other.done === true) return;
    yield other.value;
  }
}
