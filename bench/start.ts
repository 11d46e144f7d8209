/**
 * Task start benchmark on a real Docker engine: how long from "start N replicas" to N
 * containers running, for
 *   - the engine alone: N `docker run -d` in parallel,
 *   - Flotilla: `POST /v1/services` with N replicas (`flotilla dev`, docker driver),
 *   - with --vs-swarm, Docker Swarm mode on the same engine (`POST /services/create`).
 * Every figure ends at the engine's `start` event of the Nth container (one clock, one
 * measure for all three). Rounds alternate (engine, flotilla, swarm, engine, …); each removes
 * its containers before the next. For Flotilla it also prints where the time goes, per task
 * (median ms per stage) and per burst (when the last task passed each stage), from the task
 * events (`GET /v1/events`), the agent's status timestamps and the engine's events.
 *
 * Runs on an engine of its own, never the shared one: `dockerd` in a network namespace
 * `fltbench-h` with its files under /tmp/fltbench (see bench/start-bed.ts). Needs root.
 *
 *   npm run bench:start     (or: node bench/start.ts [--replicas 10,30] [--rounds 3] [--vs-swarm])
 *
 * Progress goes to stdout; the last line is one JSON object:
 *   {"rounds":3,"results":[{"replicas":10,"engineSeconds":…,"flotillaSeconds":…,"swarmSeconds":…,
 *    "flotillaVsEngine":…,"flotillaVsSwarm":…,"flotillaVsEngineByRound":…,"flotillaVsSwarmByRound":…,
 *    "stagesMs":{…},"lastAtMs":{…}}, …]}
 * (…VsEngine: ratio of the medians; …ByRound: median of each round's ratio.) Swarm gets the
 * image by id, so it never asks a registry (its best case).
 */
import { parseArgs } from 'node:util';
import type { Task, TaskState } from '../src/api/task.ts';
import { netnsUnavailableReason } from '../test/cluster/netns.ts';
import { waitFor } from '../test/cluster/wait.ts';
import { BENCH_IMAGE, StartBed, type ContainerEvent } from './start-bed.ts';

