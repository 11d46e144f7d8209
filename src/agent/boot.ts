import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { AGENT_SESSION_PATH } from '../api/agent-protocol.ts';
import type { Clock } from '../lib/clock.ts';
import { newId } from '../lib/ids.ts';
import { Lifecycle } from '../lib/lifecycle.ts';
import type { Logger } from '../lib/logger.ts';
import { Agent, type AgentOptions } from './agent.ts';
import { CertRenewer } from './cert-renewer.ts';
import { certificateInfo, tlsClientOptions } from './credentials.ts';
import { chooseDrivers, type DriverSource } from './driver-choice.ts';
import type { Driver } from './drivers/driver.ts';
import { ensureCredential, formatManagerAddress, parseManagerAddress, renewCertificate, type ManagerAddress } from './join.ts';
import { ManagerDirectory } from './manager-directory.ts';
import { NodeNetwork } from './network/node-network.ts';
import { describeNetwork, detectUnderlay } from './network/underlay.ts';
import { defaultRuntimeDir } from './files/task-files.ts';
import { AgentMetrics, AgentMetricsServer } from './metrics.ts';
import { ensureNodeId } from './node-id.ts';
import type { Connector } from './session.ts';
import { connectWebSocket } from './transport/ws.ts';

/**
 * How the agent reaches its manager; the credential goes with the transport.
 * - `unix`: `ws+unix://` to a manager in this process's data dir (`flotilla dev`); no
 *   credential, the node id is made up once and kept in the data dir.
 * - `wss`: mutual TLS to a cluster manager (`flotilla join`, `flotilla server`'s own agent): the
 *   credential stored in the data dir, else a join with `token`; renewed at 2/3 of its life;
 *   each connection presents the newest certificate and trusts only the cluster CA. `manager`
 *   is the first manager known: the agent learns the others from the cluster (a
 *   `ManagerDirectory`, kept in `<dataDir>/managers.json`) and follows the leader among them.
 * - `in-process`: simulated nodes of `src/testing`; `connect` hands back one end of a
 *   `connectionPair()`. Node id as for `unix`.
 */
export type AgentLink =
  | { readonly transport: 'unix'; readonly socketPath: string }
  | { readonly transport: 'wss'; readonly manager: ManagerAddress; readonly token?: string | undefined }
  | { readonly transport: 'in-process'; readonly connect: Connector };

export interface NodeAgentOptions {
  /** The agent's own directory: node id, credential (`tls/`), exec driver files. Created 0700. */
  readonly dataDir: string;
  readonly link: AgentLink;
  readonly drivers: DriverSource;
  /** Options of the `Agent` itself (description overrides, backoff, runtime dir…). */
  readonly agent?: AgentOptions;
  /**
   * Run the node's network data plane (overlay networks, VIPs, the routing mesh, DNS) and
   * describe it (`description.network`): its underlay is found from the route to the manager
   * (`wss`) or the default route (`unix`, `in-process`). A node that cannot run it (not root,
   * tools missing) says why in `description.network.unavailable`, and tasks on networks go
   * elsewhere. A `network` in `agent.description` wins (and no data plane runs). Default false.
   */
  readonly networking?: boolean;
  /**
   * Says one line of progress as the node comes up: its credential (`wss`) and its drivers.
   * (The drivers line is also `driverLine`, for callers that print it later.)
   */
  readonly say?: (line: string) => void;
  /**
   * Serve the agent's Prometheus metrics (`GET /metrics`: task start latency, driver errors,
   * health check results, process figures) on this address; the CLI's default is
   * `127.0.0.1:4281` (`--metrics-addr`). An address in use is reported (`say`, the log) and
   * the node runs without it. Absent: no metrics are kept.
   */
  readonly metrics?: { readonly host: string; readonly port: number };
}

