import { failedAttempt, isJobMode, jobProgress, succeeded } from '../../api/job.ts';
import type { Dependency, Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';

/** What the dependency gate reads: services by id and name, and a service's tasks. */
export interface DependencySnapshot {
  service(id: string): Service | undefined;
  serviceByName(name: string): Service | undefined;
  tasksOf(serviceId: string): readonly Task[];
}

/**
 * Whether a task of `service` may start now: undefined when every dependency in `dependsOn`
 * meets its condition, else why not, for the task's status message:
 * `waiting for STACK_db: service_healthy (1 of 2 healthy)`. The first unmet dependency, in the
 * spec's order, is named. Pure.
 *
 * Only the dependency's current `specVersion` counts (a dependency being updated waits for
 * its new tasks):
 * - `service_started`: every wanted slot (replicas; for a global service each node with a
 *   wanted task, at least one) has a running task;
 * - `service_healthy`: those tasks are also up: healthy when they report health or carry a
 *   probe, running otherwise;
 * - `service_completed_successfully`: a job whose current run completed every wanted
 *   completion; any other service: its wanted tasks all exited 0.
 */
export function dependencyGate(snapshot: DependencySnapshot, service: Service): string | undefined {
  for (const d of service.spec.dependsOn) {
    const why = unmet(snapshot, d);
    if (why !== undefined) return `waiting for ${d.service}: ${why}`;
  }
  return undefined;
}

function unmet(snapshot: DependencySnapshot, d: Dependency): string | undefined {
  const dep = snapshot.serviceByName(d.service);
  if (dep === undefined) return 'no such service';
  const tasks = snapshot.tasksOf(dep.id);
  if (d.condition === 'service_completed_successfully') {
    if (isJobMode(dep.spec.mode)) {
      const p = jobProgress(dep, tasks);
      return p.done ? undefined : `${d.condition} (${p.completed} of ${p.wanted} completed${failures(p.failed)})`;
    }
    const wanted = currentWanted(dep, tasks);
    const ok = wanted.filter(succeeded).length;
    const target = wantedCount(dep, wanted);
    const failed = wanted.filter(failedAttempt).length;
    return ok >= target && target > 0 ? undefined : `${d.condition} (${ok} of ${target} completed${failures(failed)})`;
  }
  const wanted = currentWanted(dep, tasks);
  const target = wantedCount(dep, wanted);
  const healthy = d.condition === 'service_healthy';
  const ok = slotsWith(wanted, healthy ? isUp : (t) => t.status.state === 'running');
  const met = ok >= target && (target > 0 || dep.spec.mode === 'replicated');
  return met ? undefined : `${d.condition} (${Math.min(ok, target)} of ${target} ${healthy ? 'healthy' : 'running'})`;
}

/** Tasks of the dependency's current spec the orchestrator wants running. */
function currentWanted(dep: Service, tasks: readonly Task[]): Task[] {
  return tasks.filter((t) => t.desiredState === 'running' && t.specVersion >= dep.specVersion);
}

/** Slots a dependency must fill: its replicas, or for a global service the nodes it has a task on. */
function wantedCount(dep: Service, wanted: readonly Task[]): number {
  if (dep.spec.mode === 'replicated') return dep.spec.replicas;
  return new Set(wanted.map((t) => t.nodeId ?? t.id)).size;
}

/** Distinct slots (or nodes) holding a task that passes `ok`. */
function slotsWith(tasks: readonly Task[], ok: (t: Task) => boolean): number {
  const keys = new Set<string>();
  for (const t of tasks) if (ok(t)) keys.add(t.slot !== undefined ? `s${t.slot}` : `n${t.nodeId ?? t.id}`);
  return keys.size;
}

function failures(n: number): string {
  return n > 0 ? `, ${n} failed` : '';
}

/**
 * Running, and healthy when it has a health check: a probe in its spec (other than `NONE`), or
 * health reported by the driver (an image's own HEALTHCHECK). `starting` is not up.
 */
export function isUp(t: Task): boolean {
  if (t.status.state !== 'running') return false;
  const health = t.status.health;
  if (health !== undefined) return health === 'healthy';
  const hc = t.spec.container.healthcheck;
  const probe = hc !== undefined && hc.test?.[0] !== 'NONE' && (hc.test !== undefined || hc.http !== undefined || hc.tcp !== undefined);
  return !probe;
}
