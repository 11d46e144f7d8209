import type { Node } from '../../api/node.ts';
import type { Service } from '../../api/service.ts';
import type { TaskBrief as Task } from '../../api/task-requests.ts';
import { TASK_STATES, type TaskState } from '../../api/task-state.ts';
import { summarizeService, type ServiceHealth, type ServiceSummary } from './summary.ts';

type Versioned = { id: string; version: number };

/** The tasks of one service or node: by id, and as an array kept until they change. */
class TaskGroup {
  readonly byId = new Map<string, Task>();
  #list: Task[] | undefined;

  put(t: Task): void {
    this.byId.set(t.id, t);
    this.#list = undefined;
  }

  delete(id: string): void {
    this.byId.delete(id);
    this.#list = undefined;
  }

  /** The same array until a task of the group changes (views memoize on it). */
  list(): readonly Task[] {
    this.#list ??= [...this.byId.values()];
    return this.#list;
  }
}

const NO_TASKS: readonly Task[] = [];

/**
 * The dashboard's copy of the cluster's objects, with what the views derive from them kept
 * current as objects change — never recomputed over all 10,000 tasks per frame: tasks by
 * service and by node, tasks by state, nodes ready/down, services by name, and each service's
 * summary (recomputed only when the service or one of its tasks changed). An object replaces
 * the known one only if its `version` is not older (the store revision of its last write).
 */
export class Tables {
  readonly nodes = new Map<string, Node>();
  readonly services = new Map<string, Service>();
  readonly tasks = new Map<string, Task>();
  /** Bumped on every change of the table: views compare it to skip work. */
  readonly versions = { nodes: 0, services: 0, tasks: 0 };
  readonly #byService = new Map<string, TaskGroup>();
  readonly #byNode = new Map<string, TaskGroup>();
  readonly #byState = new Map<TaskState, number>(TASK_STATES.map((s) => [s, 0]));
  readonly #serviceByName = new Map<string, string>();
  readonly #summaries = new Map<string, ServiceSummary>();
  #health: Record<ServiceHealth, number> | undefined;
  #ready = 0;

  /** Keeps `obj` if it is not older than the known copy; false when it was older. */
  putNode(n: Node): boolean {
    const known = this.nodes.get(n.id);
    if (!newer(known, n)) return false;
    if (known?.status.state === 'ready') this.#ready--;
    if (n.status.state === 'ready') this.#ready++;
    this.nodes.set(n.id, n);
    this.versions.nodes++;
    return true;
  }

  putService(s: Service): boolean {
    const known = this.services.get(s.id);
    if (!newer(known, s)) return false;
    if (known && this.#serviceByName.get(known.spec.name) === known.id) this.#serviceByName.delete(known.spec.name);
    this.services.set(s.id, s);
    this.#serviceByName.set(s.spec.name, s.id);
    this.#touch(s.id);
    this.versions.services++;
    return true;
  }

  putTask(t: Task): boolean {
    const known = this.tasks.get(t.id);
    if (!newer(known, t)) return false;
    if (known) this.#unindex(known);
    this.tasks.set(t.id, t);
    this.#byState.set(t.status.state, (this.#byState.get(t.status.state) ?? 0) + 1);
    group(this.#byService, t.serviceId).put(t);
    if (t.nodeId !== undefined) group(this.#byNode, t.nodeId).put(t);
    this.#touch(t.serviceId);
    this.versions.tasks++;
    return true;
  }

  /** Removes the object of `kind` unless the known copy is newer than `revision`. */
  remove(kind: 'node' | 'service' | 'task', id: string, revision: number): void {
    if (kind === 'node') {
      const n = this.nodes.get(id);
      if (!n || n.version > revision) return;
      if (n.status.state === 'ready') this.#ready--;
      this.nodes.delete(id);
      this.versions.nodes++;
    } else if (kind === 'service') {
      const s = this.services.get(id);
      if (!s || s.version > revision) return;
      if (this.#serviceByName.get(s.spec.name) === id) this.#serviceByName.delete(s.spec.name);
      this.services.delete(id);
      this.#touch(id);
      this.versions.services++;
    } else {
      const t = this.tasks.get(id);
      if (!t || t.version > revision) return;
      this.#unindex(t);
      this.tasks.delete(id);
      this.#touch(t.serviceId);
      this.versions.tasks++;
    }
  }

  /** The tasks of a service: the same array until one of them changes. */
  tasksOf(serviceId: string): readonly Task[] {
    return this.#byService.get(serviceId)?.list() ?? NO_TASKS;
  }

  /** The tasks on a node (by `nodeId`): the same array until one of them changes. */
  tasksOn(nodeId: string): readonly Task[] {
    return this.#byNode.get(nodeId)?.list() ?? NO_TASKS;
  }

  serviceByName(name: string): Service | undefined {
    const id = this.#serviceByName.get(name);
    return id === undefined ? undefined : this.services.get(id);
  }

  /** A service's summary, computed again only after it or one of its tasks changed. */
  summary(service: Service): ServiceSummary {
    let s = this.#summaries.get(service.id);
    if (s?.service !== service) {
      s = summarizeService(service, this.tasksOf(service.id));
      this.#summaries.set(service.id, s);
    }
    return s;
  }

  /** Services converged, updating and failing. */
  serviceHealth(): Readonly<Record<ServiceHealth, number>> {
    if (!this.#health) {
      const h = { converged: 0, updating: 0, failing: 0 };
      for (const s of this.services.values()) h[this.summary(s).health]++;
      this.#health = h;
    }
    return this.#health;
  }

  /** Tasks in each state (every state, in the table's order). */
  taskCounts(): ReadonlyMap<TaskState, number> {
    return this.#byState;
  }

  /** Nodes ready, and the rest (down, unknown, disconnected). */
  nodeCounts(): { ready: number; down: number } {
    return { ready: this.#ready, down: this.nodes.size - this.#ready };
  }

  #unindex(t: Task): void {
    this.#byState.set(t.status.state, (this.#byState.get(t.status.state) ?? 1) - 1);
    this.#byService.get(t.serviceId)?.delete(t.id);
    if (t.nodeId !== undefined) this.#byNode.get(t.nodeId)?.delete(t.id);
  }

  /** A service's summary (and the health counts) must be computed again. */
  #touch(serviceId: string): void {
    this.#summaries.delete(serviceId);
    this.#health = undefined;
  }
}

function newer(known: Versioned | undefined, obj: Versioned): boolean {
  return !known || known.version <= obj.version;
}

function group(index: Map<string, TaskGroup>, key: string): TaskGroup {
  let g = index.get(key);
  if (!g) {
    g = new TaskGroup();
    index.set(key, g);
  }
  return g;
}
