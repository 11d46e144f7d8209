import { existsSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { FlotillaClient } from '../../src/client/client.ts';
import { ETCD_BIN } from '../../src/testing/etcd-server.ts';
import { API_PORT, flotillaArgv, flotillaEnv, inHost } from './flotilla.ts';
import { netnsPath } from './netns.ts';
import { GroupProcess } from './proc.ts';
import { waitFor } from './wait.ts';

/** etcd's client and peer ports on each manager's IP. */
const ETCD_CLIENT_PORT = 2379;
const ETCD_PEER_PORT = 2380;

/** One etcd member of the bed, in a manager's namespace, on that manager's IP. */
export interface BedEtcdMember {
  /** The manager's name (`m1` …), also the member's etcd name. */
  readonly name: string;
  readonly ns: string;
  readonly ip: string;
  /** Its data dir (`<bed>/m1/etcd`). */
  readonly dir: string;
  /** `IP:2379`. */
  readonly endpoint: string;
  readonly logFile: string;
  proc: GroupProcess | undefined;
}

/** A manager of the bed. */
export interface BedManager {
  /** `m` (the one manager on SQLite) or `m1`, `m2` … (managers on the bed's etcd). */
  readonly name: string;
  readonly ns: string;
  readonly ip: string;
  /** Its data dir: CA, admin credential, state, API socket. */
  readonly dir: string;
  /** `https://IP:4280`, reachable from the test process through the probe link. */
  readonly url: string;
  readonly socket: string;
  /** A client of its unix socket (fully trusted, like `flotilla` on the manager host). */
  readonly client: FlotillaClient;
  /** Its etcd member (managers on etcd only). */
  readonly etcd: BedEtcdMember | undefined;
  proc: GroupProcess | undefined;
}

/**
 * The managers of a bed: one (`m`, SQLite, `<subnet>.1`), or `count` on a 3-member-style etcd
 * cluster (`m1` … at `<subnet>.1` …, each namespace holding one etcd member and one manager).
 */
export function bedManagers(o: { count: number; subnet: string; dir: string; hostNs: (name: string) => string }): BedManager[] {
  return Array.from({ length: o.count }, (_, i) => {
    const name = o.count === 1 ? 'm' : `m${i + 1}`;
    const ip = `${o.subnet}.${i + 1}`;
    const dir = join(o.dir, o.count === 1 ? 'manager' : name);
    const ns = o.hostNs(name);
    const socket = join(dir, 'flotilla.sock');
    const etcd: BedEtcdMember | undefined =
      o.count === 1
        ? undefined
        : { name, ns, ip, dir: join(dir, 'etcd'), endpoint: `${ip}:${ETCD_CLIENT_PORT}`, logFile: join(o.dir, 'logs', `${name}-etcd.log`), proc: undefined };
    return { name, ns, ip, dir, url: `https://${ip}:${API_PORT}`, socket, client: new FlotillaClient({ socketPath: socket }), etcd, proc: undefined };
  });
}

/**
 * The `--store` of manager `m` on the bed's etcd: every member, its own first
 * (`etcd://IP1:2379,IP2:2379,IP3:2379`).
 */
export function storeUrl(m: BedManager, all: readonly BedManager[]): string {
  const own = m.etcd ? [m.etcd.endpoint] : [];
  return `etcd://${[...own, ...all.flatMap((x) => (x.etcd && x !== m ? [x.etcd.endpoint] : []))].join(',')}`;
}

/** Starts an etcd member in its manager's namespace (not waiting: a new cluster's members wait for each other). */
export function spawnEtcd(member: BedEtcdMember, all: readonly BedEtcdMember[], clusterToken: string): void {
  if (member.proc?.running) return;
  mkdirSync(member.dir, { recursive: true });
  const peer = (m: BedEtcdMember): string => `http://${m.ip}:${ETCD_PEER_PORT}`;
  const args = [
    `--name=${member.name}`,
    `--data-dir=${member.dir}`,
    `--listen-client-urls=http://${member.ip}:${ETCD_CLIENT_PORT}`,
    `--advertise-client-urls=http://${member.ip}:${ETCD_CLIENT_PORT}`,
    `--listen-peer-urls=${peer(member)}`,
    `--initial-advertise-peer-urls=${peer(member)}`,
    `--initial-cluster=${all.map((m) => `${m.name}=${peer(m)}`).join(',')}`,
    `--initial-cluster-token=${clusterToken}`,
    // Ignored once the data dir holds a member: a restarted member rejoins with its data.
    '--initial-cluster-state=new',
    // etcd's defaults (100 ms, 1 s): the machine is shared and loaded; faster would flap.
    '--heartbeat-interval=100',
    '--election-timeout=1000',
    // A member back from a cut link would otherwise call an election with the term it raised
    // while alone, and depose a working etcd leader (a second or two without keep-alives: the
    // new manager leader lost its lease, and the old one took over again). etcd 3.5's default.
    '--pre-vote=true',
  ];
  member.proc = new GroupProcess(`etcd ${member.name}`, ['nsenter', `--net=${netnsPath(member.ns)}`, ETCD_BIN, ...args], member.logFile);
}

/** Waits until the member serves a linearizable read (which needs the cluster's quorum). */
export async function etcdReady(member: BedEtcdMember, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => {
      const proc = member.proc;
      if (!proc?.running) throw new Error(`etcd member ${member.name} exited (${JSON.stringify(proc?.exit)}):\n${proc?.tail() ?? ''}`);
      // A client per try: the client's circuit breaker would refuse calls for a while after failures.
      const client = new Etcd3({ hosts: `http://${member.endpoint}` });
      try {
        await client.get('flotilla-bed-ready').options({ deadline: Date.now() + 2_000 });
        return true;
      } catch (err) {
        return `etcd member ${member.name}: ${(err as Error).message}`;
      } finally {
        client.close();
      }
    },
    timeoutMs,
    `etcd member ${member.name} to serve a read`,
    200,
  );
}

/**
 * Starts `flotilla server --no-agent` in the manager's namespace with `args` after the common
 * ones, and waits for its socket and HTTPS port.
 */
export async function startManagerProcess(m: BedManager, args: readonly string[], logDir: string): Promise<void> {
  if (m.proc?.running) return;
  const argv = ['server', '--no-agent', '--advertise-addr', m.ip, '--listen-addr', `${m.ip}:${API_PORT}`, '--data-dir', m.dir, ...args];
  const proc = new GroupProcess(`manager ${m.name}`, inHost(m.ns, m.name, flotillaArgv(argv)), join(logDir, m.name === 'm' ? 'manager.log' : `${m.name}-manager.log`), flotillaEnv());
  m.proc = proc;
  await waitFor(
    async () => {
      if (!proc.running) throw new Error(`flotilla server ${m.name} exited (${JSON.stringify(proc.exit)}):\n${proc.tail()}`);
      if (!existsSync(m.socket)) return 'no API socket yet';
      try {
        await m.client.info();
      } catch {
        return 'API socket does not answer';
      }
      return (await tcpOpen(m.ip, API_PORT)) || `port ${API_PORT} closed`;
    },
    90_000,
    `manager ${m.name} to serve its API socket and HTTPS port`,
  );
}

/** Whether a TCP connection to host:port opens (within 1 s). */
function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 1_000 });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.once('timeout', () => done(false));
  });
}
