import type { HelloMessage, ManagerMessage, SessionErrorMessage, WelcomeMessage } from '../api/agent-protocol.ts';
import { PROTOCOL_VERSION } from '../api/agent-protocol.ts';
import type { AttachedContainer, NetworkMap } from '../api/network.ts';
import type { NodeDescription } from '../api/node.ts';
import type { BackoffOptions } from '../lib/backoff.ts';
import type { Clock } from '../lib/clock.ts';
import { Lifecycle } from '../lib/lifecycle.ts';
import type { Logger } from '../lib/logger.ts';
import { describeNode, type DescriptionOverrides } from './description.ts';
import type { Driver } from './drivers/driver.ts';
import type { TaskHook } from './executor/hooks.ts';
import type { ExecutorMetrics } from './executor/metrics.ts';
import type { TaskRunner } from './executor/task-runner.ts';
import { filesHook } from './files/hook.ts';
import { BlobReader } from './images/blob-reader.ts';
import { BuildRunner } from './images/build-runner.ts';
import { imageHook } from './images/image-hook.ts';
import { defaultRuntimeDir, TaskFiles } from './files/task-files.ts';
import { TmpfsFileSystem, type TaskFileSystem } from './files/task-fs.ts';
import { LogServer } from './log-server.ts';
import type { ManagerDirectory } from './manager-directory.ts';
import { loadManagers, saveManagers } from './managers-file.ts';
import { loadNodeId, saveNodeId } from './node-id.ts';
import { Session, type Connector, type SessionState } from './session.ts';
import { StatusReporter } from './status-reporter.ts';
import { Worker, type DriverSet } from './worker.ts';

/** Takes the network maps the manager pushes (the node's network data plane). */
export interface NetworkMapSink {
  /** The latest map; never one older than a map given before. Must not throw. */
  setMap(map: NetworkMap): void;
  /**
   * Optional: `report` hears the node's plain containers on attachable networks (the whole
   * set) after the first listing and whenever it changes; the agent sends it to the manager
   * (`containers`), and again after each welcome.
   */
  reportContainers?(report: (containers: AttachedContainer[]) => void): void;
}

export interface AgentDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** The node's drivers, by name or as a list (each knows its `name`). */
  readonly drivers: DriverSet | readonly Driver[];
  /** Where the agent keeps its files (the node id). */
  readonly dataDir: string;
  /** Opens a transport to a manager: `connectWebSocket(url)` or an in-process pair. */
  readonly connect: Connector;
  /**
   * Task hooks run after the built-in ones (secret and config files first), in this order
   * (see `executor/hooks.ts`). Default none.
   */
  readonly hooks?: readonly TaskHook[];
  /**
   * Gets each network map the manager pushes whose revision is not lower than the last one
   * given (a map from a manager whose store lags is ignored). Without it maps are dropped.
   */
  readonly network?: NetworkMapSink;
  /** Task start latencies, driver errors and health results (the agent's `/metrics`); absent: not recorded. */
  readonly metrics?: ExecutorMetrics;
  /**
   * The managers this agent knows, when it may reach several (`wss`): `connect` asks it where
   * to go (`next()`); the agent tells it what the managers say (welcome, `managers`, refusals
   * naming the leader, dropped sessions) and keeps its list in `<dataDir>/managers.json`, so a
   * restarted agent knows every manager. Absent: one manager, whatever `connect` reaches.
   */
  readonly managers?: ManagerDirectory;
}

export interface AgentOptions {
  /** Fixed parts of the node description (simulated nodes set hostname and resources). */
  description?: DescriptionOverrides;
  /** How long task statuses are collected before they are sent. Default 20 ms. */
  statusBatchMs?: number;
  /** Reconnect backoff (default 100 ms doubling to 5 s, jittered). */
  backoff?: BackoffOptions;
  /** Default 10 s. */
  welcomeTimeoutMs?: number;
  /**
   * Where tasks' secret and config tmpfs mounts go (`<runtimeDir>/tasks/<taskId>`); never the
   * data dir. Default `/run/flotilla/<nodeId>`.
   */
  runtimeDir?: string;
  /** How those file systems are made; default real tmpfs mounts (needs root). Tests pass a fake. */
  taskFileSystem?: TaskFileSystem;
}

/**
 * The agent's composition root: one session with a manager, a worker running the node's
 * assigned tasks through its drivers, a status reporter and a log server. Stopping the agent
 * leaves tasks running; the next start adopts them.
 */
