import type { FlotillaClient } from '../../client/client.ts';
import { isClientError } from '../../client/errors.ts';
import type { ClusterEvent } from '../../api/event.ts';
import type { Node } from '../../api/node.ts';
import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';

/** One line of the recent-events list. */
export interface RecentEvent {
  readonly revision: number;
  readonly kind: string;
  readonly action: string;
  readonly name: string;
  readonly detail: string;
  /** The service it concerns (a service's or a task's event), for the service's own list. */
  readonly serviceId?: string;
  /** The node it concerns (a node's event, or a task's on that node). */
  readonly nodeId?: string;
}

/** Events kept for the views' lists (the overview shows the newest few; a service its own). */
const RECENT_EVENTS = 500;
const RETRY_MS = 1000;
/** The kinds this state follows (stacks, secrets and configs are the `Catalog`'s). */
const STREAMED = ['node', 'service', 'task', 'network'] as const;

type Versioned = { id: string; version: number };

/**
 * What the dashboard knows of the cluster: nodes, services and tasks by id, kept current by
 * the event stream. Start order avoids a gap: the stream is opened first and its events are
 * held, then the lists are read, then the held events are applied — each only if newer than
 * the object's `version` (the store revision of its last write), so a list read after an event
 * is never set back. Listeners are told at most once per animation frame, however many events
 * a burst brings.
 */
export class ClusterState {
  readonly nodes = new Map<string, Node>();
  readonly services = new Map<string, Service>();
  readonly tasks = new Map<string, Task>();
  readonly recent: RecentEvent[] = [];
  /**
   * `live` once the lists are read and the stream is open; `reconnecting` while it is not;
   * `signed-out` when the session ended (the stream stops); `stale` when the manager no longer
   * has the history to resume from (start again: the page reloads).
   */
  status: 'loading' | 'live' | 'reconnecting' | 'signed-out' | 'stale' = 'loading';
  readonly #client: FlotillaClient;
  readonly #opened: Promise<void>;
  readonly #listeners = new Set<() => void>();
  #revision = 0;
  #frame = 0;
  #held: ClusterEvent[] | undefined = [];
  readonly #abort = new AbortController();

  /** `opened` resolves once the first event stream's response arrived (see `dashboardClient`). */
  constructor(client: FlotillaClient, opened: Promise<void>) {
    this.#client = client;
    this.#opened = opened;
  }

  /** Calls `fn` after changes, once per animation frame; returns the unsubscribe. */
  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Opens the stream, reads the lists, then follows the stream (reconnecting after a second). */
  async start(): Promise<void> {
    const streaming = this.#follow();
    // A stream that ends before it opened (signed out) leaves nothing to load.
    await Promise.race([this.#opened, streaming]);
    if (this.status !== 'loading') return;
    await this.#load();
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const ev of held) this.#apply(ev);
    this.status = 'live';
    this.#changed();
    void streaming;
  }

  stop(): void {
    this.#abort.abort();
  }

  async #load(): Promise<void> {
    const [nodes, services, tasks] = await Promise.all([this.#client.listNodes(), this.#client.listServices(), this.#client.listTasks()]);
    for (const n of nodes) mergeObject(this.nodes, n);
    for (const s of services) mergeObject(this.services, s);
    for (const t of tasks) mergeObject(this.tasks, t);
  }

  async #follow(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      try {
        const since = this.#revision > 0 ? { since: this.#revision } : {};
        for await (const ev of this.#client.events({ ...since, kinds: STREAMED, signal: this.#abort.signal })) {
          if (this.status === 'reconnecting') {
            this.status = 'live';
            this.#changed();
          }
          if (this.#held) this.#held.push(ev);
          else this.#apply(ev);
        }
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        const code = isClientError(err) ? err.code : undefined;
        const end = code === 'unauthenticated' ? 'signed-out' : code === 'failed_precondition' ? 'stale' : undefined;
        if (end !== undefined) {
          this.status = end;
          this.#changed();
          return;
        }
      }
      this.status = 'reconnecting';
      this.#changed();
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }

  #apply(ev: ClusterEvent): void {
    this.#revision = Math.max(this.#revision, ev.revision);
    const table = ev.kind === 'node' ? this.nodes : ev.kind === 'service' ? this.services : ev.kind === 'task' ? this.tasks : undefined;
    if (table) {
      const obj = ev.object as Versioned;
      if (ev.action === 'delete') {
        const known = table.get(obj.id) as Versioned | undefined;
        if (known && known.version <= ev.revision) table.delete(obj.id);
      } else {
        mergeObject(table as Map<string, Versioned>, obj);
      }
    }
    this.recent.unshift(describe(ev));
    if (this.recent.length > RECENT_EVENTS) this.recent.length = RECENT_EVENTS;
    this.#changed();
  }

  /** Schedules one notification for this frame (event bursts are batched). */
  #changed(): void {
    if (this.#frame !== 0) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      for (const fn of this.#listeners) fn();
    });
  }
}

/** Keeps the newer of the known object and `obj` (by `version`). */
export function mergeObject<T extends Versioned>(table: Map<string, T>, obj: T): void {
  const known = table.get(obj.id);
  if (!known || known.version <= obj.version) table.set(obj.id, obj);
}

function describe(ev: ClusterEvent): RecentEvent {
  const base = { revision: ev.revision, kind: ev.kind, action: ev.action };
  switch (ev.kind) {
    case 'node':
      return { ...base, name: ev.object.description.hostname, detail: ev.object.status.state, nodeId: ev.object.id };
    case 'service':
      return { ...base, name: ev.object.spec.name, detail: ev.object.updateStatus?.state ?? '', serviceId: ev.object.id };
    case 'task': {
      const t = ev.object;
      const on = t.nodeId !== undefined ? { nodeId: t.nodeId } : {};
      return { ...base, name: `${t.serviceName}${t.slot !== undefined ? `.${t.slot}` : ''}`, detail: t.status.state, serviceId: t.serviceId, ...on };
    }
    default:
      return { ...base, name: ev.object.spec.name, detail: '' };
  }
}
