import type { Node } from '../../api/node.ts';
import type { Service, UpdateStatus } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import type { Action, ServicePlan } from './actions.ts';
import { buildTask, type NewTask, type TaskPlacement } from './new-task.ts';
import { isNodeLost } from './node-health.ts';
import type { RestartTuning } from './restart.ts';

/** Tuning the pure core needs (a slice of the orchestrator's compiled options). */
export interface PlanOptions {
  /** Dead tasks kept per slot (per node for global services). */
  readonly taskHistoryLimit: number;
  readonly restart: RestartTuning;
}

/** Everything a service's plan depends on: a store snapshot and the current time. */
export interface PlanInput {
  readonly serviceId: string;
  /** Undefined when the service was deleted. */
  readonly service: Service | undefined;
  /** Every task of the service. */
  readonly tasks: readonly Task[];
  readonly nodes: ReadonlyMap<string, Node>;
  readonly now: number;
  readonly options: PlanOptions;
  /** Makes ids for new tasks. */
  readonly newId: () => string;
}

/**
 * Collects a plan's actions. Local mutable state inside a pure function: the plan depends
 * only on the input.
 */
export class PlanBuilder {
  readonly input: PlanInput;
  readonly #actions: Action[] = [];
  #wakeAt: number | undefined;

  constructor(input: PlanInput) {
    this.input = input;
  }

  get nodes(): ReadonlyMap<string, Node> {
    return this.input.nodes;
  }

  get now(): number {
    return this.input.now;
  }

  create(service: Service, placement: TaskPlacement, reason: string): void {
    this.#actions.push({ kind: 'create', task: this.#build(service, placement), reason });
  }

  /** Replaces `old` by a new task that is not a restart (moved off a node, updated). */
  replace(service: Service, old: Task, placement: TaskPlacement, reason: string): void {
    this.#replace(old, this.#build(service, placement), reason);
  }

  /**
   * Replaces the dead task `old` by its restart, which records the wait chosen before it
   * (`restartDelayMs`): the next restart's backoff grows from that, not from timestamps.
   */
  restart(service: Service, old: Task, placement: TaskPlacement, delayMs: number, reason: string): void {
    this.#replace(old, { ...this.#build(service, placement), restartDelayMs: delayMs }, reason);
  }

  #replace(old: Task, task: NewTask, reason: string): void {
    // A task on a lost node is replaced for good: when the node returns, its agent must find
    // the task no longer assigned and remove the container, so the cluster holds exactly the
    // desired count (a stopped history container there would outlive the task).
    const lost = old.nodeId !== undefined && isNodeLost(this.input.nodes.get(old.nodeId));
    this.#actions.push({ kind: 'replace', old, oldDesired: lost ? 'remove' : 'shutdown', task, reason });
  }

  stop(task: Task, desiredState: 'shutdown' | 'remove', reason: string): void {
    this.#actions.push({ kind: 'stop', task, desiredState, reason });
  }

  adopt(task: Task, specVersion: number, reason: string): void {
    this.#actions.push({ kind: 'adopt', task, specVersion, reason });
  }

  delete(task: Task, reason: string): void {
    this.#actions.push({ kind: 'delete', task, reason });
  }

  /** Writes the service's rollout status (guarded: refused if the service changed since). */
  status(service: Service, status: UpdateStatus, reason: string): void {
    this.#actions.push({ kind: 'status', service, status, reason });
  }

  /** Rolls the service back to its previous spec (guarded like `status`). */
  rollback(service: Service, message: string): void {
    this.#actions.push({ kind: 'rollback', service, message, at: this.input.now, reason: message });
  }

  /** Asks to be planned again at `at` (the earliest request wins). */
  wakeAt(at: number): void {
    if (this.#wakeAt === undefined || at < this.#wakeAt) this.#wakeAt = at;
  }

  build(): ServicePlan {
    return { actions: this.#actions, wakeAt: this.#wakeAt };
  }

  #build(service: Service, placement: TaskPlacement): NewTask {
    return buildTask(service, placement, this.input.now, this.input.newId());
  }
}
