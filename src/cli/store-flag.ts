import type { Command } from 'commander';
import { parseJoinToken } from '../api/join.ts';
import type { BackendFactory, LeadershipFactory } from '../manager/manager.ts';
import { UsageError } from './parse.ts';

/** The store flags of `flotilla server` and `flotilla dev`. */
export interface StoreFlags {
  /** `etcd://HOST:2379[,HOST:2379…][/prefix]`; absent: embedded SQLite in the data dir. */
  store?: string;
  etcdCacert?: string;
  etcdCert?: string;
  etcdKey?: string;
  /** `--join-token`: the manager join token of the cluster already in the (etcd) store. */
  joinToken?: string;
  /** Where `joinToken` came from, for messages (`--join-token-file F`, `FLOTILLA_MANAGER_TOKEN`). Default `--join-token`. */
  joinTokenFrom?: string;
}

/**
 * The backend factory `--store` names, or undefined for the default (SQLite in the data dir).
 * TLS to etcd is on when `--etcd-cacert` is given (with `--etcd-cert`/`--etcd-key` for a
 * client certificate). The etcd backend (and its client) is loaded only when `--store` names
 * etcd, so other commands and `--help` do not load it.
 */
export async function storeBackend(flags: StoreFlags): Promise<BackendFactory | undefined> {
  const { store, etcdCacert, etcdCert, etcdKey, joinToken } = flags;
  const from = flags.joinTokenFrom ?? '--join-token';
  const tlsGiven = etcdCacert !== undefined || etcdCert !== undefined || etcdKey !== undefined;
  if (store === undefined || store === 'sqlite') {
    if (tlsGiven) throw new UsageError('--etcd-cacert, --etcd-cert and --etcd-key need --store etcd://HOST:PORT');
    if (joinToken !== undefined) {
      throw new UsageError(`${from} adds a manager to a cluster whose state is in a shared store: it needs --store etcd://HOST:PORT (an embedded SQLite store has exactly one manager)`);
    }
    return undefined;
  }
  if (joinToken !== undefined && 'error' in parseJoinToken(joinToken)) {
    throw new UsageError(`invalid ${from}: expected FLT1-<64 hex digits>-<32 characters>, as \`flotilla token manager -q\` prints it on a running manager`);
  }
  const { isBackendError } = await import('../store/backend.ts');
  const { parseEtcdUrl } = await import('../store/etcd/connect.ts');
  const { EtcdBackend } = await import('../store/etcd/etcd-backend.ts');
  let parsed;
  try {
    parsed = parseEtcdUrl(store);
  } catch (err) {
    if (isBackendError(err)) throw new UsageError(`invalid --store: ${err.message}`);
    throw err;
  }
  if (tlsGiven && etcdCacert === undefined) throw new UsageError('--etcd-cert and --etcd-key need --etcd-cacert (the CA that signed etcd’s certificate)');
  if ((etcdCert === undefined) !== (etcdKey === undefined)) throw new UsageError('--etcd-cert and --etcd-key go together');
  const { endpoints, root } = parsed;
  const tls =
    etcdCacert === undefined
      ? undefined
      : { caFile: etcdCacert, ...(etcdCert !== undefined ? { certFile: etcdCert } : {}), ...(etcdKey !== undefined ? { keyFile: etcdKey } : {}) };
  // `writerId`: every commit names this manager (the same id it joins the election with), so
  // etcd's history says who wrote what.
  return async ({ clock, managerId }) => EtcdBackend.open({ endpoints, root, clock, writerId: managerId, ...(tls ? { tls } : {}) });
}

/**
 * The leadership that goes with `--store`: the etcd election for an etcd store (several
 * managers may share it; one leads), undefined for SQLite (one manager, always the leader).
 */
export async function storeLeadership(flags: Pick<StoreFlags, 'store'>): Promise<LeadershipFactory | undefined> {
  if (flags.store === undefined || flags.store === 'sqlite') return undefined;
  return (await import('../manager/etcd-leadership.ts')).etcdLeadership;
}

/** Adds `--store` and `--etcd-cacert/--etcd-cert/--etcd-key` to a command (`server`, `dev`). */
export function storeOptions(command: Command): Command {
  return command
    .option('--store <url>', 'Cluster state store: etcd://HOST:2379[,HOST:2379…][/prefix] (default: embedded SQLite in the data dir)')
    .option('--etcd-cacert <file>', 'CA certificate that signed etcd’s (TLS to etcd)')
    .option('--etcd-cert <file>', 'Client certificate for etcd (with --etcd-key)')
    .option('--etcd-key <file>', 'Key of the etcd client certificate');
}
