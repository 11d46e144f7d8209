/**
 * Failover benchmark on the multi-host test bed (test/cluster/): a fresh bed of 3 hosts,
 * each with its own Docker engine and agent, a 6-replica service spread over them; then one
 * host's link is cut (its agent keeps running, as in a real network partition) and we measure
 *   (a) until the manager marks the node down, and
 *   (b) until every replacement task is running on the other hosts.
 * Progress goes to stdout; the last line is one JSON object:
 *   {"hosts":3,"replicas":6,"markedDownSeconds":…,"replacementsRunningSeconds":…}
 *
 *   npm run bench:failover     (or: node bench/failover.ts [--hosts N] [--replicas N])
 *
 * Needs root (network namespaces, one dockerd per host). For comparison with defaults
 * elsewhere: Docker Swarm marks a node down after ~15 s of missed heartbeats (dispatcher
 * heartbeat period 5 s × grace 3), Kubernetes evicts pods ~5 min 50 s after a node goes
 * silent (40 s node-monitor-grace-period + 5 min default not-ready toleration).
 *
 * `--managers N` (N ≥ 2) is another benchmark: the leader manager's death, on this machine
 * (no test bed, no root): N `flotilla server` processes on a private 3-member etcd cluster and
 * one agent on the machine's Docker engine; see bench/manager-failover.ts.
 *
 *   npm run bench:failover -- --managers 3 [--rounds 5] [--reference 3] [--replicas 3] [--restart-delay 0s]
 */
import { parseArgs } from 'node:util';
import { BED_IMAGE, TestBed } from '../test/cluster/bed.ts';
import { netnsUnavailableReason } from '../test/cluster/netns.ts';
import { waitFor } from '../test/cluster/wait.ts';

const { values: args } = parseArgs({
  options: {
    hosts: { type: 'string', default: '3' },
    replicas: { type: 'string' },
    managers: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    reference: { type: 'string', default: '3' },
    'restart-delay': { type: 'string' },
  },
});
const HOSTS = Number(args.hosts);
const REPLICAS = Number(args.replicas ?? '6');
const SERVICE = 'bench';

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  const why = await netnsUnavailableReason();
  if (why) {
    process.stderr.write(`bench:failover: ${why}\n`);
    process.exitCode = 1;
    return;
  }
  let t = performance.now();
  const bed = await TestBed.create({ hosts: HOSTS, prefix: 'flt-b', subnet: '10.199.1', log: (l) => log(`bed: ${l}`) });
  try {
    log(`bed: ${HOSTS} hosts ready in ${secs(performance.now() - t)} s`);

    const created = await bed.cli(
      'service', 'create', '--detach', '--name', SERVICE, '--replicas', String(REPLICAS), '--stop-grace-period', '2s',
      BED_IMAGE, 'sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done',
    );
    if (created.code !== 0) throw new Error(`service create failed: ${created.stderr.trim()}`);
    t = performance.now();
    await waitFor(async () => (await runningOn()).total === REPLICAS, 60_000, `${REPLICAS} running tasks`);
    const before = await runningOn();
    log(`service: ${REPLICAS} replicas running in ${secs(performance.now() - t)} s, spread ${spread(before.byHost)}`);

    const victim = [...before.byHost.keys()].sort()[0] ?? 'h1';
    const others = REPLICAS - (before.byHost.get(victim) ?? 0);
    log(`failure: cutting the link of ${victim} (${before.byHost.get(victim) ?? 0} tasks; its agent keeps running)`);
    const start = performance.now();
    await bed.cutLink(victim);
    let downMs = 0;
    const allMs = await waitFor(
      async () => {
        if (downMs === 0 && (await bed.node(victim))?.status.state === 'down') {
          downMs = performance.now() - start;
          log(`  ${secs(downMs)} s: ${victim} marked down`);
        }
        const now = await runningOn();
        return downMs > 0 && now.total === REPLICAS && !now.byHost.has(victim);
      },
      60_000,
      `every replacement running off ${victim}`,
      25,
    );
    log(`  ${secs(allMs)} s: ${REPLICAS - others} replacements running (spread ${spread((await runningOn()).byHost)})`);

    // Not part of the figures: the victim, back, must stop what it still runs of the service.
    log(`restore: link of ${victim} back up; waiting for its stale tasks to stop`);
    const restored = performance.now();
    await bed.restoreLink(victim);
    const stale = (): Promise<{ state: string }[]> => bed.containers(victim, { 'flotilla.service.name': SERVICE });
    try {
      await waitFor(async () => (await stale()).every((c) => c.state !== 'running'), 30_000, `no running containers of ${SERVICE} on ${victim}`);
      const left = (await stale()).length;
      log(`  ${secs(performance.now() - restored)} s: none running on ${victim}${left > 0 ? ` (${left} stopped containers kept)` : ''}`);
    } catch (e) {
      log(`  warning: ${(e as Error).message}`);
    }

    process.stdout.write(
      `${JSON.stringify({ hosts: HOSTS, replicas: REPLICAS, markedDownSeconds: round(downMs / 1000), replacementsRunningSeconds: round(allMs / 1000) })}\n`,
    );
  } finally {
    const problems = await bed.destroy();
    if (problems.length > 0) process.stderr.write(`bench:failover: teardown left: ${problems.join('; ')}\n`);
  }

  /** Running tasks of the service by host name. */
  async function runningOn(): Promise<{ total: number; byHost: Map<string, number> }> {
    const hostOf = new Map((await bed.client.listNodes()).map((n) => [n.id, n.description.hostname]));
    const byHost = new Map<string, number>();
    let total = 0;
    for (const task of await bed.client.listTasks({ service: SERVICE })) {
      if (task.desiredState !== 'running' || task.status.state !== 'running' || task.nodeId === undefined) continue;
      const h = hostOf.get(task.nodeId) ?? task.nodeId;
      byHost.set(h, (byHost.get(h) ?? 0) + 1);
      total++;
    }
    return { total, byHost };
  }
}

function spread(byHost: Map<string, number>): string {
  return [...byHost].sort().map(([h, n]) => `${h}:${n}`).join(' ');
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(2);
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

if (args.managers !== undefined) {
  const managers = Number(args.managers);
  if (!Number.isInteger(managers) || managers < 2) throw new Error(`--managers takes a number ≥ 2, not ${args.managers}`);
  const { runManagerFailover } = await import('./manager-failover.ts');
  await runManagerFailover({
    managers,
    rounds: Number(args.rounds),
    reference: Number(args.reference),
    replicas: Number(args.replicas ?? '3'),
    restartDelay: args['restart-delay'],
  });
} else {
  await main();
}
