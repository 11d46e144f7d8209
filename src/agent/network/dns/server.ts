import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import type { NetworkMap } from '../../../api/network.ts';
import type { Clock, TimerHandle } from '../../../lib/clock.ts';
import { Lifecycle } from '../../../lib/lifecycle.ts';
import type { Logger } from '../../../lib/logger.ts';
import { decide, failure, SERVFAIL, type Decision, type Transport } from './answer.ts';
import { forward, parseUpstream, resolvConfUpstreams, type Upstream } from './forward.ts';
import { dnsTable, EMPTY_TABLE, type DnsTable } from './names.ts';

/**
 * The agent's DNS server: answers the names of the network map on each local network's
 * gateway address and forwards every other name to the host's resolvers (see README.md).
 */

/** One address to answer on, and the network it belongs to. */
export interface DnsListen {
  readonly address: string;
  readonly networkId: string;
}

export interface DnsServerDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * The networks of the task whose address is `sourceIp`, the one to look in first first;
   * undefined when the address is no local task's (the query is then answered for the
   * network whose gateway it came to).
   */
  readonly scope?: (sourceIp: string) => readonly string[] | undefined;
  /**
   * The upstream servers (`1.2.3.4`, `1.2.3.4:5353`, `[::1]:5353`). Default: the `nameserver`
   * lines of `options.resolvConf`, read at start and on every `update`.
   */
  readonly upstreams?: readonly string[];
  /** Random number in [0, 1), for the order of A records. Default `Math.random`. */
  readonly random?: () => number;
}

export interface DnsServerOptions {
  /** UDP and TCP port on every listen address. Default 53. */
  port?: number;
  /** Where the host's resolvers are read from. Default `/etc/resolv.conf`. */
  resolvConf?: string;
  /** Wait for one upstream server's answer. Default 2 s. */
  upstreamTimeoutMs?: number;
  /** Forwarded queries in flight at most; past it the asker gets SERVFAIL at once. Default 1,000. */
  maxForwards?: number;
  /** Open TCP connections at most (over all addresses); past it new ones are closed. Default 256. */
  maxTcpConnections?: number;
  /** A TCP connection idle this long is closed. Default 10 s. */
  tcpIdleMs?: number;
  /** Wait before binding again an address that failed to bind (its bridge may not be up yet). Default 1 s. */
  rebindMs?: number;
}

type CompiledOptions = Required<DnsServerOptions>;

function compile(options: DnsServerOptions): CompiledOptions {
  return {
    port: options.port ?? 53,
    resolvConf: options.resolvConf ?? '/etc/resolv.conf',
    upstreamTimeoutMs: options.upstreamTimeoutMs ?? 2_000,
    maxForwards: options.maxForwards ?? 1_000,
    maxTcpConnections: options.maxTcpConnections ?? 256,
    tcpIdleMs: options.tcpIdleMs ?? 10_000,
    rebindMs: options.rebindMs ?? 1_000,
  };
}

/** Counters since start. */
export interface DnsStats {
  /** Queries answered from the table (records, NODATA, or an error code of ours). */
  answered: number;
  /** Forwarded queries whose upstream answer was relayed. */
  forwarded: number;
  /** SERVFAIL sent: every upstream failed, or too many forwards were in flight. */
  failed: number;
  /** Messages dropped: unreadable, or a response sent to us. */
  dropped: number;
}

interface Binding {
  readonly address: string;
  networkId: string;
  readonly udp: UdpSocket;
  readonly tcp: Server;
  readonly connections: Set<Socket>;
}

/**
 * Serves DNS on a set of addresses. `update` swaps the names at once (the next query sees
 * them) and binds and unbinds addresses in the background of the returned promise; an
 * address that fails to bind is logged and tried again every `rebindMs` while still listed.
 */
