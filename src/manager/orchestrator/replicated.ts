import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import type { Group } from './group.ts';
import { evictionReason } from './node-health.ts';
import { isLive } from './task-life.ts';
import type { PlanBuilder } from './builder.ts';

/**
 * The slot diff of a replicated service. Slots that hold a live task are kept, lowest first,
 * up to `replicas`; higher occupied slots are retired (scale down removes the highest); the
 * missing ones are filled with the lowest free slot numbers (reusing a slot keeps its history
 * together). Pure.
 */
export function replicatedGroups(b: PlanBuilder, service: Service, tasks: readonly Task[]): Group[] {
  const bySlot = new Map<number, Task[]>();
  const strays: Task[] = [];
  for (const t of tasks) {
    if (t.slot === undefined) {
      strays.push(t);
      continue;
    }
    let list = bySlot.get(t.slot);
    if (!list) bySlot.set(t.slot, (list = []));
    list.push(t);
  }

  const { keep, fill } = chooseSlots(
    [...bySlot].filter(([, ts]) => ts.some(isLive)).map(([s]) => s),
    service.spec.replicas,
  );
  const wanted = new Set([...keep, ...fill]);
  const evict = (t: Task): string | undefined => (t.nodeId === undefined ? undefined : evictionReason(b.nodes.get(t.nodeId)));

  const groups: Group[] = [];
  const slots = new Set([...bySlot.keys(), ...fill]);
  for (const slot of [...slots].sort((x, y) => x - y)) {
    groups.push({
      tasks: bySlot.get(slot) ?? [],
      placement: { slot },
      wanted: wanted.has(slot),
      canCreate: true,
      evict,
      unwanted: 'remove',
      dropHistory: true,
    });
  }
  if (strays.length > 0) {
    // Tasks without a slot (the service changed mode): none is wanted.
    groups.push({ tasks: strays, placement: { slot: 0 }, wanted: false, canCreate: false, evict, unwanted: 'remove', dropHistory: true });
  }
  return groups;
}

/**
 * Which occupied slots to keep and which free slot numbers to fill so that exactly
 * `replicas` slots are wanted.
 */
export function chooseSlots(occupied: readonly number[], replicas: number): { keep: number[]; fill: number[] } {
  const sorted = [...occupied].sort((x, y) => x - y);
  const keep = sorted.slice(0, replicas);
  const taken = new Set(sorted);
  const fill: number[] = [];
  for (let s = 1; keep.length + fill.length < replicas; s++) if (!taken.has(s)) fill.push(s);
  return { keep, fill };
}
