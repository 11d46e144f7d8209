import { EVENT_KINDS, type ClusterEvent, type EventKind } from '../api/event.ts';
import type { Node } from '../api/node.ts';
import type { Service } from '../api/service.ts';
import { STACK_LABEL } from '../api/stack.ts';
import { UsageError } from './parse.ts';

/** The keys `flotilla events --filter KEY=VALUE` takes. */
export const EVENT_FILTER_KEYS = ['type', 'event', 'service', 'node', 'stack'] as const;
type FilterKey = (typeof EVENT_FILTER_KEYS)[number];

const ACTIONS = ['create', 'update', 'delete'] as const;

/**
 * Parsed `--filter` flags, as `docker events` reads them: values of one key are alternatives
 * (any may match), different keys must all match.
 */
export type EventFilters = Readonly<Partial<Record<FilterKey, readonly string[]>>>;

/** Parses `KEY=VALUE` flags; a wrong key or a wrong `type`/`event` value is a `UsageError` naming what is valid. */
export function parseEventFilters(flags: readonly string[]): EventFilters {
  const out: Partial<Record<FilterKey, string[]>> = {};
  for (const f of flags) {
    const m = /^([^=]+)=(.+)$/.exec(f);
    if (!m) throw new UsageError(`invalid --filter "${f}": expected KEY=VALUE with KEY one of ${EVENT_FILTER_KEYS.join(', ')}`);
    const key = (m[1] as string).trim();
    const value = (m[2] as string).trim();
    if (!(EVENT_FILTER_KEYS as readonly string[]).includes(key)) {
      throw new UsageError(`invalid --filter "${f}": unknown key "${key}"; expected one of ${EVENT_FILTER_KEYS.join(', ')}`);
    }
    if (key === 'type' && !(EVENT_KINDS as readonly string[]).includes(value)) {
      throw new UsageError(`invalid --filter "${f}": type is one of ${EVENT_KINDS.join(', ')}`);
    }
    if (key === 'event' && !(ACTIONS as readonly string[]).includes(value)) {
      throw new UsageError(`invalid --filter "${f}": event is one of ${ACTIONS.join(', ')}`);
    }
    (out[key as FilterKey] ??= []).push(value);
  }
  return out;
}

/**
 * The kinds the server needs to send for these filters (all when no `type` is given). A `stack`
 * filter also needs service events and a `node` filter node events, whatever `type` says: they
 * teach the matcher the stack of a service and the hostname of a node created after the command
 * started, without which those services' and nodes' task events would be dropped. The matcher
 * still prints only the kinds `type` asked for.
 */
export function kindsFor(filters: EventFilters): EventKind[] {
  if (!filters.type) return [...EVENT_KINDS];
  const kinds = new Set<EventKind>(filters.type as readonly EventKind[]);
  if (filters.stack) kinds.add('service');
  if (filters.node) kinds.add('node');
  return [...kinds];
}

/**
 * Matches events against filters, keeping what a task or service event needs to be matched by
 * name: services (for a task's stack) and node hostnames (for `node=HOSTNAME`), seeded from a
 * listing at start and kept current from the events themselves.
 */
export class EventMatcher {
  readonly #filters: EventFilters;
  /** Service id → its stack (or undefined). */
  readonly #stacks = new Map<string, string | undefined>();
  /** Node id → hostname. */
  readonly #hostnames = new Map<string, string>();

  constructor(filters: EventFilters, known: { services?: readonly Service[]; nodes?: readonly Node[] } = {}) {
    this.#filters = filters;
    for (const s of known.services ?? []) this.#stacks.set(s.id, stackOf(s.spec.labels));
    for (const n of known.nodes ?? []) this.#hostnames.set(n.id, n.description.hostname);
  }

  /** Whether the filters need the services and nodes listed first (to match tasks by stack or node name). */
  static needsListing(filters: EventFilters): boolean {
    return filters.stack !== undefined || filters.node !== undefined;
  }

  /** Whether `ev` passes every filter. Also learns the stack and hostname it carries. */
  matches(ev: ClusterEvent): boolean {
    this.#learn(ev);
    const f = this.#filters;
    if (f.type && !f.type.includes(ev.kind)) return false;
    if (f.event && !f.event.includes(ev.action)) return false;
    if (f.service && !f.service.some((v) => this.#isService(ev, v))) return false;
    if (f.node && !f.node.some((v) => this.#isNode(ev, v))) return false;
    if (f.stack && !f.stack.some((v) => this.#stackOf(ev) === v)) return false;
    return true;
  }

  #learn(ev: ClusterEvent): void {
    if (ev.kind === 'service') this.#stacks.set(ev.object.id, stackOf(ev.object.spec.labels));
    if (ev.kind === 'node') this.#hostnames.set(ev.object.id, ev.object.description.hostname);
  }

  /** A service event of that service (name or id), or a task event of one of its tasks. */
  #isService(ev: ClusterEvent, v: string): boolean {
    if (ev.kind === 'service') return ev.object.spec.name === v || ev.object.id === v;
    if (ev.kind === 'task') return ev.object.serviceName === v || ev.object.serviceId === v;
    return false;
  }

  /** A node event of that node (hostname or id), or a task event of a task on it. */
  #isNode(ev: ClusterEvent, v: string): boolean {
    if (ev.kind === 'node') return ev.object.id === v || ev.object.description.hostname === v;
    if (ev.kind === 'task') {
      const id = ev.object.nodeId;
      return id !== undefined && (id === v || this.#hostnames.get(id) === v);
    }
    return false;
  }

  #stackOf(ev: ClusterEvent): string | undefined {
    if (ev.kind === 'service') return stackOf(ev.object.spec.labels);
    if (ev.kind === 'task') return this.#stacks.get(ev.object.serviceId);
    if (ev.kind === 'network' || ev.kind === 'secret' || ev.kind === 'config') return stackOf(ev.object.spec.labels);
    if (ev.kind === 'stack') return ev.object.spec.name;
    return undefined;
  }
}

/** The stack an object's labels name (`com.docker.stack.namespace`), if any. */
function stackOf(labels: object): string | undefined {
  return (labels as Readonly<Record<string, string | undefined>>)[STACK_LABEL];
}
