import { join } from 'node:path';
import { Etcd3, type IKeyValue } from 'etcd3';
import { TASK_LABELS } from '../../src/api/service.ts';
import { FlotillaClient } from '../../src/client/client.ts';
import { commitWriter, fencedTerm, Layout } from '../../src/store/etcd/layout.ts';
import type { BedManager, TestBed } from './bed.ts';
import { readTlsDir } from './probe.ts';
import { waitFor } from './wait.ts';

/** A running container of a task, as its host's engine reports it. */
export interface RunningContainer {
  readonly host: string;
  readonly taskId: string;
  readonly service: string;
  readonly containerId: string;
  readonly startedAt: string;
}

/** Every running task container on every host's engine, by task id (two for one task is an error). */
export async function runningContainers(bed: TestBed): Promise<Map<string, RunningContainer>> {
  const out = new Map<string, RunningContainer>();
  for (const h of bed.hosts) {
    const list = await h.engine.docker.listContainers({ filters: JSON.stringify({ label: [TASK_LABELS.taskId], status: ['running'] }) });
    for (const c of list) {
      const info = await h.engine.docker.getContainer(c.Id).inspect();
      const taskId = c.Labels[TASK_LABELS.taskId] ?? '';
      const seen = out.get(taskId);
      if (seen) throw new Error(`task ${taskId} runs twice: container ${seen.containerId} on ${seen.host} and ${c.Id} on ${h.name}`);
      out.set(taskId, { host: h.name, taskId, service: c.Labels[TASK_LABELS.serviceName] ?? '', containerId: c.Id, startedAt: info.State.StartedAt });
    }
  }
  return out;
}

/** Running containers of one service. */
export function ofService(all: ReadonlyMap<string, RunningContainer>, service: string): RunningContainer[] {
  return [...all.values()].filter((c) => c.service === service);
}

/** A client of a manager's HTTPS URL with the cluster's admin certificate (a remote client). */
export function httpsClient(bed: TestBed, m: BedManager): FlotillaClient {
  const tls = readTlsDir(join(bed.manager.dir, 'admin'));
  return new FlotillaClient({ url: m.url, tls });
}

/**
 * The leader each listed manager names (`GET /v1/managers` on its unix socket): the manager's
 * name, `none`, `many`, or `error: …` when it does not answer.
 */
export async function leadersSeen(bed: TestBed, names: readonly string[]): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  await Promise.all(
    names.map(async (name) => {
      try {
        const { managers } = await bed.managerNamed(name).client.listManagers();
        const leaders = managers.filter((m) => m.leader);
        const ip = leaders[0]?.addr.replace(/:\d+$/, '');
        seen.set(name, leaders.length === 0 ? 'none' : leaders.length > 1 ? 'many' : (bed.managers.find((m) => m.ip === ip)?.name ?? `unknown ${ip}`));
      } catch (err) {
        seen.set(name, `error: ${(err as Error).message}`);
      }
    }),
  );
  return seen;
}

/** Waits until every manager in `names` names one and the same leader among `names`; returns it. */
export async function agreedLeader(bed: TestBed, names: readonly string[], timeoutMs: number): Promise<string> {
  let leader = '';
  await waitFor(
    async () => {
      const seen = await leadersSeen(bed, names);
      const values = new Set(seen.values());
      const [only] = values;
      if (values.size === 1 && only !== undefined && names.includes(only)) {
        leader = only;
        return true;
      }
      return [...seen].map(([k, v]) => `${k}→${v}`).join(' ');
    },
    timeoutMs,
    `managers ${names.join(', ')} to agree on one leader among them`,
    200,
  );
  return leader;
}

/** The bed's etcd as the test reads it: the election's leader key and the history of commits. */
export class EtcdView {
  readonly #client: Etcd3;
  readonly #layout = new Layout('/flotilla');

  constructor(endpoints: readonly string[]) {
    // A deadline on every call: a member whose link is cut never answers.
    this.#client = new Etcd3({ hosts: endpoints.map((e) => `http://${e}`), defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 3_000 }) });
  }