const { values: args } = parseArgs({
  options: {
    replicas: { type: 'string', default: '10,30' },
    rounds: { type: 'string', default: '3' },
    'vs-swarm': { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
  },
});
const SIZES = args.replicas.split(',').map(Number);
const ROUNDS = Number(args.rounds);
const SWARM = args['vs-swarm'];
const COMMAND = ['sleep', '3600'];
const ROUND_TIMEOUT_MS = 180_000;

type Kind = 'engine' | 'flotilla' | 'swarm';

/** Stages of one Flotilla task, in order; each is the time from the previous mark. */
const STAGES = [
  'api+orchestrator', // POST → task new (orchestrator's timestamp)
  'allocator', // new → pending
  'scheduler', // pending → assigned
  'dispatch+worker', // assigned → the agent's runner reports preparing
  'prepare→create', // preparing → engine `create` event (agent: lookups, image check, create call)
  'create→starting', // engine `create` → agent reports starting (create answered)
  'starting→start', // starting → engine `start` event
  'start→running', // engine `start` → agent reports running (start answered)
  'running→store', // agent's running → the bench sees it committed
] as const;
type Stage = (typeof STAGES)[number];

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Task timelines from the event stream: each state's own timestamp and when the bench saw it committed. */
class TaskTracker {
  readonly byTask = new Map<string, { service: string; stamped: Map<TaskState, number>; seen: Map<TaskState, number> }>();
  readonly #ac = new AbortController();

  start(bed: StartBed): void {
    const loop = async (): Promise<void> => {
      for await (const ev of bed.client.events({ kinds: ['task'], signal: this.#ac.signal })) {
        if (ev.kind !== 'task' || ev.action === 'delete') continue;
        const t: Task = ev.object;
        let rec = this.byTask.get(t.id);
        if (!rec) this.byTask.set(t.id, (rec = { service: t.serviceName, stamped: new Map(), seen: new Map() }));
        const state = t.status.state;
        if (!rec.seen.has(state)) rec.seen.set(state, Date.now());
        if (!rec.stamped.has(state)) rec.stamped.set(state, Date.parse(t.status.timestamp));
      }
    };
    loop().catch((e: unknown) => {
      if (!this.#ac.signal.aborted) log(`warning: task event stream ended: ${(e as Error).message}`);
    });
  }

  ofService(name: string): Array<{ id: string; stamped: Map<TaskState, number>; seen: Map<TaskState, number> }> {
    return [...this.byTask].filter(([, r]) => r.service === name).map(([id, r]) => ({ id, ...r }));
  }

  stop(): void {
    this.#ac.abort();
  }
}

/** Engine events by round key (`fltbench.round` label, Flotilla or Swarm service name). */
class EngineEvents {
  readonly #byKey = new Map<string, ContainerEvent[]>();
  readonly #waiters = new Set<() => void>();

  constructor(bed: StartBed) {
    bed.onContainerEvent((e) => {
      const a = e.attributes;
      const key = a['fltbench.round'] ?? a['flotilla.service.name'] ?? a['com.docker.swarm.service.name'];
      if (key === undefined) return;
      let list = this.#byKey.get(key);
      if (!list) this.#byKey.set(key, (list = []));
      list.push(e);
      for (const w of this.#waiters) w();
    });
  }

  of(key: string, action: ContainerEvent['action']): ContainerEvent[] {
    return (this.#byKey.get(key) ?? []).filter((e) => e.action === action);
  }

  /** The engine time of the `n`th container start of `key`. */
  async nthStart(key: string, n: number): Promise<number> {
    const deadline = Date.now() + ROUND_TIMEOUT_MS;
    for (;;) {
      const starts = this.of(key, 'start');
      if (starts.length >= n) return Math.max(...starts.map((e) => e.atMs));
      if (Date.now() > deadline) throw new Error(`${key}: ${starts.length} of ${n} containers started after ${ROUND_TIMEOUT_MS} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, 1_000);
        function done(): void {
          clearTimeout(t);
          waiters.delete(done);
          resolve();
        }
        const waiters = this.#waiters;
        waiters.add(done);
      });
    }
  }
}

interface FlotillaRound {
  ms: number;
  reportedMs: number;
  /** Per stage, each task's duration. */
  perTask: Record<Stage, number[]>;
  /** Per mark, when the last task reached it (ms since the POST). */
  lastAt: Record<string, number>;
}

async function main(): Promise<void> {
  const why = await netnsUnavailableReason();
  if (why) {
    process.stderr.write(`bench:start: ${why}\n`);
    process.exitCode = 1;
    return;
  }
  const t = performance.now();
  const bed = await StartBed.create({ log: (l) => log(`bed: ${l}`), flotillaLogLevel: args['log-level'] });
  let destroying: Promise<string[]> | undefined;
  const destroy = (): Promise<string[]> => (destroying ??= bed.destroy());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: cleaning up`);
      void destroy().finally(() => process.exit(130));
    });
  }
  const tracker = new TaskTracker();
  try {
    const engineEvents = new EngineEvents(bed);
    tracker.start(bed);
    let swarmImage = '';
    if (SWARM) {
      await bed.swarmInit();
      swarmImage = await bed.imageId();
    }
    log(`bed: ready in ${secs(performance.now() - t)} s (engine ${(await bed.docker(['version', '--format', '{{.Server.Version}}'])).stdout.trim()})`);

    const kinds: Kind[] = SWARM ? ['engine', 'flotilla', 'swarm'] : ['engine', 'flotilla'];
    const results = [];
    for (const n of SIZES) {
      const times: Record<Kind, number[]> = { engine: [], flotilla: [], swarm: [] };
      const flotillaRounds: FlotillaRound[] = [];
      for (let r = 1; r <= ROUNDS; r++) {
        const line: string[] = [];
        for (const kind of kinds) {
          const key = `${kind[0]}${n}r${r}`;
          if (kind === 'engine') {
            const ms = await engineRound(bed, engineEvents, key, n);
            times.engine.push(ms);
            line.push(`engine ${secs(ms)} s`);
          } else if (kind === 'flotilla') {
            const fr = await flotillaRound(bed, engineEvents, tracker, key, n);
            times.flotilla.push(fr.ms);
            flotillaRounds.push(fr);
            line.push(`flotilla ${secs(fr.ms)} s (reported ${secs(fr.reportedMs)} s)`);
          } else {
            const ms = await swarmRound(bed, engineEvents, key, n, swarmImage);
            times.swarm.push(ms);
            line.push(`swarm ${secs(ms)} s`);
          }
          await settle(bed);
        }
        log(`n=${n} round ${r}: ${line.join(', ')}`);
      }
      const engine = median(times.engine);
      const flotilla = median(times.flotilla);
      const swarm = SWARM ? median(times.swarm) : undefined;
      const stagesMs = Object.fromEntries(STAGES.map((s) => [s, round1(median(flotillaRounds.flatMap((f) => f.perTask[s])))]));
      const marks = Object.keys(flotillaRounds[0]?.lastAt ?? {});
      const lastAtMs = Object.fromEntries(marks.map((m) => [m, Math.round(median(flotillaRounds.map((f) => f.lastAt[m] ?? NaN)))]));
      // Ratios of the runs of one round (minutes apart at most) are less moved by a machine
      // whose load drifts than the ratio of the medians.
      const paired = (other: number[]): number => median(times.flotilla.map((f, i) => f / (other[i] ?? NaN)));
      log(`n=${n} medians: engine ${secs(engine)} s, flotilla ${secs(flotilla)} s (${ratio(flotilla, engine)} × engine)` +
        (swarm === undefined ? '' : `, swarm ${secs(swarm)} s (flotilla ${ratio(flotilla, swarm)} × swarm)`) +
        `; per round, flotilla ${paired(times.engine).toFixed(2)} × engine` + (swarm === undefined ? '' : `, ${paired(times.swarm).toFixed(2)} × swarm`));
      log(`n=${n} flotilla per task, median ms per stage:`);
      for (const s of STAGES) log(`  ${s.padEnd(18)} ${String(stagesMs[s]).padStart(8)}`);
      log(`n=${n} flotilla per burst, ms after the POST when the last task was:`);
      for (const m of marks) log(`  ${m.padEnd(18)} ${String(lastAtMs[m]).padStart(8)}`);
      results.push({
        replicas: n,
        engineSeconds: round3(engine / 1000),
        flotillaSeconds: round3(flotilla / 1000),
        flotillaReportedSeconds: round3(median(flotillaRounds.map((f) => f.reportedMs)) / 1000),
        ...(swarm === undefined ? {} : { swarmSeconds: round3(swarm / 1000) }),
        flotillaVsEngine: round3(flotilla / engine),
        ...(swarm === undefined ? {} : { flotillaVsSwarm: round3(flotilla / swarm) }),
        flotillaVsEngineByRound: round3(paired(times.engine)),
        ...(swarm === undefined ? {} : { flotillaVsSwarmByRound: round3(paired(times.swarm)) }),
        stagesMs,
        lastAtMs,
      });
    }
    process.stdout.write(`${JSON.stringify({ rounds: ROUNDS, results })}\n`);
  } finally {
    tracker.stop();
    const problems = await destroy();
    if (problems.length > 0) process.stderr.write(`bench:start: teardown left: ${problems.join('; ')}\n`);
  }
}

/** N `docker run -d` at once; until the Nth container started. */
async function engineRound(bed: StartBed, events: EngineEvents, key: string, n: number): Promise<number> {
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: n }, () => bed.docker(['run', '-d', '--label', `fltbench.round=${key}`, BENCH_IMAGE, ...COMMAND], ROUND_TIMEOUT_MS)),
  );
  const last = await events.nthStart(key, n);
  await bed.removeContainers({ 'fltbench.round': key });
  return last - t0;
}

/** A Flotilla service of N replicas; until the Nth container started, with the stage timings. */
async function flotillaRound(bed: StartBed, events: EngineEvents, tracker: TaskTracker, name: string, n: number): Promise<FlotillaRound> {
  const t0 = Date.now();
  await bed.client.createService({ name, replicas: n, taskTemplate: { container: { image: BENCH_IMAGE, command: COMMAND, stopGracePeriodMs: 1_000 } } });
  const last = await events.nthStart(name, n);
  await waitFor(
    () => tracker.ofService(name).filter((x) => x.seen.has('running')).length >= n,
    ROUND_TIMEOUT_MS,
    `${n} tasks of ${name} reported running`,
    10,
  );
  const tasks = tracker.ofService(name);
  const created = new Map(events.of(name, 'create').map((e) => [e.attributes['flotilla.task.id'] ?? '', e.atMs]));
  const started = new Map(events.of(name, 'start').map((e) => [e.attributes['flotilla.task.id'] ?? '', e.atMs]));
  const perTask = Object.fromEntries(STAGES.map((s) => [s, [] as number[]])) as Record<Stage, number[]>;
  const marksOf = (x: (typeof tasks)[number]): Array<number | undefined> => [
    t0,
    x.stamped.get('new'),
    x.stamped.get('pending'),
    x.stamped.get('assigned'),
    x.stamped.get('preparing') ?? x.stamped.get('accepted'),
    created.get(x.id),
    x.stamped.get('starting'),
    started.get(x.id),
    x.stamped.get('running'),
    x.seen.get('running'),
  ];
  const markNames = ['new', 'pending', 'assigned', 'preparing', 'engine create', 'starting', 'engine start', 'running', 'running in store'];
  const lastAt: Record<string, number> = {};
  for (const x of tasks) {
    const m = marksOf(x);
    STAGES.forEach((s, i) => {
      const a = m[i];
      const b = m[i + 1];
      if (a !== undefined && b !== undefined) perTask[s].push(b - a);
    });
    markNames.forEach((name, i) => {
      const at = m[i + 1];
      if (at !== undefined) lastAt[name] = Math.max(lastAt[name] ?? 0, at - t0);
    });
  }
  await bed.client.removeService(name);
  await gone(bed, { 'flotilla.service.name': name });
  return { ms: last - t0, reportedMs: lastAt['running in store'] ?? NaN, perTask, lastAt };
}

/** A Swarm service of N replicas on the same engine; until the Nth container started. */
async function swarmRound(bed: StartBed, events: EngineEvents, name: string, n: number, image: string): Promise<number> {
  const t0 = Date.now();
  await bed.engine.docker.createService({
    Name: name,
    TaskTemplate: { ContainerSpec: { Image: image, Command: COMMAND, StopGracePeriod: 1e9 } },
    Mode: { Replicated: { Replicas: n } },
  });
  const last = await events.nthStart(name, n);
  await bed.engine.docker.getService(name).remove();
  await gone(bed, { 'com.docker.swarm.service.name': name });
  return last - t0;
}

/** Waits until no container with `labels` is left (force-removing stragglers after 30 s). */
async function gone(bed: StartBed, labels: Record<string, string>): Promise<void> {
  try {
    await waitFor(async () => (await bed.containers(labels)).length === 0, 30_000, `containers ${JSON.stringify(labels)} removed`, 200);
  } catch {
    await bed.removeContainers(labels);
  }
}

/** Between rounds: nothing left on the engine, then a short pause. */
async function settle(bed: StartBed): Promise<void> {
  await waitFor(async () => (await bed.containers({})).length === 0, 60_000, 'an empty engine', 200);
  await new Promise((r) => setTimeout(r, 1_000));
}

function median(xs: readonly number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(2);
}

function ratio(a: number, b: number): string {
  return (a / b).toFixed(2);
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

await main();
