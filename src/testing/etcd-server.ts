import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { freePorts } from './free-port.ts';

/** Debian's etcd-server puts it here; FLOTILLA_ETCD_BIN overrides. */
export const ETCD_BIN = process.env['FLOTILLA_ETCD_BIN'] ?? '/usr/bin/etcd';

/** Why etcd tests cannot run here, or undefined. */
export function etcdUnavailable(): string | undefined {
  return existsSync(ETCD_BIN) ? undefined : `${ETCD_BIN} is missing (apt-get install etcd-server)`;
}

/**
 * The `skip` option of an etcd test suite: skipped with the reason when there is no etcd,
 * unless FLOTILLA_REQUIRE_ETCD=1 (CI), where the suite runs and fails.
 */
export function skipUnlessEtcd(): string | false {
  const reason = etcdUnavailable();
  return reason === undefined || process.env['FLOTILLA_REQUIRE_ETCD'] === '1' ? false : `skipped: ${reason}`;
}

/** PEM files of a test etcd with TLS: its CA, and a client certificate and key it accepts. */
export interface EtcdTlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface EtcdMember {
  readonly name: string;
  /** `127.0.0.1:PORT` for clients. */
  readonly endpoint: string;
  readonly running: boolean;
  /** Stops the process (SIGTERM, then SIGKILL after 10 s); its data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data, and waits until it answers. */
  start(): Promise<void>;
  /**
   * Freezes the process (SIGSTOP): its connections stay open and nothing answers, as a hung
   * host or a silently dropped link. `resume` (SIGCONT) lets it go on.
   */
  pause(): void;
  resume(): void;
}

export interface EtcdTestCluster {
  readonly members: readonly EtcdMember[];
  /** Every member's client endpoint. */
  readonly endpoints: readonly string[];
  /** Present when started with `tls: true`. */
  readonly tls: EtcdTlsFiles | undefined;
  /** Stops every member and removes the data and certificates. */
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  /** 1 (default) or 3 members, on loopback ports chosen free. */
  readonly members?: number;
  /** Clients must use TLS with a client certificate (made with openssl). */
  readonly tls?: boolean;
}

const exec = promisify(execFile);

/**
 * A real etcd (one member or a cluster) for tests, in a temporary directory. etcd takes its
 * ports on its command line, so they are picked free a moment before it binds them; another
 * process may take one in between: then (a member exited, its log says the address is in use)
 * it starts again on other ports.
 */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdTestCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (attempt >= 5 || !(err instanceof PortTaken)) throw err;
    }
  }
}

/** A member could not bind a port picked for it: another process took it first. */
class PortTaken extends Error {}

