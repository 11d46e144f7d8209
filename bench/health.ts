/**
 * Health-check benchmark on a real Docker engine: how long from a task's check starting to fail
 * until the task is failed, and until its replacement runs. The scenario of
 * test/integration/health.test.ts (which asserts only that it happens): a `flotilla dev`
 * cluster (docker driver) runs a service whose CMD-SHELL check (interval 500 ms, 3 retries)
 * passes until its file is removed. Each round creates the service, waits for a healthy task,
 * removes the file and times both steps from the status the API reports; then removes the
 * service.
 *
 * Budget: failed within 5 s and replaced within interval × retries + 5 s (6.5 s) of the first
 * failing check (the budgets the tests once asserted).
 *
 *   npm run bench:health     (or: node bench/health.ts [--rounds 3])
 *
 * Needs a Docker engine and the local test image (`npm run images`). Progress goes to stdout;
 * the last line is one JSON object:
 *   {"rounds":3,"intervalMs":500,"retries":3,"failedMs":[…],"replacedMs":[…],"failedMedianMs":…,
 *    "replacedMedianMs":…,"failedBudgetMs":5000,"replacedBudgetMs":6500,"withinBudget":true}
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FlotillaClient } from '../src/client/client.ts';
import { DevCluster, docker, dockerSkipReason, waitUntil, type TaskJson } from '../test/integration/dev-cluster.ts';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const ROUNDS = Number(args.rounds);
const IMAGE = 'flotilla/busybox:test';
const INTERVAL_MS = 500;
const RETRIES = 3;
const FAILED_BUDGET_MS = 5_000;
const REPLACED_BUDGET_MS = INTERVAL_MS * RETRIES + 5_000;
/** Bounds that only catch a hang; the figures are what this benchmark is about. */
const HANG_MS = 180_000;

type HealthTask = TaskJson & { status: TaskJson['status'] & { health?: string } };

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : Math.round((s[mid - 1]! + s[mid]!) / 2);
}

async function round(c: DevCluster, client: FlotillaClient, n: number): Promise<{ failedMs: number; replacedMs: number }> {
  const name = `bench-health-${n}`;
  await client.createService({
    name,
    taskTemplate: {
      driver: 'docker',
      container: {
        image: IMAGE,
        command: ['sh', '-c', 'touch /tmp/ok; exec sleep 3600'],
        stopGracePeriodMs: 2_000,
        healthcheck: { test: ['CMD-SHELL', 'test -f /tmp/ok || exit 1'], intervalMs: INTERVAL_MS, timeoutMs: 2_000, retries: RETRIES },
      },
      restartPolicy: { condition: 'any', delayMs: 0 },
    },
  });
  const tasks = async (): Promise<HealthTask[]> => c.json<HealthTask[]>('service', 'ps', name);
  let first: HealthTask | undefined;
  await waitUntil(async () => {
    first = (await tasks()).find((t) => t.status.state === 'running' && t.status.health === 'healthy');
    return first !== undefined;
  }, HANG_MS, `a healthy task of ${name}`);
  await docker('exec', first!.status.containerId!, 'rm', '/tmp/ok');
  const brokeAt = Date.now();
  let failedMs = 0;
  let replacedMs = 0;
  await waitUntil(async () => {
    const now = await tasks();
    if (failedMs === 0 && now.find((t) => t.id === first!.id)?.status.state === 'failed') failedMs = Date.now() - brokeAt;
    if (now.some((t) => t.id !== first!.id && t.desiredState === 'running' && t.status.state === 'running')) replacedMs = Date.now() - brokeAt;
    return replacedMs > 0;
  }, HANG_MS, `a replacement for the unhealthy task of ${name}`);
  if (failedMs === 0) failedMs = replacedMs;
  const rm = await c.cli('service', 'rm', name);
  if (rm.code !== 0) throw new Error(`service rm ${name}: ${rm.stderr}`);
  return { failedMs, replacedMs };
}

async function main(): Promise<void> {
  const skip = await dockerSkipReason();
  if (skip !== undefined) {
    log(skip);
    log(JSON.stringify({ skipped: skip }));
    return;
  }
  const c = await DevCluster.start(['--driver', 'docker']);
  try {
    const client = new FlotillaClient({ socketPath: join(c.home, 'flotilla.sock') });
    log(`health: ${ROUNDS} rounds, check interval ${INTERVAL_MS} ms × ${RETRIES} retries; budget failed ≤ ${FAILED_BUDGET_MS} ms, replaced ≤ ${REPLACED_BUDGET_MS} ms`);
    const failed: number[] = [];
    const replaced: number[] = [];
    for (let n = 1; n <= ROUNDS; n++) {
      const r = await round(c, client, n);
      failed.push(r.failedMs);
      replaced.push(r.replacedMs);
      log(`  round ${n}: failed after ${r.failedMs} ms, replacement running after ${r.replacedMs} ms`);
    }
    const failedMedianMs = median(failed);
    const replacedMedianMs = median(replaced);
    const withinBudget = failedMedianMs <= FAILED_BUDGET_MS && replacedMedianMs <= REPLACED_BUDGET_MS;
    log(`median: failed ${failedMedianMs} ms (budget ${FAILED_BUDGET_MS}), replaced ${replacedMedianMs} ms (budget ${REPLACED_BUDGET_MS})${withinBudget ? '' : '  OVER BUDGET'}`);
    log(
      JSON.stringify({
        rounds: ROUNDS,
        intervalMs: INTERVAL_MS,
        retries: RETRIES,
        failedMs: failed,
        replacedMs: replaced,
        failedMedianMs,
        replacedMedianMs,
        failedBudgetMs: FAILED_BUDGET_MS,
        replacedBudgetMs: REPLACED_BUDGET_MS,
        withinBudget,
      }),
    );
  } finally {
    await c.destroy();
  }
}

await main();