export class DnsServer {
  readonly #deps: DnsServerDeps;
  readonly #logger: Logger;
  readonly #options: CompiledOptions;
  readonly #random: () => number;
  readonly #lifecycle = new Lifecycle('dns server');
  readonly #abort = new AbortController();
  readonly #bindings = new Map<string, Binding>();
  /** Addresses that failed to bind (logged once, retried every `rebindMs`). */
  readonly #failing = new Set<string>();
  #table: DnsTable = EMPTY_TABLE;
  #listen = new Map<string, string>();
  #upstreams: readonly Upstream[] = [];
  #upstreamsRead = false;
  #reconciling: Promise<void> = Promise.resolve();
  #rebindTimer: TimerHandle | undefined;
  #forwardsInFlight = 0;
  #tcpConnections = 0;
  readonly #stats: DnsStats = { answered: 0, forwarded: 0, failed: 0, dropped: 0 };

  constructor(deps: DnsServerDeps, options: DnsServerOptions = {}) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'dns' });
    this.#options = compile(options);
    this.#random = deps.random ?? Math.random;
    if (deps.upstreams) this.#upstreams = parseUpstreams(deps.upstreams);
  }

  /** Reads the upstream servers and binds the addresses `update` gave before. */
  async start(): Promise<void> {
    await this.#lifecycle.startWith(async () => {
      await this.#readUpstreams();
    });
    await this.#reconcile();
  }

  /** Closes every socket and connection; forwards in flight are abandoned. Idempotent. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(async () => {
      this.#rebindTimer?.cancel();
      this.#abort.abort(new Error('dns server stopped'));
      await this.#reconciling.catch(() => {});
      await Promise.all([...this.#bindings.values()].map((b) => closeBinding(b)));
      this.#bindings.clear();
    });
  }

  /**
   * Answers `table` from now on, on exactly the `listen` addresses: binds new ones, closes
   * those no longer listed. Resolves once the sockets are settled (failed binds are logged
   * and retried). Before `start` it only records what to serve; after `stop` it does nothing.
   */
  update(table: DnsTable, listen: readonly DnsListen[]): Promise<void> {
    this.#table = table;
    this.#listen = new Map(listen.map((l) => [stripPrefix(l.address), l.networkId]));
    for (const [address, networkId] of this.#listen) {
      const b = this.#bindings.get(address);
      if (b) b.networkId = networkId;
    }
    return this.#reconcileAfterUpstreams();
  }

  /** Resolves once the binds and unbinds under way (an update's, or a retry's) are done. */
  settled(): Promise<void> {
    return this.#reconciling;
  }

  /** The port served on every address. */
  get port(): number {
    return this.#options.port;
  }

  /** The addresses bound now. */
  get listening(): readonly string[] {
    return [...this.#bindings.keys()];
  }

  /** The upstream servers in use. */
  get upstreams(): readonly Upstream[] {
    return this.#upstreams;
  }

  get stats(): Readonly<DnsStats> {
    return { ...this.#stats };
  }

  async #reconcileAfterUpstreams(): Promise<void> {
    if (!this.#lifecycle.running) return;
    await this.#readUpstreams();
    await this.#reconcile();
  }

  /** Re-reads the resolvers (unless given); a failed read keeps the ones before. */
  async #readUpstreams(): Promise<void> {
    if (this.#deps.upstreams) return;
    try {
      const found = resolvConfUpstreams(await readFile(this.#options.resolvConf, 'utf8'));
      const text = (us: readonly Upstream[]): string => us.map((u) => `${u.host}:${u.port}`).join(' ');
      if (this.#upstreamsRead && text(found) === text(this.#upstreams)) return;
      this.#upstreamsRead = true;
      if (found.length === 0) this.#logger.warn({ file: this.#options.resolvConf }, 'no nameserver: names not in the map will get SERVFAIL');
      else this.#logger.info({ upstreams: text(found) }, 'dns forwards other names to the host resolvers');
      this.#upstreams = found;
    } catch (err) {
      this.#logger.warn({ err, file: this.#options.resolvConf }, 'cannot read the host resolvers; keeping the ones before');
    }
  }

  /** Binds and unbinds to match `#listen`, one reconcile at a time. */
  #reconcile(): Promise<void> {
    const run = this.#reconciling.then(() => this.#reconcileOnce());
    this.#reconciling = run.catch(() => {});
    return run;
  }

  async #reconcileOnce(): Promise<void> {
    if (!this.#lifecycle.running) return;
    const gone = [...this.#bindings.values()].filter((b) => !this.#listen.has(b.address));
    for (const b of gone) this.#bindings.delete(b.address);
    await Promise.all(gone.map((b) => closeBinding(b)));
    for (const address of this.#failing) if (!this.#listen.has(address)) this.#failing.delete(address);

    const wanted = [...this.#listen].filter(([address]) => !this.#bindings.has(address));
    await Promise.all(
      wanted.map(async ([address, networkId]) => {
        try {
          const binding = await this.#bind(address, networkId);
          if (!this.#lifecycle.running || this.#listen.get(address) === undefined) {
            await closeBinding(binding);
            return;
          }
          binding.networkId = this.#listen.get(address) ?? networkId;
          this.#bindings.set(address, binding);
          if (this.#failing.delete(address)) this.#logger.info({ address }, 'dns listening after earlier failures');
        } catch (err) {
          if (!this.#failing.has(address)) this.#logger.warn({ err, address, port: this.#options.port }, 'dns cannot listen; retrying');
          this.#failing.add(address);
        }
      }),
    );
    if (this.#failing.size > 0 && !this.#rebindTimer && this.#lifecycle.running) {
      this.#rebindTimer = this.#deps.clock.setTimer(this.#options.rebindMs, () => {
        this.#rebindTimer = undefined;
        void this.#reconcile();
      });
    }
  }

  async #bind(address: string, networkId: string): Promise<Binding> {
    const udp = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ address, port: this.#options.port, exclusive: true }, () => {
        udp.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      udp.close();
      throw err;
    });
    const tcp = createServer({ allowHalfOpen: true });
    const binding: Binding = { address, networkId, udp, tcp, connections: new Set() };
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: address, port: this.#options.port, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    udp.on('error', (err) => this.#logger.warn({ err, address }, 'dns udp socket error'));
    tcp.on('error', (err) => this.#logger.warn({ err, address }, 'dns tcp server error'));
    udp.on('message', (message, rinfo) => this.#onUdp(binding, message, rinfo));
    tcp.on('connection', (socket) => this.#onTcp(binding, socket));
    return binding;
  }

  #onUdp(binding: Binding, message: Buffer, rinfo: RemoteInfo): void {
    this.#handle(binding, message, rinfo.address, 'udp', (response) => {
      try {
        binding.udp.send(response, rinfo.port, rinfo.address, (err) => {
          if (err) this.#logger.debug({ err, to: rinfo.address }, 'dns answer not sent');
        });
      } catch {
        // The address was unbound while the answer was on its way upstream.
      }
    });
  }

  #onTcp(binding: Binding, socket: Socket): void {
    if (this.#tcpConnections >= this.#options.maxTcpConnections || !this.#lifecycle.running) {
      socket.destroy();
      return;
    }
    this.#tcpConnections++;
    binding.connections.add(socket);
    const source = unmapped(socket.remoteAddress ?? '');
    let buffered: Buffer = Buffer.alloc(0);
    let pending = 0;
    let ended = false;
    let idle: TimerHandle | undefined;
    const touch = (): void => {
      idle?.cancel();
      idle = this.#deps.clock.setTimer(this.#options.tcpIdleMs, () => socket.destroy());
    };
    touch();
    socket.on('close', () => {
      idle?.cancel();
      this.#tcpConnections--;
      binding.connections.delete(socket);
    });
    socket.on('error', () => socket.destroy());
    socket.on('end', () => {
      ended = true;
      if (pending === 0) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      touch();
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (length < 12) {
          // Shorter than a DNS header: not DNS. Close, never guess at the framing.
          this.#stats.dropped++;
          socket.destroy();
          return;
        }
        if (buffered.length < 2 + length) return;
        const message = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        pending++;
        const answered = this.#handle(binding, message, source, 'tcp', (response) => {
          pending--;
          if (socket.destroyed) return;
          const frame = Buffer.allocUnsafe(2 + response.length);
          frame.writeUInt16BE(response.length, 0);
          response.copy(frame, 2);
          socket.write(frame);
          if (ended && pending === 0) socket.end();
        });
        if (!answered) {
          socket.destroy();
          return;
        }
      }
    });
  }

  /**
   * Decides and replies (now, or when the upstream answers). False when the message was
   * dropped (the TCP caller then closes the connection).
   */
  #handle(binding: Binding, message: Buffer, source: string, transport: Transport, reply: (response: Buffer) => void): boolean {
    let decision: Decision;
    try {
      decision = decide(message, {
        table: this.#table,
        networkIds: this.#networkIds(source, binding.networkId),
        transport,
        random: this.#random,
      });
    } catch (err) {
      // Never expected (decide reads defensively); a throw here would otherwise end the agent.
      this.#logger.debug({ err, from: source }, 'dns query dropped');
      decision = { kind: 'drop' };
    }
    switch (decision.kind) {
      case 'drop':
        this.#stats.dropped++;
        return false;
      case 'answer':
        this.#stats.answered++;
        reply(decision.response);
        return true;
      case 'forward': {
        const upstreams = this.#upstreams.filter((u) => !this.#isSelf(u));
        if (this.#forwardsInFlight >= this.#options.maxForwards || upstreams.length === 0) {
          this.#stats.failed++;
          reply(failure(decision.query, SERVFAIL, transport));
          return true;
        }
        this.#forwardsInFlight++;
        void forward(message, upstreams, {
          clock: this.#deps.clock,
          timeoutMs: this.#options.upstreamTimeoutMs,
          transport,
          udpLimit: decision.udpLimit,
          signal: this.#abort.signal,
        })
          .catch(() => undefined)
          .then((response) => {
            this.#forwardsInFlight--;
            if (this.#abort.signal.aborted) return;
            if (response) this.#stats.forwarded++;
            else this.#stats.failed++;
            reply(response ?? failure(decision.query, SERVFAIL, transport));
          });
        return true;
      }
    }
  }

  /** Whether `u` is one of our own sockets: never forward to ourselves (a loop). */
  #isSelf(u: Upstream): boolean {
    return u.port === this.#options.port && this.#listen.has(u.host);
  }

  /**
   * The networks to answer from: the asking task's (the network the query came in on first
   * when the task is on it), or, for an unknown source, the network the query came in on.
   */
  #networkIds(source: string, arrival: string): readonly string[] {
    const scoped = this.#deps.scope?.(source);
    if (!scoped) return [arrival];
    if (scoped[0] === arrival || !scoped.includes(arrival)) return scoped;
    return [arrival, ...scoped.filter((id) => id !== arrival)];
  }
}