export interface NodeAgentDeps {
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The agent side's one composition root: a node agent built from options (its credential,
 * drivers, certificate renewer and transport) around an `Agent`. `flotilla dev`, `flotilla join`,
 * `flotilla server`'s own agent and the simulated nodes of the in-process cluster all start
 * their node through it.
 *
 * ```ts
 * const node = await NodeAgent.create({ clock, logger }, { dataDir, link, drivers });
 * await node.start();
 * await node.welcomed;
 * await node.stop(); // tasks keep running; the next start adopts them
 * ```
 */
export class NodeAgent {
  /** The node's id (stored, from its certificate, or made up for a local node). */
  readonly nodeId: string;
  readonly agent: Agent;
  /** The managers the node knows and the one it is attached to (`wss` links only). */
  get managers(): ManagerDirectory | undefined {
    return this.#managers;
  }
  readonly drivers: readonly Driver[];
  /** What drivers were chosen and why ("driver: exec, as asked"). */
  readonly driverLine: string;
  /** Resolves with the node id at the first welcome from a manager. */
  readonly welcomed: Promise<string>;
  readonly #renewer: CertRenewer | undefined;
  readonly #network: NodeNetwork | undefined;
  readonly #metrics: MetricsPort | undefined;
  readonly #managers: ManagerDirectory | undefined;
  #metricsUrl: string | undefined;
  readonly #lifecycle = new Lifecycle('node agent');

  private constructor(
    nodeId: string,
    agent: Agent,
    drivers: readonly Driver[],
    driverLine: string,
    renewer: CertRenewer | undefined,
    network: NodeNetwork | undefined,
    metrics: MetricsPort | undefined,
    managers: ManagerDirectory | undefined,
  ) {
    this.#managers = managers;
    this.nodeId = nodeId;
    this.agent = agent;
    this.drivers = drivers;
    this.driverLine = driverLine;
    this.#renewer = renewer;
    this.#network = network;
    this.#metrics = metrics;
    this.welcomed = agent.welcomed();
  }

  /** Where the agent's metrics are served (`http://127.0.0.1:4281/metrics`), once started; undefined when not. */
  get metricsUrl(): string | undefined {
    return this.#metricsUrl;
  }

