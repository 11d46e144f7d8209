/**
 * Dashboard benchmark at scale: a real manager with 1,000 simulated nodes (real agents on the
 * fake driver in a process of their own, each over its own agent session) running services that
 * total 10,000 tasks (`bench/dashboard-cluster.ts`, `bench/dashboard-nodes.ts`), and the
 * dashboard in Debian's chromium, headless, driven by playwright-core (never a downloaded
 * browser). Measures, on the overview page (3 cold loads in new tabs, medians):
 *   - first meaningful paint (fmp): navigation start → the frame after the overview first shows
 *     the running-task count of the whole cluster (the lists loaded and rendered), with where the
 *     time went (`steps`: app.js, session, lists asked, task list's first and last byte, the
 *     app's `flotilla:live` mark);
 *   - time to interactive (tti): the end of the last long task (> 50 ms) before the main thread
 *     stays free of them for 2 s; and a click answered: the nav's "Services" link clicked →
 *     the services list's first row painted;
 *   - JS heap after a collection, API bytes at load (and the task list's size and time);
 * then a task state change: a simulated node's task crashes → its `failed` commit in the store
 * → the overview's failed count painted (median and max of several); a burst: many tasks crash
 * at once (their failures, then their replacements: thousands of task events) → the count
 * painted, the longest main-thread task and the dropped frames meanwhile; and a scroll through
 * the big service's task list by mouse wheel (frames: p95 frame time, share over 25 ms).
 * Progress goes to stdout; the last line is one JSON object.
 *
 *   npm run bench:dashboard    (or: node bench/dashboard.ts [--nodes 1000] [--tasks 10000]
 *                               [--big 5000] [--runs 3] [--changes 5] [--burst 1000])
 *
 * Chromium: /usr/bin/chromium (FLOTILLA_CHROMIUM overrides); without it the bench says so and
 * prints {"skipped": …}.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Task } from '../src/api/task.ts';
import { BenchCluster } from './dashboard-cluster.ts';
import { countShownAt, firstMeaningfulPaint, frames, installProbe, loaded, longTasks, navigate, pageNow, scrollTop, shownAt } from './dashboard-page.ts';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    tasks: { type: 'string', default: '10000' },
    big: { type: 'string', default: '5000' },
    runs: { type: 'string', default: '3' },
    changes: { type: 'string', default: '5' },
    burst: { type: 'string', default: '1000' },
  },
});
const NODES = Number(args.nodes);
const TASKS = Number(args.tasks);
const BIG = Number(args.big);
const RUNS = Number(args.runs);
const CHANGES = Number(args.changes);
const BURST = Number(args.burst);
const CHROMIUM = process.env['FLOTILLA_CHROMIUM'] ?? '/usr/bin/chromium';
/** Bounds that only catch a hang. */
const HANG_MS = 120_000;
const QUIET_MS = 2_000;
const SCROLL_MS = 6_000;
const TTI_CAP_MS = 30_000;
const RUNNING = '[data-test=tasks] [data-figure=running] .count';
const FAILED = '[data-test=tasks] [data-figure=failed] .count';

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

const median = (xs: readonly number[]): number => quantile(xs, 0.5);
function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0);
}
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

interface Load {
  fmpMs: number;
  ttiMs: number;
  ttiSettled: boolean;
  clickToServicesMs: number;
  heapMB: number;
  apiBytes: number;
  tasksListBytes: number;
  tasksListMs: number;
  appJsBytes: number;
  /** Where the time to the first meaningful paint went: page times (ms) of the steps of a load. */
  steps: Record<string, number>;
}

