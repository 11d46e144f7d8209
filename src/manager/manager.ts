import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { AGENT_SESSION_PATH } from '../api/agent-protocol.ts';
import type { TokensResponse } from '../api/join.ts';
import type { Clock } from '../lib/clock.ts';
import { Lifecycle } from '../lib/lifecycle.ts';
import type { Logger } from '../lib/logger.ts';
import { socketPath, statePath } from '../lib/paths.ts';
import type { Backend } from '../store/backend.ts';
import { SqliteBackend } from '../store/sqlite/sqlite-backend.ts';
import { Store } from '../store/store.ts';
import { ClusterCa } from './ca/cluster-ca.ts';
import { ensureIngressNetwork } from './controlapi/ingress.ts';
import { ControlApi } from './controlapi/server.ts';
import { DashboardGate, type DashboardAssets } from './dashboard/gate.ts';
import { Sessions } from './dispatcher/sessions.ts';
import { BlobStore } from './images/blob-store.ts';
import { builderNodes, ImageService } from './images/image-service.ts';
import { agentSessions } from './dispatcher/ws-server.ts';
import { HttpListeners, type ListenAddress } from './http/listeners.ts';
import { PeerClient } from './http/peer-client.ts';
import { socketAnswers } from './http/unix-socket.ts';
import { Keyring } from './keys/keyring.ts';
import { leaderForwarding } from './leader-forwarding.ts';
import { leaderLoops, type LeaderLoopDeps } from './leader-loops.ts';
import { AlwaysLeader, type Leadership, type ManagerMember } from './leader/leadership.ts';
import { LeaderLoopRunner } from './leader/loop-runner.ts';
import { keepManagerId, managerId } from './manager-id.ts';
import { ManagerMetrics } from './metrics/manager-metrics.ts';
import { SealingKey } from './secrets/sealing-key.ts';

export interface ManagerDeps {
  readonly clock: Clock;
  readonly logger: Logger;
}

/** What a store backend or a leadership is opened with. */
export interface StoreContext {
  readonly dataDir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** This manager's id (`manager-id.ts`): its member id, and the writer its commits name. */
  readonly managerId: string;
}

/** Opens the backend the manager's store runs on. */
export type BackendFactory = (ctx: StoreContext) => Promise<Backend>;

/**
 * Joins the election among the managers sharing `backend` (called once the store is open) as
 * `self`: this manager's id (`<dataDir>/manager-id`), its advertised address and the node of
 * the agent beside it when known.
 */
export type LeadershipFactory = (ctx: StoreContext & { readonly backend: Backend; readonly self: Omit<ManagerMember, 'leader'> }) => Promise<Leadership>;

/** The default backend: embedded SQLite at `<dataDir>/state.db`, opened exclusively. */
export const sqliteBackend: BackendFactory = async ({ dataDir }) => SqliteBackend.open(statePath(dataDir));

/** The default leadership: a manager alone on its store always leads. */
export const alwaysLeader: LeadershipFactory = async ({ self }) => new AlwaysLeader(self);

export interface ManagerOptions {
  /** Holds `state.db`, the key-encryption key `kek.key` and the API socket `flotilla.sock`. */
  dataDir: string;
  /** The store's backend. Default `sqliteBackend` (`<dataDir>/state.db`). */
  backend?: BackendFactory;
  /**
   * Who leads: only the leader runs the leader loops (`leaderLoops`). Default `alwaysLeader`,
   * right for one manager on its own SQLite store.
   */
  leadership?: LeadershipFactory;
  /** Extra TCP addresses for the API and agent sessions (the unix socket is always served). */
  listen?: readonly { host: string; port: number }[];
  /** Node id of the agent running beside this manager (`flotilla dev`): it registers as a manager. */
  localNodeId?: string;
  /** Facts `GET /v1/info` reports (driver, …); the data dir is added. */
  info?: Readonly<Record<string, string>>;
  /**
   * A multi-host cluster: create (first start) or load the cluster CA (its key wrapped in the
   * store, its certificate in `<dataDir>/ca/`), and
   * serve the API and agent sessions over HTTPS with mutual TLS on `listen` (default port
   * 4280 is the CLI's). Absent: no CA, no HTTPS (`flotilla dev`).
   */
  tls?: ManagerTlsOptions;
  /**
   * The web dashboard's built files: served under `/ui/` on every listener (sign-in with the
   * admin token on HTTPS); `dashboard` is its gate, which `flotilla dev` also serves on a
   * loopback listener of its own. Absent: no dashboard.
   */
  dashboard?: { readonly assets: DashboardAssets };
}