  /**
   * Resolves the node's identity (for `wss`: its stored credential, else a join — which can
   * throw a `JoinError`), then chooses its drivers (a `DriverChoiceError` when none can run);
   * connects nothing yet. `stop()` releases what it made.
   */
  static async create(deps: NodeAgentDeps, options: NodeAgentOptions): Promise<NodeAgent> {
    const { dataDir, link } = options;
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    let nodeId: string;
    let renewer: CertRenewer | undefined;
    let connect: Connector;
    let managers: ManagerDirectory | undefined;
    if (link.transport === 'wss') {
      const where = formatManagerAddress(link.manager);
      const joined = await ensureCredential({ dataDir, manager: link.manager, token: link.token, hostname: hostname(), now: deps.clock.now() });
      const expires = new Date(certificateInfo(joined.credential.cert).notAfter).toISOString();
      options.say?.(
        joined.joined
          ? `joined the cluster at ${where} as ${joined.role} node ${joined.nodeId} (certificate valid until ${expires})`
          : `node ${joined.nodeId} (${joined.role}), credential from ${dataDir}/tls (valid until ${expires})`,
      );
      nodeId = joined.nodeId;
      const directory = new ManagerDirectory(where);
      managers = directory;
      // Renewed by the manager the session is with (every manager holds the cluster CA).
      const renewWith = (): ManagerAddress => parseManagerAddress(directory.attachedTo ?? directory.leader ?? directory.seed);
      const r = new CertRenewer({ ...deps, dataDir, renew: (current, signal) => renewCertificate(renewWith(), current, signal) }, joined.credential);
      renewer = r;
      // Each attempt goes where the directory says (the leader, else the next manager known); every
      // manager's server certificate is from the cluster CA, which is all the agent trusts.
      // The credential is read at each connect, so a renewed certificate is used from then on.
      // 5 s to open: a manager cut off never answers, and the next one may lead.
      connect = (signal) => connectWebSocket(`wss://${directory.next()}${AGENT_SESSION_PATH}`, { signal, clock: deps.clock, tls: tlsClientOptions(r.credential.ca, r.credential), handshakeTimeoutMs: 5_000 });
    } else {
      nodeId = await ensureNodeId(dataDir, newId);
      if (link.transport === 'unix') {
        const url = `ws+unix://${link.socketPath}:${AGENT_SESSION_PATH}`;
        connect = (signal) => connectWebSocket(url, { signal, clock: deps.clock });
      } else {
        connect = link.connect;
      }
    }
    const { drivers, line } = await chooseDrivers(options.drivers, nodeId, dataDir, deps.clock);
    options.say?.(line);
    let agentOptions = options.agent;
    let network: NodeNetwork | undefined;
    if (options.networking && agentOptions?.description?.network === undefined) {
      const underlay = await detectUnderlay(link.transport === 'wss' ? link.manager.host : undefined);
      const why = await NodeNetwork.check();
      let description = describeNetwork(underlay);
      if (why === undefined) {
        const runtimeDir = agentOptions?.runtimeDir ?? defaultRuntimeDir(nodeId);
        network = new NodeNetwork({ ...deps, nodeId, underlay, drivers, runtimeDir: () => runtimeDir });
        description = network.description;
      } else {
        description = { ...description, unavailable: why };
      }
      deps.logger.info({ node: nodeId, underlay, unavailable: description.unavailable }, description.unavailable ? `no overlay networks on this node: ${description.unavailable}` : 'network data plane ready');
      agentOptions = { ...agentOptions, description: { ...agentOptions?.description, network: description } };
    }
    const metrics = options.metrics ? new AgentMetrics() : undefined;
    if (metrics && managers) managers.onChange(({ attachedTo }) => metrics.attachedTo(attachedTo));
    const agent = new Agent(
      { ...deps, drivers, dataDir, connect, ...(network ? { hooks: [network.hook], network } : {}), ...(metrics ? { metrics: metrics.executor } : {}), ...(managers ? { managers } : {}) },
      agentOptions,
    );
    const port =
      metrics && options.metrics
        ? { server: new AgentMetricsServer({ registry: metrics.registry, logger: deps.logger }), address: options.metrics, logger: deps.logger, ...(options.say ? { say: options.say } : {}) }
        : undefined;
    return new NodeAgent(nodeId, agent, drivers, line, renewer, network, port, managers);
  }

  /** Starts the certificate renewer and the agent (which recovers its tasks, then connects). */
  async start(): Promise<void> {
    this.#lifecycle.start();
    this.#renewer?.start();
    try {
      await this.#serveMetrics();
      await this.#network?.start();
      await this.agent.start();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Stops the agent (tasks keep running) and the renewer, and closes the drivers. Idempotent. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(async () => {
      await this.agent.stop();
      await this.#network?.stop();
      await this.#renewer?.stop();
      await this.#metrics?.server.close();
      await Promise.all(this.drivers.map((d) => d.close().catch(() => {})));
    });
  }

  /** Opens the metrics port; one that cannot be opened is said and logged, and the node runs on. */
  async #serveMetrics(): Promise<void> {
    const m = this.#metrics;
    if (!m) return;
    const where = `${m.address.host}:${m.address.port}`;
    try {
      this.#metricsUrl = await m.server.listen(m.address);
      m.say?.(`metrics on ${this.#metricsUrl}`);
    } catch (err) {
      m.logger.warn({ err, address: where }, 'agent metrics not served');
      m.say?.(`metrics not served: cannot listen on ${where} (${(err as Error).message}); choose another with --metrics-addr`);
    }
  }
}

/** The agent's metrics port, as `NodeAgent` keeps it. */
interface MetricsPort {
  readonly server: AgentMetricsServer;
  readonly address: { readonly host: string; readonly port: number };
  readonly logger: Logger;
  readonly say?: (line: string) => void;
}
