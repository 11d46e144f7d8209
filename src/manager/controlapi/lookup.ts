import { ApiError } from '../../api/errors.ts';
import type { Node } from '../../api/node.ts';
import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';

/** The read side of a table, as both the store and a transaction offer it. */
export interface TableReader<T> {
  get(id: string): T | undefined;
  all(): readonly T[];
}

/** Shortest id prefix accepted, so a typo of one or two characters does not hit something else. */
const MIN_PREFIX = 3;

/**
 * Finds one object by exact id, then exact name, then unique id prefix (lists show 12-character
 * ids, and users type what they see, as with Docker). Not found → `not_found`; a prefix that
 * matches several → `invalid_argument` naming them.
 */
function resolve<T extends { id: string }>(
  what: string,
  ref: string,
  table: TableReader<T>,
  byName: (name: string) => T | undefined,
): T {
  const exact = table.get(ref) ?? byName(ref);
  if (exact) return exact;
  if (ref.length >= MIN_PREFIX) {
    const matches = table.all().filter((o) => o.id.startsWith(ref));
    if (matches.length === 1 && matches[0]) return matches[0];
    if (matches.length > 1) {
      throw new ApiError('invalid_argument', `${what} id prefix "${ref}" is ambiguous: it matches ${matches.length} ${what}s`, {
        details: matches.slice(0, 5).map((m) => ({ path: 'id', message: m.id })),
      });
    }
  }
  throw new ApiError('not_found', `${what} ${ref} not found`);
}

export function resolveService(services: TableReader<Service> & { byName(name: string): Service | undefined }, ref: string): Service {
  return resolve('service', ref, services, (n) => services.byName(n));
}

export function resolveNode(nodes: TableReader<Node>, ref: string): Node {
  return resolve('node', ref, nodes, (h) => {
    const found = nodes.all().filter((n) => n.description.hostname === h);
    if (found.length > 1) {
      throw new ApiError('invalid_argument', `hostname ${h} is shared by ${found.length} nodes: use the node id`);
    }
    return found[0];
  });
}

export function resolveTask(tasks: TableReader<Task>, ref: string): Task {
  return resolve('task', ref, tasks, () => undefined);
}

/** Secrets, configs, stacks: by exact id, then their unique `name` index, then unique id prefix. */
export function resolveByName<T extends { id: string }>(what: string, table: TableReader<T> & { by(index: string, value: string): T[] }, ref: string): T {
  return resolve(what, ref, table, (n) => table.by('name', n)[0]);
}