export interface ManagerTlsOptions {
  readonly listen: { readonly host: string; readonly port: number };
  /** The address nodes and clients reach this manager at: in its certificate and the join command. */
  readonly advertiseAddr: string;
  /** Lifetime of node and server certificates. Default 90 days. */
  readonly certLifetimeMs?: number;
  /**
   * The manager join token: another manager of the cluster in a shared store (etcd) starting on
   * a data dir without `kek.key` unwraps the cluster's key-encryption key with it (and with it
   * the CA key and the sealing key). Ignored once the data dir has `kek.key`. See keys/README.md.
   */
  readonly joinToken?: string;
}

/** The parts a manager runs, in start order; stopped in reverse. */
interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The manager's composition root: opens the store (`backend`, default `<dataDir>/state.db`)
 * and the keyring, follows the `leadership` and runs the leader loops (`leaderLoops`:
 * orchestrator, allocator, scheduler, node liveness) while it leads, and on every manager the
 * dispatcher's sessions and the control API, mounted with the agent sessions on the HTTP
 * listeners. The only place manager
 * components meet.
 */
export class Manager {
  readonly #deps: ManagerDeps;
  readonly #options: Required<Omit<ManagerOptions, 'tls' | 'dashboard'>>;
  readonly #dashboardAssets: DashboardAssets | undefined;
  #dashboard: DashboardGate | undefined;
  readonly #tls: ManagerTlsOptions | undefined;
  readonly #started: Component[] = [];
  #store: Store | undefined;
  #http: HttpListeners | undefined;
  #ca: ClusterCa | undefined;
  #loops: LeaderLoopRunner<LeaderLoopDeps> | undefined;
  #dispatcher: Sessions | undefined;
  #leadership: Leadership | undefined;
  /** This manager's Prometheus registry and recorders (`GET /metrics`), one per manager. */
  readonly #metrics = new ManagerMetrics({
    store: () => this.#store,
    sessions: () => this.#dispatcher?.sessionFigures() ?? { sessions: 0, maxSilenceMs: 0 },
    queueDepths: () => this.#loops?.queueDepths ?? [],
    leading: () => (this.#loops?.running.length ?? 0) > 0,
  });
  readonly #lifecycle = new Lifecycle('manager');

  constructor(deps: ManagerDeps, options: ManagerOptions) {
    this.#deps = deps;
    const { tls, dashboard, ...rest } = options;
    this.#dashboardAssets = dashboard?.assets;
    this.#options = { listen: [], info: {}, localNodeId: '', backend: sqliteBackend, leadership: alwaysLeader, ...rest };
    this.#tls = tls;
  }

  /** The cluster root CA certificate (PEM); only with the `tls` option, once started. */
  get caCertificate(): string {
    return this.#clusterCa().caCertificate;
  }

  /** The worker and manager join tokens; only with the `tls` option, once started. */
  joinTokens(): TokensResponse {
    return this.#clusterCa().joinTokens();
  }

  #clusterCa(): ClusterCa {
    if (!this.#ca) throw new Error(this.#tls ? 'manager not started' : 'this manager has no cluster CA (it was started without the tls option)');
    return this.#ca;
  }

  /** The API's unix socket. */
  get socketPath(): string {
    return socketPath(this.#options.dataDir);
  }

  /** Where the API listens, once started (`unix:///…`, `http://…`). */
  get addresses(): string[] {
    return this.#http?.addresses ?? [];
  }

  /** The dashboard's gate (its `handler`, login links), once started with the `dashboard` option. */
  get dashboard(): DashboardGate | undefined {
    return this.#dashboard;
  }

  /** Names of the leader loops running now: all of `leaderLoops` while leading, else none. */
  get runningLeaderLoops(): string[] {
    return this.#loops?.running ?? [];
  }

  /** Who leads and the managers taking part (`members()`), once started. */
  get leadership(): Leadership {
    if (!this.#leadership) throw new Error('manager not started');
    return this.#leadership;
  }

  /**
   * Records the node of the agent running beside this manager, once it joined (`flotilla
   * server` starts its agent after the manager): its member then names that node, which makes
   * the node's MANAGER STATUS Leader or Reachable.
   */
  setLocalNode(nodeId: string): void {
    this.#leadership?.setNodeId?.(nodeId);
  }

  get store(): Store {
    if (!this.#store) throw new Error('manager not started');
    return this.#store;
  }

  async start(): Promise<void> {
    const started = await this.#lifecycle.startWith(() => this.#start());
    // Stopped while starting: the stop tears down all that started, once the start settled.
    if (!started) await this.#lifecycle.stop();
  }

  async #start(): Promise<void> {
    const { clock, logger } = this.#deps;
    const { dataDir } = this.#options;
    try {
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      // Checked before the store is opened, so the answer is this and not "database is locked".
      if (await socketAnswers(this.socketPath)) {
        throw new Error(`another manager is already running with data dir ${dataDir} (it answers on ${this.socketPath})`);
      }
      const id = await managerId(dataDir);
      const backend = await this.#options.backend({ dataDir, clock, logger, managerId: id });
      const store = await Store.open(backend, { clock, logger, closeBackend: true, metrics: this.#metrics.store });
      this.#store = store;
      this.#started.push({ name: 'store', start: async () => {}, stop: () => store.close() });
      // The CA key and the secret sealing key are kept in the store, wrapped under the
      // key-encryption key of <dataDir>/kek.key (created on first start, mode 0600).
      // Another manager joins with the manager token, which unwraps that key (keys/README.md).
      // First: a refused join writes nothing, not even this manager's id.
      const keys = await Keyring.open(dataDir, store, { joinToken: this.#tls?.joinToken });
      const { localNodeId } = this.#options;
      await keepManagerId(dataDir, id);
      const self = { id, addr: this.#advertisedAddr(), ...(localNodeId ? { nodeId: localNodeId } : {}) };
      const leadership = await this.#options.leadership({ dataDir, clock, logger, managerId: id, backend, self });
      this.#leadership = leadership;
      this.#started.push({ name: 'leadership', start: async () => {}, stop: () => leadership.close() });

      const deps = { store, clock, logger };
      const tls = this.#tls;
      // `managerId`: the CA also issues this manager's peer certificate, for forwarding to the leader.
      const ca = tls ? new ClusterCa({ ...deps, keys }, { dataDir, advertiseAddr: tls.advertiseAddr, listen: tls.listen, joined: keys.joined, managerId: self.id, ...(tls.certLifetimeMs === undefined ? {} : { certLifetimeMs: tls.certLifetimeMs }) }) : undefined;
      if (ca) {
        // First: the API's HTTPS listener needs the server certificate it issues.
        await ca.start();
        this.#started.push(named('cluster CA', ca));
        this.#ca = ca;
      }
      const sealingKey = await SealingKey.open({ store, keys }, dataDir);
      await ensureIngressNetwork(store, logger);
      // The dispatcher's sessions run on every manager; its node liveness is a leader loop.
      // Built images (docs/builds.md): blobs in <dataDir>/blobs, built and fetched over the sessions.
      // The closures run only once the sessions exist (a build or a blob read comes through them).
      const blobs = new BlobStore(join(dataDir, 'blobs'));
      // One manager per data dir (checked above): no other writer is mid-upload.
      await blobs.clearTemporary();
      const images: ImageService = new ImageService({
        ...deps,
        blobs,
        send: (nodeId, m): boolean => dispatcher.sendTo(nodeId, m),
        builders: () => builderNodes(store, dispatcher.connectedNodes(), localNodeId),
      });
      // Agent sessions follow the leadership: only the leader holds them (followers send agents on).
      const dispatcher = new Sessions({ ...deps, secrets: sealingKey, images, metrics: this.#metrics.dispatcher, leadership }, { managerNodeIds: localNodeId ? [localNodeId] : [] });
      this.#dispatcher = dispatcher;
      // A follower forwards what needs the agent sessions (logs, builds) to the leader, with its peer certificate.
      const peers = new PeerClient({ clock, ...(ca ? { credentials: () => ca.peerCredentials } : {}) });
      const api = new ControlApi(
        {
          ...deps,
          secrets: sealingKey,
          images,
          metrics: this.#metrics.api,
          managers: () => leadership.members(),
          logs: { taskLogs: (task, query, signal) => dispatcher.taskLogs(task, query, signal) },
          forwarding: leaderForwarding(leadership, self.id, peers),
          ...(ca ? { authority: ca } : {}),
        },
        { info: { dataDir, ...(ca && tls ? { clusterId: ca.clusterId, advertiseAddr: tls.advertiseAddr } : {}), ...this.#options.info } },
      );
      // On the HTTPS listener an agent speaks for the node of its client certificate; the unix
      // socket and plain TCP are trusted (the agent's hello names its node).
      const sessions = agentSessions(dispatcher, ca ? { authenticate: (socket) => (socket instanceof TLSSocket ? sessionIdentity(socket, ca) : undefined) } : {});
      const http = new HttpListeners(
        { logger },
        {
          listen: [{ path: this.socketPath }, ...this.#options.listen, ...(tls ? [{ ...tls.listen, tls: true }] : [])] satisfies ListenAddress[],
          ...(ca ? { tls: ca.serverCredentials } : {}),
        },
      );
      http.mount('/', api.handler);
      if (this.#dashboardAssets) {
        this.#dashboard = new DashboardGate({ clock, api: api.handler, ...(ca ? { isAdminToken: (t: string) => ca.isAdminToken(t) } : {}) }, this.#dashboardAssets);
        http.mount('/ui', this.#dashboard.handler);
      }
      http.mountUpgrade(AGENT_SESSION_PATH, sessions.upgrade);
      this.#http = http;
      ca?.onServerCredentials((c) => http.setTlsCredentials(c));
      // Every write of the leader loops is fenced on this manager's term (when the leadership
      // has terms: etcd), so a manager that lost it writes nothing, however late it notices.
      const fence = leadership.fence?.bind(leadership);
      const loopStore = fence ? store.fenced(fence, (refused) => leadership.fenceRefused?.(refused)) : store;
      const loops = new LeaderLoopRunner({ leadership, logger }, leaderLoops, { ...deps, store: loopStore, heartbeats: dispatcher, metrics: { scheduler: this.#metrics.scheduler } });
      this.#loops = loops;
      const components: Component[] = [
        named('leader loops', loops),
        named('dispatcher sessions', dispatcher),
        named('control API', api),
      ];
      for (const c of components) {
        await c.start();
        this.#started.push(c);
      }
      // Listening last, once everything mounted is ready. Stopped first: agents are told
      // (1001), open streams end, then the listeners close and cut what is left.
      await http.start();
      this.#started.push({
        name: 'HTTP listeners',
        start: async () => {},
        stop: async () => {
          await sessions.close();
          await api.stop();
          await http.stop();
        },
      });
    } catch (err) {
      await this.#stopAll();
      throw err;
    }
  }

  /** Where this manager is reached, as its member says: the advertised HTTPS address, else the first TCP listener, else the socket. */
  #advertisedAddr(): string {
    const hostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
    if (this.#tls) return hostPort(this.#tls.advertiseAddr, this.#tls.listen.port);
    const first = this.#options.listen[0];
    return first ? hostPort(first.host, first.port) : `unix://${this.socketPath}`;
  }

  /** Stops everything in reverse start order. Idempotent. Task containers are not touched. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(() => this.#stopAll());
  }

  async #stopAll(): Promise<void> {
    while (this.#started.length > 0) {
      const c = this.#started.pop();
      if (!c) break;
      try {
        await c.stop();
      } catch (err) {
        this.#deps.logger.error({ err, component: c.name }, 'stopping a manager component failed');
      }
    }
  }
}

/** The node an agent connection speaks for, from its client certificate, or why it is refused. */
function sessionIdentity(socket: Socket, ca: ClusterCa): { nodeId: string } | { error: string } {
  const who = ca.identify(socket instanceof TLSSocket ? socket.getPeerX509Certificate() : undefined);
  if (who.kind === 'node') return { nodeId: who.nodeId };
  if (who.kind === 'none') return { error: who.reason };
  return { error: `the ${who.kind === 'admin' ? 'admin' : 'manager peer'} certificate cannot open an agent session` };
}

function named(name: string, c: { start(): Promise<void>; stop(): Promise<void> }): Component {
  return { name, start: () => c.start(), stop: () => c.stop() };
}
