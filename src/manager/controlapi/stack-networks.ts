import { isDeepStrictEqual } from 'node:util';
import { ApiError } from '../../api/errors.ts';
import { chooseRange } from '../../api/network-ranges.ts';
import type { Network, NetworkSpec } from '../../api/network.ts';
import type { ServiceSpec } from '../../api/service.ts';
import { STACK_LABEL, type StackChange } from '../../api/stack.ts';
import type { StackNetwork } from '../../compose/convert.ts';
import type { NewObject } from '../../store/tables.ts';

/**
 * The network part of a stack deploy (pure, like `stack-plan.ts`): the stack's networks are
 * created with a range and VNI from `chooseRange`, kept when they exist with the same spec,
 * and removed with `prune` once no longer in the files and unused (by services and by plain containers). Networks are immutable (as
 * in Swarm: tasks hold addresses in the range): a changed spec is refused. External networks
 * must exist.
 */

export interface NetworkWrites {
  readonly create: Array<NewObject<Network>>;
  readonly delete: string[];
}

export interface NetworkPlan {
  readonly writes: NetworkWrites;
  /** Ids of the networks the stack owns after the deploy. */
  readonly ids: string[];
  readonly changes: StackChange[];
}

/** What the network planner needs to know of the services. */
export interface NetworkUsers {
  /** Services that stay in the store (outside the stack too), with the spec they have now: their tasks use it. */
  readonly current: readonly ServiceSpec[];
  /** The specs the deploy writes (created and updated services). */
  readonly next: readonly ServiceSpec[];
  /** The plain containers attached to a network (`containersOnNetwork`); a network with some is kept. */
  readonly containers?: (n: Network) => readonly string[];
}

const owned = (stack: string, n: Network): boolean => (n.spec.labels as Readonly<Record<string, string>>)[STACK_LABEL] === stack;

const SPEC_FIELDS: ReadonlyArray<keyof NetworkSpec> = ['subnet', 'internal', 'attachable', 'encrypted', 'driver', 'labels'];

/** The networks' plan. Throws `ApiError` (nothing is written) when it cannot be applied. */
export function planNetworks(
  stack: string,
  existing: readonly Network[],
  target: readonly StackNetwork[],
  users: NetworkUsers,
  prune: boolean,
  newId: () => string,
): NetworkPlan {
  const writes: NetworkWrites = { create: [], delete: [] };
  const ids: string[] = [];
  const changes: StackChange[] = [];
  const usersOf = (n: Network, specs: readonly ServiceSpec[]): string[] =>
    specs.filter((s) => s.taskTemplate.networks.some((a) => a.target === n.spec.name || a.target === n.id)).map((s) => s.name);
  // A new range overlaps neither what exists (networks being pruned keep theirs until then) nor what this deploy creates.
  const taken = (): Network[] => [...existing, ...writes.create.map((c) => ({ ...c, version: 0, createdAt: '', updatedAt: '' }))];

  for (const n of target) {
    const found = existing.find((x) => x.spec.name === n.name);
    if (n.external) {
      if (!found) throw new ApiError('invalid_argument', `networks.${n.key}: network ${n.name} is declared as external, but could not be found: create it first (flotilla network create ${n.name})`);
      if (found.ingress) throw new ApiError('invalid_argument', `networks.${n.key}: network ${n.name} is the routing mesh's: a service reaches it by publishing a port in ingress mode, not by joining it`);
      continue;
    }
    if (!found) {
      const range = chooseRange(n.spec, taken());
      if (!range.ok) throw new ApiError('invalid_argument', `networks.${n.key}: network ${n.name}: ${range.reason}`);
      const id = newId();
      writes.create.push({ id, spec: n.spec, subnet: range.subnet, vni: range.vni, ingress: false, slices: [] });
      ids.push(id);
      changes.push({ kind: 'network', name: n.name, action: 'created' });
      continue;
    }
    if (found.ingress || !owned(stack, found)) {
      throw new ApiError('already_exists', `network ${n.name} exists and is not part of stack ${stack}: remove it, give the stack's network another name, or declare it external`);
    }
    const differ = SPEC_FIELDS.filter((f) => !isDeepStrictEqual(found.spec[f], n.spec[f]));
    if (differ.length === 0) {
      ids.push(found.id);
      changes.push({ kind: 'network', name: n.name, action: 'unchanged' });
      continue;
    }
    const using = usersOf(found, users.current);
    const how = using.length > 0 ? `remove the stack's services first or rename it (it is used by ${using.join(', ')})` : `remove it first (flotilla network rm ${n.name}) or rename it`;
    throw new ApiError('failed_precondition', `network ${n.name} exists with other settings (${differ.join(', ')}): ${how}`);
  }

  const wanted = new Set(target.map((n) => n.name));
  for (const n of existing) {
    if (n.ingress || !owned(stack, n) || wanted.has(n.spec.name)) continue;
    // Also the services about to move off it: their old tasks still run on it during the update.
    // And plain containers attached to it: Swarm refuses to remove a network they are on.
    const inUse = usersOf(n, users.current).length > 0 || usersOf(n, users.next).length > 0 || (users.containers?.(n).length ?? 0) > 0;
    if (prune && !inUse) {
      writes.delete.push(n.id);
      changes.push({ kind: 'network', name: n.spec.name, action: 'removed' });
    } else {
      ids.push(n.id);
      changes.push({ kind: 'network', name: n.spec.name, action: 'kept' });
    }
  }
  return { writes, ids, changes };
}