  /** `fn`, again while it fails (a member cut off or stopped), for up to 60 s. */
  async #retry<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** The leader key now (value: the leader's manager id), or undefined. */
  async leaderKey(): Promise<{ id: string; term: number; revision: number } | undefined> {
    const res = await this.#retry(() => this.#client.kv.range({ key: Buffer.from(this.#layout.leaderKey) }));
    const kv = res.kvs[0];
    return kv ? { id: kv.value.toString(), term: Number(kv.create_revision), revision: Number(res.header.revision) } : undefined;
  }

  /** The manager id of each live member key. */
  async memberIds(): Promise<string[]> {
    const prefix = this.#layout.membersPrefix;
    const res = await this.#retry(() => this.#client.getAll().prefix(prefix).keys());
    return res.map((k) => k.slice(prefix.length));
  }

  /** etcd's head revision now. */
  async headRevision(): Promise<number> {
    return Number((await this.#retry(() => this.#client.kv.range({ key: Buffer.from(this.#layout.counterKey) }))).header.revision);
  }

  /**
   * From etcd's history since `fromRevision` (until now): each commit's etcd revision, the term
   * it was fenced on (undefined: an unfenced write) and the manager that wrote it (`commitWriter`),
   * the revisions at which a leader key created at `term` was deleted, and each term begun in
   * that history (a leader key created: its create revision → the manager id it names).
   */
  async history(
    fromRevision: number,
    term: number,
  ): Promise<{ commits: { revision: number; term: number | undefined; writer: string | undefined }[]; leaderDeletedAt: number[]; leaders: Map<number, string> }> {
    const now = await this.headRevision();
    const commits: { revision: number; term: number | undefined; writer: string | undefined }[] = [];
    const leaderDeletedAt: number[] = [];
    const leaders = new Map<number, string>();
    const watcher = await this.#client.watch().prefix(`${this.#layout.root}/`).startRevision(String(fromRevision)).withPreviousKV().create();
    let timer: NodeJS.Timeout | undefined;
    try {
      let last = fromRevision - 1;
      const done = new Promise<void>((resolve, reject) => {
        const take = (kv: IKeyValue, type: 'put' | 'delete', prev: IKeyValue | undefined): void => {
          const key = kv.key.toString();
          const revision = Number(kv.mod_revision);
          if (key === this.#layout.counterKey && type === 'put') commits.push({ revision, term: fencedTerm(kv.value), writer: commitWriter(kv.value) });
          if (key === this.#layout.leaderKey && type === 'put' && kv.create_revision === kv.mod_revision) leaders.set(revision, kv.value.toString());
          if (key === this.#layout.leaderKey && type === 'delete' && Number(prev?.create_revision ?? 0) === term) leaderDeletedAt.push(revision);
        };
        watcher.on('put', (kv, prev) => take(kv, 'put', prev));
        watcher.on('delete', (kv, prev) => take(kv, 'delete', prev));
        watcher.on('data', (res) => {
          for (const ev of res.events) last = Math.max(last, Number(ev.kv.mod_revision));
          if (last >= now) resolve();
        });
        watcher.on('error', reject);
      });
      const slow = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`etcd history ${fromRevision}..${now} not read within 30 s`)), 30_000);
      });
      if (now >= fromRevision) await Promise.race([done, slow]);
    } finally {
      clearTimeout(timer);
      await watcher.cancel().catch(() => undefined);
    }
    return { commits, leaderDeletedAt, leaders };
  }

  /**
   * Waits until the member at `endpoint` knows it has no leader (it lost the quorum). Until
   * then a leader alone may still take a write into its log, to commit it once the others
   * return: an `unavailable` write in flight has an unknown outcome, as etcd's own have.
   */
  static async quorumLost(endpoint: string, timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        const client = new Etcd3({ hosts: `http://${endpoint}` });
        try {
          const status = await client.maintenance.status().catch((err: unknown) => ({ leader: `error: ${(err as Error).message}` }));
          return status.leader === '0' || `member at ${endpoint} has leader ${status.leader}`;
        } finally {
          client.close();
        }
      },
      timeoutMs,
      `the etcd member at ${endpoint} to lose its leader`,
      200,
    );
  }

  close(): void {
    this.#client.close();
  }
}