export class Agent {
  readonly #deps: AgentDeps;
  readonly #logger: Logger;
  readonly #drivers: DriverSet;
  readonly #overrides: DescriptionOverrides;
  readonly #reporter: StatusReporter;
  readonly #worker: Worker;
  readonly #files: TaskFiles;
  readonly #session: Session;
  readonly #logs: LogServer;
  /** Built images (docs/builds.md): blobs read from the manager, builds run for it. */
  readonly #blobs: BlobReader;
  readonly #builds: BuildRunner;
  readonly #lifecycle = new Lifecycle('agent');
  #nodeId: string | undefined;
  #description: NodeDescription | undefined;
  #welcomed: Array<(nodeId: string) => void> = [];
  /** The write of a node id the manager assigned, while it runs. */
  #saving: Promise<void> = Promise.resolve();
  /** Writes of the manager list, one after another; and the list last written (JSON). */
  #savingManagers: Promise<void> = Promise.resolve();
  #managersWritten = '';
  #unfollowManagers: (() => void) | undefined;
  /** Revision of the last network map given to `deps.network`; -1 before the first. */
  #mapRevision = -1;
  /** The plain containers last reported by `deps.network` (sent again after each welcome). */
  #containers: AttachedContainer[] | undefined;

  constructor(deps: AgentDeps, options: AgentOptions = {}) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'agent' });
    this.#drivers = toDriverSet(deps.drivers);
    this.#overrides = options.description ?? {};
    this.#reporter = new StatusReporter({ clock: deps.clock }, { batchMs: options.statusBatchMs ?? 20 });
    this.#files = new TaskFiles(
      { fs: options.taskFileSystem ?? new TmpfsFileSystem(), logger: this.#logger },
      () => options.runtimeDir ?? defaultRuntimeDir(this.#nodeId ?? 'unknown-node'),
    );
    this.#blobs = new BlobReader((m) => this.#session.send(m));
    this.#builds = new BuildRunner({ drivers: this.#drivers, reader: this.#blobs, logger: this.#logger, send: (m) => this.#session.send(m) });
    this.#worker = new Worker({
      clock: deps.clock,
      logger: this.#logger,
      drivers: this.#drivers,
      files: this.#files,
      hooks: [imageHook({ drivers: this.#drivers, reader: this.#blobs, logger: this.#logger }), filesHook(this.#files), ...(deps.hooks ?? [])],
      report: (taskId, status) => this.#reporter.report(taskId, status),
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
    });
    this.#session = new Session(
      {
        clock: deps.clock,
        logger: this.#logger,
        connect: deps.connect,
        handlers: {
          hello: () => this.#hello(),
          welcome: (m) => this.#onWelcome(m),
          message: (m) => this.#onMessage(m),
          refused: (m) => this.#onRefused(m),
          disconnected: () => {
            deps.managers?.detached();
            this.#reporter.detach();
            this.#logs.cancelAll();
            this.#blobs.disconnected();
            this.#builds.disconnected();
          },
        },
      },
      {
        ...(options.backoff ? { backoff: options.backoff } : {}),
        ...(options.welcomeTimeoutMs === undefined ? {} : { welcomeTimeoutMs: options.welcomeTimeoutMs }),
      },
    );
    this.#logs = new LogServer({
      logger: this.#logger,
      send: (m) => this.#session.send(m),
      driverFor: (id) => this.#worker.driverFor(id),
    });
    deps.network?.reportContainers?.((containers) => {
      this.#containers = containers;
      this.#session.send({ type: 'containers', containers });
    });
  }

  /** The node's id, once known (saved from an earlier run, or assigned by the manager). */
  get nodeId(): string | undefined {
    return this.#nodeId;
  }

  get sessionState(): SessionState {
    return this.#session.state;
  }

  /** The task runners, by task id. */
  get runners(): ReadonlyMap<string, TaskRunner> {
    return this.#worker.runners;
  }

  /** The node's secrets and configs (tests look at what is held). */
  get files(): TaskFiles {
    return this.#files;
  }

  /** Statuses reported but not yet acknowledged by the manager. */
  get unacknowledgedStatuses(): number {
    return this.#reporter.pendingCount;
  }

  /** Loads the node id, describes the node, recovers the drivers' tasks, then connects. */
  async start(): Promise<void> {
    const started = await this.#lifecycle.startWith(async () => {
      this.#nodeId = await loadNodeId(this.#deps.dataDir);
      this.#description = await describeNode(this.#drivers, this.#overrides);
      await this.#restoreManagers();
      await this.#worker.recover();
    });
    // Not when stopped meanwhile (during the start, or in the moment since).
    if (started && this.#lifecycle.running) this.#session.start();
  }

  /** Closes the session; tasks keep running. Idempotent. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(async (from) => {
      if (from === 'running') await this.#session.stop();
      this.#reporter.detach();
      this.#logs.cancelAll();
      this.#blobs.disconnected();
      this.#builds.disconnected();
      await this.#worker.halt();
      this.#unfollowManagers?.();
      // A node id being saved is on disk before `stop` resolves (callers may remove the data dir).
      await this.#saving;
      await this.#savingManagers;
    });
  }

  /** Resolves with the node id at the next welcome from a manager (once a new id is saved). */
  welcomed(): Promise<string> {
    return new Promise((resolve) => this.#welcomed.push(resolve));
  }

  /** Drops the current connection; the session reconnects with backoff (failure tests). */
  dropConnection(): void {
    this.#session.dropConnection('dropped by request');
  }

  #hello(): HelloMessage {
    if (!this.#description) throw new Error('agent not started');
    return {
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      description: this.#description,
      ...(this.#nodeId === undefined ? {} : { nodeId: this.#nodeId }),
    };
  }

  /** Takes the list saved by an earlier run, and keeps it saved from now on. */
  async #restoreManagers(): Promise<void> {
    const directory = this.#deps.managers;
    if (!directory) return;
    const { known, problem } = await loadManagers(this.#deps.dataDir);
    if (problem !== undefined) this.#logger.warn({ problem }, 'the saved manager list was not used');
    if (known) directory.restore(known);
    this.#managersWritten = JSON.stringify(directory.snapshot());
    this.#unfollowManagers = directory.onChange(({ known: now }) => {
      const text = JSON.stringify(now);
      if (text === this.#managersWritten) return;
      this.#managersWritten = text;
      this.#savingManagers = this.#savingManagers
        .then(() => saveManagers(this.#deps.dataDir, now))
        .catch((err: unknown) => this.#logger.warn({ err }, 'cannot save the manager list'));
    });
  }

  /** A manager refused or ended the session: learn what it said; true when it names a leader to go to now. */
  #onRefused(m: SessionErrorMessage): boolean {
    const directory = this.#deps.managers;
    if (!directory) return false;
    if (m.managers) directory.learn(m.managers);
    return m.leader === undefined ? false : directory.redirect(m.leader);
  }

  #onWelcome(m: WelcomeMessage): void {
    const directory = this.#deps.managers;
    if (directory) {
      directory.attached();
      if (m.managers) directory.learn(m.managers);
      this.#logger.info({ manager: directory.attachedTo, managers: directory.addresses.length }, `attached to the leader at ${directory.attachedTo ?? '?'}`);
    }
    this.#reporter.attach((msg) => this.#session.send(msg));
    if (this.#containers !== undefined) this.#session.send({ type: 'containers', containers: this.#containers });
    const waiting = this.#welcomed;
    this.#welcomed = [];
    const notify = (): void => {
      for (const w of waiting) w(m.nodeId);
    };
    if (this.#nodeId === m.nodeId) {
      notify();
      return;
    }
    this.#nodeId = m.nodeId;
    this.#saving = saveNodeId(this.#deps.dataDir, m.nodeId)
      .catch((err: unknown) => this.#logger.error({ err }, 'cannot save the node id'))
      .finally(notify);
  }

  #onMessage(m: ManagerMessage): void {
    switch (m.type) {
      case 'assignments':
        this.#worker.apply(m);
        return;
      case 'status-ack':
        this.#reporter.ack(m.seq);
        return;
      case 'logs':
        this.#logs.request(m);
        return;
      case 'logs-cancel':
        this.#logs.cancel(m.requestId);
        return;
      case 'network-map':
        this.#onNetworkMap(m.map);
        return;
      case 'managers':
        this.#deps.managers?.learn(m.managers);
        return;
      case 'blob-chunk':
        this.#blobs.onChunk(m);
        return;
      case 'build':
        this.#builds.start(m);
        return;
      case 'build-ack':
        this.#builds.ack(m.buildId, m.seq);
        return;
      case 'build-cancel':
        this.#builds.cancel(m.buildId);
        return;
      default:
        return;
    }
  }

  #onNetworkMap(map: NetworkMap): void {
    if (!this.#deps.network) return;
    if (map.revision < this.#mapRevision) {
      this.#logger.debug({ revision: map.revision, have: this.#mapRevision }, 'older network map ignored');
      return;
    }
    this.#mapRevision = map.revision;
    try {
      this.#deps.network.setMap(map);
    } catch (err) {
      this.#logger.error({ err, revision: map.revision }, 'the network data plane refused a map');
    }
  }
}

function toDriverSet(drivers: DriverSet | readonly Driver[]): DriverSet {
  if (drivers instanceof Map) return drivers as DriverSet;
  return new Map((drivers as readonly Driver[]).map((d) => [d.name, d]));
}