/** One cold load of the overview in a new tab (signed in), measured as the file's header says. */
async function load(context: BrowserContext, origin: string): Promise<{ page: Page; figures: Load }> {
  const page = await context.newPage();
  await page.addInitScript(installProbe, { selector: RUNNING, atLeast: TASKS });
  await page.goto(`${origin}/ui/`, { waitUntil: 'commit' });
  const fmpMs = await firstMeaningfulPaint(page, HANG_MS);
  // Time to interactive: wait for QUIET_MS without a long task (or give up at the cap).
  let tti = fmpMs;
  let settled = false;
  for (;;) {
    const now = await pageNow(page);
    const lastEnd = Math.max(fmpMs, ...(await longTasks(page)).map((t) => t.end));
    tti = lastEnd;
    if (now - lastEnd >= QUIET_MS) {
      settled = true;
      break;
    }
    if (now > TTI_CAP_MS) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const { resources, markAt: live } = await loaded(page, 'flotilla:live');
  const at = (re: RegExp, k: 'start' | 'firstByte' | 'end'): number => round(resources.find((r) => re.test(r.name))?.[k] ?? 0);
  const steps = {
    appJs: at(/\/ui\/app\.js$/, 'end'),
    session: at(/\/ui\/session$/, 'end'),
    eventsOpen: at(/\/v1\/events/, 'firstByte'),
    listsAsked: at(/\/v1\/tasks/, 'start'),
    nodesDone: at(/\/v1\/nodes/, 'end'),
    servicesDone: at(/\/v1\/services/, 'end'),
    tasksFirstByte: at(/\/v1\/tasks/, 'firstByte'),
    tasksDone: at(/\/v1\/tasks/, 'end'),
    ...(live > 0 ? { liveMark: round(live) } : {}),
    fmp: round(fmpMs),
  };
  const api = resources.filter((r) => r.name.includes('/ui/api/'));
  const tasksList = api.find((r) => /\/v1\/tasks(\?|$)/.test(r.name));
  const cdp = await context.newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  const heap = await cdp.send('Runtime.getHeapUsage');
  await cdp.detach();
  // A click answered: Services in the nav → the services list's first row painted.
  const box = await page.locator('nav a', { hasText: 'Services' }).boundingBox();
  const shown = shownAt(page, '[data-service]', HANG_MS);
  const clickedAt = Date.now();
  await page.mouse.click((box?.x ?? 0) + 5, (box?.y ?? 0) + 5);
  const clickToServicesMs = (await shown).wall - clickedAt;
  await page.goBack();
  await page.locator(RUNNING).waitFor({ timeout: HANG_MS });
  return {
    page,
    figures: {
      fmpMs: round(fmpMs),
      ttiMs: round(tti),
      ttiSettled: settled,
      clickToServicesMs: round(clickToServicesMs),
      heapMB: round(heap.usedSize / 2 ** 20),
      apiBytes: api.reduce((s, r) => s + r.bytes, 0),
      tasksListBytes: tasksList?.bytes ?? 0,
      tasksListMs: round(tasksList?.ms ?? 0),
      appJsBytes: resources.find((r) => r.name.endsWith('/ui/app.js'))?.bytes ?? 0,
      steps,
    },
  };
}

/** Resolves with the store's commit time (epoch ms) of each task's `failed`, once all failed. */
function failedCommits(cluster: BenchCluster, ids: ReadonlySet<string>): Promise<number[]> {
  return new Promise((resolve) => {
    const at: number[] = [];
    const seen = new Set<string>();
    const unwatch = cluster.manager.store.watch(
      (ev) => {
        const t = ev.object as Task;
        if (!ids.has(t.id) || seen.has(t.id) || t.status.state !== 'failed') return;
        seen.add(t.id);
        at.push(Date.now());
        if (seen.size === ids.size) {
          unwatch();
          resolve(at);
        }
      },
      { kinds: ['task'] },
    );
  });
}

/** Running tasks outside the big service (whose list the scroll goes through), spread over nodes. */
function victims(cluster: BenchCluster, n: number): Task[] {
  const byNode = new Map<string, Task[]>();
  for (const t of cluster.running()) {
    if (t.serviceName === 'big' || t.nodeId === undefined) continue;
    const list = byNode.get(t.nodeId) ?? [];
    list.push(t);
    byNode.set(t.nodeId, list);
  }
  const out: Task[] = [];
  for (let round = 0; out.length < n; round++) {
    let added = 0;
    for (const list of byNode.values()) {
      const t = list[round];
      if (t && out.length < n) {
        out.push(t);
        added++;
      }
    }
    if (added === 0) break;
  }
  return out;
}

async function failedShown(page: Page): Promise<number> {
  return Number((await page.locator(FAILED).textContent({ timeout: 1_000 }).catch(() => '0')) ?? '0') || 0;
}

/** One task crashes: its failure's commit → the overview's failed count painted. */
async function stateChange(cluster: BenchCluster, page: Page): Promise<{ commitMs: number; showMs: number }> {
  const [task] = victims(cluster, 1);
  if (!task) throw new Error('no running task to crash');
  const before = await failedShown(page);
  const shown = countShownAt(page, FAILED, before + 1, HANG_MS);
  const committed = failedCommits(cluster, new Set([task.id]));
  const crashedAt = Date.now();
  cluster.crash([task]);
  const [commitAt] = await committed;
  const paintAt = (await shown).wall;
  return { commitMs: (commitAt ?? 0) - crashedAt, showMs: paintAt - (commitAt ?? 0) };
}

/** Many tasks crash at once: their failures, then (after the restart delay) their replacements. */
async function burst(cluster: BenchCluster, page: Page, n: number): Promise<Record<string, number>> {
  const tasks = victims(cluster, n);
  const before = await failedShown(page);
  const longBefore = (await longTasks(page)).length;
  const shown = countShownAt(page, FAILED, before + tasks.length, HANG_MS);
  const committed = failedCommits(cluster, new Set(tasks.map((t) => t.id)));
  // Frames over the failures and the replacements (restart delay 5 s): 9 s.
  const framing = frames(page, 9_000);
  const startedAtPage = await pageNow(page);
  const startedAt = Date.now();
  cluster.crash(tasks);
  const commits = await committed;
  const paintAt = (await shown).wall;
  const intervals = await framing;
  const long = (await longTasks(page)).slice(longBefore).filter((t) => t.end >= startedAtPage);
  return {
    tasks: tasks.length,
    lastCommitMs: round(Math.max(...commits) - startedAt),
    shownAfterLastCommitMs: round(paintAt - Math.max(...commits)),
    longestTaskMs: round(Math.max(0, ...long.map((t) => t.end - t.start))),
    blockedMs: round(long.reduce((s, t) => s + (t.end - t.start - 50), 0)),
    frames: intervals.length,
    p95FrameMs: round(quantile(intervals, 0.95)),
    droppedFrameShare: round(intervals.filter((d) => d > 25).length / Math.max(1, intervals.length), 3),
  };
}

/**
 * The big service's page; then a scripted scroll through its task list: mouse-wheel steps of
 * 150 px (five rows) as fast as the page takes them, for 6 s, as a person flinging through it.
 */
async function scroll(page: Page): Promise<Record<string, number>> {
  const shown = shownAt(page, '[data-test=tasks] [data-task]', HANG_MS);
  const at = Date.now();
  await navigate(page, '/ui/services/big');
  const openMs = (await shown).wall - at;
  const box = await page.locator('[data-test=tasks]').boundingBox();
  await page.mouse.move((box?.x ?? 0) + (box?.width ?? 0) / 2, (box?.y ?? 0) + (box?.height ?? 0) / 2);
  const from = await pageNow(page);
  const recording = frames(page, SCROLL_MS);
  const until = Date.now() + SCROLL_MS;
  while (Date.now() < until) await page.mouse.wheel(0, 150);
  const intervals = await recording;
  const long = (await longTasks(page)).filter((t) => t.end >= from);
  const scrolled = await scrollTop(page, '[data-test=tasks]');
  return {
    openServiceMs: round(openMs),
    frames: intervals.length,
    rowsScrolled: Math.round(scrolled / 30),
    medianFrameMs: round(median(intervals)),
    p95FrameMs: round(quantile(intervals, 0.95)),
    droppedFrameShare: round(intervals.filter((d) => d > 25).length / Math.max(1, intervals.length), 3),
    longTasks: long.length,
    longestTaskMs: round(Math.max(0, ...long.map((t) => t.end - t.start))),
  };
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    const why = `no chromium at ${CHROMIUM} (apt-get install chromium, or set FLOTILLA_CHROMIUM)`;
    log(why);
    log(JSON.stringify({ skipped: why }));
    return;
  }
  process.env['FLOTILLA_LOG_LEVEL'] ??= 'error';
  log(`dashboard: ${NODES} nodes, ${TASKS} tasks (one service of ${BIG}); ${RUNS} loads`);
  const cluster = await BenchCluster.start({ nodes: NODES, tasks: TASKS, big: BIG, log });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const login = await context.newPage();
    await login.goto(`${cluster.origin}/ui/login#${cluster.manager.dashboard?.issueLoginNonce() ?? ''}`);
    await login.locator('[data-test=status].live').waitFor({ timeout: HANG_MS });
    await login.close();

    const loads: Load[] = [];
    let page: Page | undefined;
    for (let i = 1; i <= RUNS; i++) {
      await page?.close();
      const r = await load(context, cluster.origin);
      page = r.page;
      loads.push(r.figures);
      const f = r.figures;
      log(
        `load ${i}: first meaningful paint ${f.fmpMs} ms, interactive ${f.ttiMs} ms${f.ttiSettled ? '' : ' (never quiet)'}, click → services ${f.clickToServicesMs} ms; ` +
          `heap ${f.heapMB} MB; API ${(f.apiBytes / 2 ** 20).toFixed(2)} MB (task list ${(f.tasksListBytes / 2 ** 20).toFixed(2)} MB in ${f.tasksListMs} ms); app.js ${(f.appJsBytes / 1024).toFixed(0)} KB`,
      );
      log(`  steps (ms from navigation): ${Object.entries(f.steps).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }
    if (!page) throw new Error('no load');

    const changes: { commitMs: number; showMs: number }[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const c = await stateChange(cluster, page);
      changes.push(c);
      log(`state change ${i + 1}: crash → failed committed ${round(c.commitMs)} ms, committed → shown ${round(c.showMs)} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const b = await burst(cluster, page, BURST);
    log(`burst: ${b['tasks']} tasks crash at once: all committed after ${b['lastCommitMs']} ms, shown ${b['shownAfterLastCommitMs']} ms after the last commit; longest main-thread task ${b['longestTaskMs']} ms, blocked ${b['blockedMs']} ms; frames over 9 s ${b['frames']}, p95 ${b['p95FrameMs']} ms, dropped ${b['droppedFrameShare']}`);
    const s = await scroll(page);
    log(`scroll: big service opened in ${s['openServiceMs']} ms; ${s['frames']} frames, ${s['rowsScrolled']} rows, median ${s['medianFrameMs']} ms, p95 ${s['p95FrameMs']} ms, dropped ${s['droppedFrameShare']}; ${s['longTasks']} long tasks, longest ${s['longestTaskMs']} ms`);

    const pick = (k: keyof Load): number => round(median(loads.map((l) => l[k] as number)));
    log(
      JSON.stringify({
        nodes: NODES,
        tasks: TASKS,
        runs: RUNS,
        fmpMs: pick('fmpMs'),
        ttiMs: pick('ttiMs'),
        ttiSettled: loads.every((l) => l.ttiSettled),
        clickToServicesMs: pick('clickToServicesMs'),
        heapMB: pick('heapMB'),
        apiBytes: pick('apiBytes'),
        tasksListBytes: pick('tasksListBytes'),
        tasksListMs: pick('tasksListMs'),
        appJsBytes: pick('appJsBytes'),
        stateChangeShowMs: round(median(changes.map((c) => c.showMs))),
        stateChangeShowMaxMs: round(Math.max(...changes.map((c) => c.showMs))),
        stateChangeCommitMs: round(median(changes.map((c) => c.commitMs))),
        burst: b,
        scroll: s,
        benchRssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
      }),
    );
  } finally {
    await browser.close();
    await cluster.stop();
  }
}

await main();
