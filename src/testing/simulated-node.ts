import { join } from 'node:path';
import type { Connection } from '../api/agent-protocol.ts';
import type { NodeDescription } from '../api/node.ts';
import type { Agent } from '../agent/agent.ts';
import { NodeAgent } from '../agent/boot.ts';
import { FakeHost } from '../agent/drivers/fake/fake-host.ts';
import { connectionPair } from './connection-pair.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';

/** Whoever takes the manager end of a new session (the current dispatcher `Sessions`), if any is up. */
export type ManagerLink = () => { accept(conn: Connection): void } | undefined;

export interface SimulatedNodeOptions {
  /** Host name the node reports; also names its data dir. */
  readonly name: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** A directory of its own for the agent's files. */
  readonly dataDir: string;
  readonly manager: ManagerLink;
  /** Overrides of the reported description (resources, labels through hostname…). */
  readonly description?: Partial<NodeDescription>;
}

/**
 * A node of the in-process cluster: a real node agent (`NodeAgent`, the same composition root
 * as `flotilla join`) on the fake driver, talking to the manager over an in-process connection. Its `FakeHost` (the simulated machine) outlives the
 * agent, so `kill()` + `restart()` is an agent crash and restart that must adopt the tasks.
 */
export class SimulatedNode {
  readonly name: string;
  readonly host = new FakeHost();
  readonly #o: SimulatedNodeOptions;
  #node: NodeAgent | undefined;
  #nodeId: string | undefined;
  #partitioned = false;

  constructor(options: SimulatedNodeOptions) {
    this.#o = options;
    this.name = options.name;
  }

  /** The node id (known once started). */
  get id(): string {
    if (!this.#nodeId) throw new Error(`node ${this.name} not started`);
    return this.#nodeId;
  }

  get agent(): Agent | undefined {
    return this.#node?.agent;
  }

  /** Starts (or restarts) the agent; resolves once the manager welcomed it. */
  async start(): Promise<void> {
    if (this.#node) throw new Error(`node ${this.name} is already running`);
    const node = await NodeAgent.create(
      { clock: this.#o.clock, logger: this.#o.logger.child({ node: this.name }) },
      {
        dataDir: join(this.#o.dataDir, 'agent'),
        link: { transport: 'in-process', connect: () => this.#connect() },
        drivers: { kind: 'fake', host: this.host },
        agent: {
          description: {
            hostname: this.name,
            platform: { os: 'linux', arch: 'x86_64' },
            resources: { nanoCpus: 4_000_000_000, memoryBytes: 8 * 1024 ** 3 },
            ...this.#o.description,
          },
          backoff: { initialMs: 50, maxMs: 500, jitter: 0.5 },
        },
      },
    );
    this.#nodeId = node.nodeId;
    this.#node = node;
    await node.start();
    await node.welcomed;
  }

  /** The agent dies: its session ends and heartbeats stop; the tasks keep running on the host. */
  async kill(): Promise<void> {
    const node = this.#node;
    this.#node = undefined;
    await node?.stop();
  }

  /** `kill()` then `start()`: the new agent must adopt the running tasks. */
  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /** Cuts the node off the manager until `reconnect()`; the agent keeps retrying. */
  disconnect(): void {
    this.#partitioned = true;
    this.#node?.agent.dropConnection();
  }

  /** Heals a `disconnect()`; the agent's next retry gets through. */
  reconnect(): void {
    this.#partitioned = false;
  }

  /** Ids of the fake processes running on this node's host. */
  runningTasks(): string[] {
    return [...this.host.processes.values()].filter((p) => p.state === 'running').map((p) => p.task.id);
  }

  #connect(): Promise<Connection> {
    if (this.#partitioned) return Promise.reject(new Error(`node ${this.name} is cut off from the manager`));
    const manager = this.#o.manager();
    if (!manager) return Promise.reject(new Error('no manager is up'));
    const [agentEnd, managerEnd] = connectionPair(`in-process:${this.name}`, 'in-process:manager');
    manager.accept(managerEnd);
    return Promise.resolve(agentEnd);
  }
}