/** What the network data plane calls after each reconcile. */
export interface AgentDns {
  /**
   * Answers the names of `map`, on the gateway address of each of the node's `local`
   * networks (each network's queries are answered from that network).
   */
  update(map: NetworkMap, local: readonly { readonly id: string; readonly gateway: string }[]): Promise<void>;
}

/** The data plane's view of `server`: the table is built from the map, gateways are listened on. */
export function agentDns(server: DnsServer): AgentDns {
  return {
    update: (map, local) =>
      server.update(
        dnsTable(map),
        local.map((n) => ({ address: stripPrefix(n.gateway), networkId: n.id })),
      ),
  };
}

function closeBinding(b: Binding): Promise<void> {
  for (const socket of b.connections) socket.destroy();
  return Promise.all([
    new Promise<void>((resolve) => {
      try {
        b.udp.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    }),
    new Promise<void>((resolve) => b.tcp.close(() => resolve())),
  ]).then(() => {});
}

function parseUpstreams(texts: readonly string[]): Upstream[] {
  return texts.map((t) => {
    const u = parseUpstream(t);
    if (!u) throw new Error(`dns upstream ${JSON.stringify(t)} is not an address: expected 1.2.3.4, 1.2.3.4:53 or [::1]:53`);
    return u;
  });
}

/** `10.0.3.1/24` → `10.0.3.1`. */
function stripPrefix(addr: string): string {
  const slash = addr.indexOf('/');
  return slash < 0 ? addr : addr.slice(0, slash);
}

/** `::ffff:10.0.3.2` → `10.0.3.2`. */
function unmapped(addr: string): string {
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}
