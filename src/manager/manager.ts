import { mkdir } from 'node:fs/promises';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { socketPath, statePath } from '../lib/paths.ts';
import { SqliteBackend } from '../store/sqlite/sqlite-backend.ts';
import { Store } from '../store/store.ts';
import { Allocator } from './allocator/allocator.ts';
import { ControlApi, socketAnswers, type ListenAddress } from './controlapi/server.ts';
import { Dispatcher } from './dispatcher/dispatcher.ts';
import { attachAgentSessions, type AgentSessionEndpoint } from './dispatcher/ws-server.ts';
import { Orchestrator } from './orchestrator/orchestrator.ts';
import { Scheduler } from './scheduler/scheduler.ts';

export interface ManagerDeps {
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface ManagerOptions {
  /** Holds `state.db` and the API socket `flotilla.sock`. */
  dataDir: string;
  /** Extra TCP addresses for the API and agent sessions (the unix socket is always served). */
  listen?: readonly { host: string; port: number }[];
  /** Node id of the agent running beside this manager (`flotilla dev`): it registers as a manager. */
  localNodeId?: string;
  /** Facts `GET /v1/info` reports (driver, …); the data dir is added. */
  info?: Readonly<Record<string, string>>;
}

/** The parts a manager runs, in start order; stopped in reverse. */
interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

type Lifecycle = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * The manager's composition root: opens the store (`<dataDir>/state.db`), starts the control
 * loops (orchestrator, allocator, scheduler), the dispatcher and the control API, and serves
 * agent sessions on the API's servers. The only place manager components meet.
 */
export class Manager {
  readonly #deps: ManagerDeps;
  readonly #options: Required<ManagerOptions>;
  readonly #started: Component[] = [];
  #store: Store | undefined;
  #api: ControlApi | undefined;
  #sessions: AgentSessionEndpoint[] = [];
  #lifecycle: Lifecycle = 'new';
  #stopping: Promise<void> | undefined;

  constructor(deps: ManagerDeps, options: ManagerOptions) {
    this.#deps = deps;
    this.#options = { listen: [], info: {}, localNodeId: '', ...options };
  }

  /** The API's unix socket. */
  get socketPath(): string {
    return socketPath(this.#options.dataDir);
  }

  /** Where the API listens, once started (`unix:///…`, `http://…`). */
  get addresses(): string[] {
    return this.#api?.addresses ?? [];
  }

  get store(): Store {
    if (!this.#store) throw new Error('manager not started');
    return this.#store;
  }

  async start(): Promise<void> {
    if (this.#lifecycle !== 'new') throw new Error(`manager cannot start: it is ${this.#lifecycle}`);
    this.#lifecycle = 'starting';
    const { clock, logger } = this.#deps;
    const { dataDir } = this.#options;
    try {
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      // Checked before the store is opened, so the answer is this and not "database is locked".
      if (await socketAnswers(this.socketPath)) {
        throw new Error(`another manager is already running with data dir ${dataDir} (it answers on ${this.socketPath})`);
      }
      const backend = SqliteBackend.open(statePath(dataDir));
      const store = await Store.open(backend, { clock, logger, closeBackend: true });
      this.#store = store;
      this.#started.push({ name: 'store', start: async () => {}, stop: () => store.close() });

      const deps = { store, clock, logger };
      const { localNodeId } = this.#options;
      const dispatcher = new Dispatcher(deps, { managerNodeIds: localNodeId ? [localNodeId] : [] });
      const api = new ControlApi(
        { ...deps, logs: { taskLogs: (task, query, signal) => dispatcher.taskLogs(task, query, signal) } },
        {
          listen: [{ path: this.socketPath }, ...this.#options.listen] satisfies ListenAddress[],
          info: { dataDir, ...this.#options.info },
        },
      );
      this.#api = api;
      const components: Component[] = [
        named('orchestrator', new Orchestrator(deps)),
        named('allocator', new Allocator(deps)),
        named('scheduler', new Scheduler(deps)),
        named('dispatcher', dispatcher),
        named('control API', api),
      ];
      for (const c of components) {
        await c.start();
        this.#started.push(c);
      }
      this.#sessions = api.servers.map((server) => attachAgentSessions(server, dispatcher));
      this.#started.push({
        name: 'agent sessions',
        start: async () => {},
        stop: async () => {
          await Promise.all(this.#sessions.map((s) => s.close()));
        },
      });
    } catch (err) {
      await this.#stopAll();
      this.#lifecycle = 'stopped';
      throw err;
    }
    this.#lifecycle = 'running';
  }

  /** Stops everything in reverse start order. Idempotent. Task containers are not touched. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#lifecycle = 'stopping';
      await this.#stopAll();
      this.#lifecycle = 'stopped';
    })();
    return this.#stopping;
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

function named(name: string, c: { start(): Promise<void>; stop(): Promise<void> }): Component {
  return { name, start: () => c.start(), stop: () => c.stop() };
}