async function startOnce(options: StartEtcdOptions): Promise<EtcdTestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-etcd-'));
  const count = options.members ?? 1;
  const tls = options.tls ? await makeCertificates(dir) : undefined;
  const ports = await freePorts(count * 2);
  const names = Array.from({ length: count }, (_, i) => `m${i}`);
  const token = `flotilla-test-${process.pid}-${Date.now()}`;
  // etcd's own member names are unique to this start: `ready` checks the member answering on
  // a port is ours, not another test's etcd that took the port first (then ours cannot bind).
  const etcdName = (n: string): string => `${n}-${token}`;
  const peers = names.map((n, i) => `${etcdName(n)}=http://127.0.0.1:${ports[2 * i + 1]!}`).join(',');
  const members = names.map((name, i) => {
    const clientPort = ports[2 * i]!;
    const peerPort = ports[2 * i + 1]!;
    const scheme = tls ? 'https' : 'http';
    const args = [
      `--name=${etcdName(name)}`,
      `--data-dir=${join(dir, name)}`,
      `--listen-client-urls=${scheme}://127.0.0.1:${clientPort}`,
      `--advertise-client-urls=${scheme}://127.0.0.1:${clientPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=${peers}`,
      `--initial-cluster-token=${token}`,
      '--initial-cluster-state=new',
      // Fast elections on loopback; snapshots small, so a restarted member catches up.
      '--heartbeat-interval=50',
      '--election-timeout=500',
      ...(tls ? [`--cert-file=${tls.serverCert}`, `--key-file=${tls.serverKey}`, `--trusted-ca-file=${tls.caFile}`, '--client-cert-auth'] : []),
    ];
    return new Member(name, etcdName(name), `127.0.0.1:${clientPort}`, args, join(dir, `${name}.log`), tls);
  });
  const cluster: EtcdTestCluster = {
    members,
    endpoints: members.map((m) => m.endpoint),
    tls: tls ? { caFile: tls.caFile, certFile: tls.clientCert, keyFile: tls.clientKey } : undefined,
    async stop() {
      await Promise.all(members.map((m) => m.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    // Members of a new cluster wait for each other: start all, then wait for each.
    for (const m of members) m.spawn();
    await Promise.all(members.map((m) => m.ready()));
  } catch (err) {
    const logs = members.map((m) => m.log()).join('\n');
    await cluster.stop();
    if (/address already in use/.test(logs)) throw new PortTaken(`etcd could not bind its ports: ${String(err)}`, { cause: err });
    throw err;
  }
  return cluster;
}

interface ServerTls {
  readonly caFile: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

class Member implements EtcdMember {
  readonly name: string;
  readonly endpoint: string;
  /** etcd's name for it (`--name`), unique to this start. */
  readonly #etcdName: string;
  readonly #args: string[];
  readonly #logFile: string;
  readonly #tls: ServerTls | undefined;
  #proc: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(name: string, etcdName: string, endpoint: string, args: string[], logFile: string, tls: ServerTls | undefined) {
    this.name = name;
    this.#etcdName = etcdName;
    this.endpoint = endpoint;
    this.#args = args;
    this.#logFile = logFile;
    this.#tls = tls;
  }

  /** The member's log so far ('' when unreadable). */
  log(): string {
    try {
      return readFileSync(this.#logFile, 'utf8');
    } catch {
      return '';
    }
  }

  get running(): boolean {
    return this.#proc !== undefined;
  }

  spawn(): void {
    if (this.#proc) return;
    const log = openSync(this.#logFile, 'a');
    const proc = spawn(ETCD_BIN, this.#args, { stdio: ['ignore', log, log] });
    closeSync(log);
    this.#proc = proc;
    this.#exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    void this.#exited.then(() => {
      if (this.#proc === proc) this.#proc = undefined;
    });
  }

  async start(): Promise<void> {
    this.spawn();
    await this.ready();
  }

  async stop(): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    proc.kill('SIGCONT'); // a paused member would not hear the SIGTERM
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
    this.#proc = undefined;
  }

  pause(): void {
    this.#proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.#proc?.kill('SIGCONT');
  }

  /** Waits until the member serves a read (a linearizable one needs the cluster's quorum). */
  async ready(): Promise<void> {
    const client = new Etcd3({
      hosts: `${this.#tls ? 'https' : 'http'}://${this.endpoint}`,
      ...(this.#tls
        ? { credentials: { rootCertificate: await readFile(this.#tls.caFile), certChain: await readFile(this.#tls.clientCert), privateKey: await readFile(this.#tls.clientKey) } }
        : {}),
    });
    const deadline = Date.now() + 30_000;
    try {
      for (;;) {
        if (!this.#proc) throw new Error(`etcd member ${this.name} exited; see ${this.#logFile}`);
        try {
          await client.get('flotilla-test-ready').options({ deadline: Date.now() + 1_000 });
          const members = (await client.cluster.memberList({})).members ?? [];
          // A member not yet published has no name: ask again.
          if (members.some((m) => !m.name)) throw new Error('a member has not published its name yet');
          if (!members.some((m) => m.name === this.#etcdName)) {
            throw new PortTaken(`another etcd answers on ${this.endpoint} (members ${members.map((m) => m.name).join(', ')}): member ${this.name} could not bind it`);
          }
          return;
        } catch (err) {
          if (err instanceof PortTaken) throw err;
          if (Date.now() > deadline) throw new Error(`etcd member ${this.name} did not answer within 30 s; see ${this.#logFile}`, { cause: err });
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      client.close();
    }
  }
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
async function makeCertificates(dir: string): Promise<ServerTls> {
  const f = (name: string): string => join(dir, name);
  const ossl = (...args: string[]): Promise<unknown> => exec('openssl', args);
  await ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=flotilla test etcd CA');
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    await ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`), '-subj', `/CN=flotilla-test-${who}`);
    await ossl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${who}.crt`), '-days', '2', '-extfile', f(`${who}.ext`));
  }
  return { caFile: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key'), clientCert: f('client.crt'), clientKey: f('client.key') };
}
