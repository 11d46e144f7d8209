import type { ClusterEvent } from '../../api/event.ts';
import type { Config, Secret } from '../../api/secret.ts';
import type { Stack } from '../../api/stack.ts';
import type { FlotillaClient } from '../../client/client.ts';
import { isClientError } from '../../client/errors.ts';
import { mergeObject } from './cluster-state.ts';

/** The kinds the catalog follows. */
const KINDS = ['stack', 'secret', 'config'] as const;
const RETRY_MS = 1000;

type Versioned = { id: string; version: number };

/**
 * Stacks, secrets (metadata: the API never sends their data) and configs, kept live by an
 * event stream of their own kinds. They change rarely and are small in number, so a second
 * stream beside `ClusterState`'s (which carries the nodes, services and tasks, thousands of
 * changes a second at scale) keeps that one lean and this one simple. Same start order as
 * `ClusterState`: the stream opens first and its events are held while the lists load, each
 * applied only if newer than the object's `version`.
 */
export class Catalog {
  readonly stacks = new Map<string, Stack>();
  readonly secrets = new Map<string, Secret>();
  readonly configs = new Map<string, Config>();
  /** `failed` with `problem` when the lists could not be read (the views say so). */
  status: 'loading' | 'live' | 'reconnecting' | 'failed' = 'loading';
  problem = '';
  readonly #client: FlotillaClient;
  readonly #opened: Promise<void>;
  readonly #listeners = new Set<() => void>();
  readonly #abort = new AbortController();
  #held: ClusterEvent[] | undefined = [];
  #revision = 0;
  #frame = false;

  /** `opened` resolves once this catalog's event stream answered (see `dashboardClient`). */
  constructor(client: FlotillaClient, opened: Promise<void>) {
    this.#client = client;
    this.#opened = opened;
  }

  /** Calls `fn` after changes, at most once per animation frame; returns the unsubscribe. */
  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  async start(): Promise<void> {
    const streaming = this.#follow();
    await Promise.race([this.#opened, streaming]);
    if (this.#abort.signal.aborted) return;
    try {
      const [stacks, secrets, configs] = await Promise.all([this.#client.listStacks(), this.#client.listSecrets(), this.#client.listConfigs()]);
      for (const o of stacks) mergeObject(this.stacks, o);
      for (const o of secrets) mergeObject(this.secrets, o);
      for (const o of configs) mergeObject(this.configs, o);
    } catch (err) {
      this.status = 'failed';
      this.problem = (err as Error).message;
      this.#changed();
      return;
    }
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const ev of held) this.#apply(ev);
    this.status = 'live';
    this.#changed();
  }

  stop(): void {
    this.#abort.abort();
  }

  async #follow(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      try {
        const since = this.#revision > 0 ? { since: this.#revision } : {};
        for await (const ev of this.#client.events({ ...since, kinds: KINDS, signal: this.#abort.signal })) {
          if (this.status === 'reconnecting') this.status = 'live';
          if (this.#held) this.#held.push(ev);
          else this.#apply(ev);
        }
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        // A session that ended, or history compacted: ClusterState handles both (sign-in, reload).
        if (isClientError(err) && (err.code === 'unauthenticated' || err.code === 'failed_precondition')) return;
      }
      if (this.status === 'live') this.status = 'reconnecting';
      this.#changed();
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }

  #apply(ev: ClusterEvent): void {
    this.#revision = Math.max(this.#revision, ev.revision);
    const table = (ev.kind === 'stack' ? this.stacks : ev.kind === 'secret' ? this.secrets : ev.kind === 'config' ? this.configs : undefined) as Map<string, Versioned> | undefined;
    if (!table) return;
    const obj = ev.object as Versioned;
    if (ev.action !== 'delete') mergeObject(table, obj);
    else if ((table.get(obj.id)?.version ?? Infinity) <= ev.revision) table.delete(obj.id);
    this.#changed();
  }

  #changed(): void {
    if (this.#frame) return;
    this.#frame = true;
    requestAnimationFrame(() => {
      this.#frame = false;
      for (const fn of this.#listeners) fn();
    });
  }
}
