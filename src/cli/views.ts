import { managerStatus } from '../api/manager-status.ts';
import type { ManagerEntry } from '../api/managers.ts';
import { isJobMode, jobProgress, jobTarget } from '../api/job.ts';
import type { Node } from '../api/node.ts';
import type { PortConfig, Service } from '../api/service.ts';
import type { Task } from '../api/task.ts';
import { shortId } from '../lib/ids.ts';
import { cell, table, truncate } from './format/table.ts';
import { ago } from './format/time.ts';

/**
 * The human tables of list commands, as docker lays them out. Pure functions of API objects
 * and `now`, so they are tested without a manager.
 */

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** `*:8080->80/tcp` per published port, comma-separated. */
export function portsText(ports: readonly PortConfig[]): string {
  return ports.map((p) => `*:${p.published}->${p.target}/${p.protocol}`).join(', ');
}

/** `service ls`: ID NAME MODE REPLICAS IMAGE PORTS; REPLICAS is running/desired. */
export function serviceTable(services: readonly Service[], tasks: readonly Task[]): string {
  const rows = [...services]
    .sort((a, b) => a.spec.name.localeCompare(b.spec.name))
    .map((s) => {
      const mine = tasks.filter((t) => t.serviceId === s.id && t.desiredState === 'running');
      const running = mine.filter((t) => t.status.state === 'running').length;
      const desired = s.spec.mode === 'global' ? mine.length : s.spec.replicas;
      const c = s.spec.taskTemplate.container;
      const image = s.spec.taskTemplate.driver === 'exec' ? `exec: ${(c.command ?? []).join(' ')}` : (c.image ?? '');
      return [shortId(s.id), s.spec.name, s.spec.mode, replicasText(s, tasks, running, desired), cell(truncate(image, 40)), portsText(s.spec.endpoint.ports)];
    });
  return table(['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'], rows);
}

/** `running/desired`; for a job as docker shows it: `1/2 (3/5 completed)`. */
function replicasText(s: Service, tasks: readonly Task[], running: number, desired: number): string {
  if (!isJobMode(s.spec.mode)) return `${running}/${desired}`;
  const p = jobProgress(s, tasks.filter((t) => t.serviceId === s.id));
  const concurrent = s.spec.mode === 'global-job' ? p.wanted : jobTarget(s.spec).maxConcurrent;
  return `${p.active}/${concurrent} (${p.completed}/${p.wanted} completed)`;
}

/** A task's name as docker shows it: `web.1` for a replica slot, `web.<node id>` for a global task. */
export function taskName(t: Task): string {
  if (t.slot !== undefined) return `${t.serviceName}.${t.slot}`;
  return `${t.serviceName}.${t.nodeId ?? t.id}`;
}

export interface TaskTableOptions {
  readonly noTrunc: boolean;
  readonly now: number;
}

/**
 * `service ps`: ID NAME IMAGE NODE DESIRED STATE CURRENT STATE ERROR PORTS. Tasks of one slot
 * are grouped, newest first; older ones are shown as ` \_ web.1` under it, as docker does.
 */
export function taskTable(tasks: readonly Task[], nodes: readonly Node[], options: TaskTableOptions): string {
  const hostnames = new Map(nodes.map((n) => [n.id, n.description.hostname]));
  const groups = new Map<string, Task[]>();
  for (const t of tasks) {
    const key = `${t.serviceName}\u0000${t.slot !== undefined ? String(t.slot).padStart(8, '0') : (t.nodeId ?? t.id)}`;
    const g = groups.get(key) ?? [];
    g.push(t);
    groups.set(key, g);
  }
  const rows: string[][] = [];
  for (const key of [...groups.keys()].sort()) {
    const group = (groups.get(key) ?? []).sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
    group.forEach((t, i) => {
      const id = options.noTrunc ? t.id : shortId(t.id);
      const name = i === 0 ? taskName(t) : ` \\_ ${taskName(t)}`;
      const c = t.spec.container;
      const image = t.spec.driver === 'exec' ? `exec: ${(c.command ?? []).join(' ')}` : (c.image ?? '');
      const node = t.nodeId === undefined ? '' : (hostnames.get(t.nodeId) ?? shortId(t.nodeId));
      const current = `${capitalize(t.status.state)} ${ago(t.status.timestamp, options.now)}`;
      // A task waiting to be placed shows why (no suitable node, waiting for a dependency), as docker does.
      const err = t.status.err ?? (waitsForPlacement(t) ? t.status.message : '');
      rows.push([
        id,
        name,
        cell(options.noTrunc ? image : truncate(image, 40)),
        cell(node),
        desiredText(t),
        current,
        cell(options.noTrunc ? err : truncate(err, 40)),
        portsText(t.ports),
      ]);
    });
  }
  return table(['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR', 'PORTS'], rows);
}

/**
 * The DESIRED STATE column. A task that completed while still wanted running is a finished
 * job task (a service's would have been replaced), so it reads `Complete`, as docker shows it.
 */
function desiredText(t: Task): string {
  if (t.desiredState === 'running' && t.status.state === 'complete') return 'Complete';
  return capitalize(t.desiredState);
}

/** Pending and wanted, with a reason from the scheduler (not the allocator's plain `allocated`). */
function waitsForPlacement(t: Task): boolean {
  return t.status.state === 'pending' && t.desiredState === 'running' && t.status.message !== 'allocated';
}

/**
 * `node ls`: ID HOSTNAME STATUS AVAILABILITY MANAGER STATUS ADDRESS ENGINE TASKS. `tasks` is the
 * number of running tasks per node id; `managers` the live managers (`GET /v1/managers`), which
 * make a manager node Leader, Reachable or Unreachable.
 */
export function nodeTable(nodes: readonly Node[], tasks: ReadonlyMap<string, number> = new Map(), managers: readonly ManagerEntry[] = []): string {
  const rows = [...nodes]
    .sort((a, b) => a.description.hostname.localeCompare(b.description.hostname))
    .map((n) => [
      shortId(n.id),
      cell(n.description.hostname),
      capitalize(n.status.state),
      capitalize(n.spec.availability),
      managerStatus(n, managers),
      cell(n.status.addr.replace(/:\d+$/, '').replace(/^::ffff:/, '')),
      n.description.engine ? `${n.description.engine.name} ${n.description.engine.version}` : n.description.drivers.join(','),
      String(tasks.get(n.id) ?? 0),
    ]);
  return table(['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ADDRESS', 'ENGINE', 'TASKS'], rows);
}
