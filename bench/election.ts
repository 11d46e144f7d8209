/**
 * Leader election on etcd: how long from the leader's end until another manager leads.
 * Starts a private etcd (or uses `--etcd HOST:PORT`), runs `--managers` processes each taking
 * part in one `EtcdElection` (the manager's, with its default timings: lease TTL 3 s,
 * keep-alive every 1 s), and `--rounds` times ends the current leader, alternately
 *   kill:  SIGKILL (nothing resigns: the lease must expire at etcd first), and
 *   close: SIGTERM (the process closes its election: it revokes its lease, a clean hand-over),
 * measuring from the signal until another process reports leading (each stamps the time it
 * saw `state` turn `leader`; one machine, one clock). The ended process is started again.
 * Progress goes to stdout; the last line is one JSON object:
 *   {"managers":3,"rounds":6,"killMs":[…],"closeMs":[…],"killMedianMs":…,"closeMedianMs":…}
 *
 * With `--member-stops N` it measures instead what one etcd member's death costs: a private
 * 3-member etcd, every manager's client given all three members, and N times one member
 * (each in turn) stopped for two lease TTLs, then started again; it counts the times a manager
 * started leading meanwhile (0: no leader change — the leader's keep-alives went to another
 * member). Last line: {"mode":"member-stops","managers":3,"stops":N,"leaderChanges":[…],"total":…}
 *
 *   node bench/election.ts [--managers 3] [--rounds 6] [--etcd HOST:PORT[,HOST:PORT…]]
 *   node bench/election.ts --member-stops 6 [--managers 3]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { connect } from '../src/store/etcd/connect.ts';
import { EtcdElection } from '../src/store/etcd/election.ts';
import { startEtcd, type EtcdTestCluster } from '../src/testing/etcd-server.ts';

const { values: args } = parseArgs({
  options: {
    managers: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '6' },
    etcd: { type: 'string' },
    'member-stops': { type: 'string' },
    // Internal: run as one participant.
    child: { type: 'string' },
    root: { type: 'string' },
  },
});

/** One participant: joins the election, prints `leader <epoch ms>` on leading, resigns on SIGTERM. */
async function child(id: string, endpoints: string, root: string): Promise<void> {
  const client = connect({ endpoints: endpoints.split(',') });
  const election = await EtcdElection.open(client, { root, self: { id, addr: `${id}:4280` } });
  const report = (): void => {
    if (election.state === 'leader') process.stdout.write(`leader ${Date.now()}\n`);
  };
  election.onChange(report);
  report();
  process.on('SIGTERM', () => {
    void election.close().finally(() => {
      client.close();
      process.exit(0);
    });
  });
  process.stdout.write('ready\n');
  setInterval(() => {}, 1 << 30); // stay up until signalled
}

interface Participant {
  readonly id: string;
  proc: ChildProcess;
}

/** Starts participant `p` (again) on `endpoint`, calling `onLeader` for each time it reports leading; resolves once it is in. */
function spawner(endpoint: string, root: string, onLeader: (p: Participant, at: number) => void): (p: Participant) => Promise<void> {
  return (p) =>
    new Promise((resolve, reject) => {
      const proc = spawn(process.execPath, [import.meta.filename, '--child', p.id, '--etcd', endpoint, '--root', root], { stdio: ['ignore', 'pipe', 'inherit'] });
      p.proc = proc;
      proc.once('error', reject);
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        if (line === 'ready') resolve();
        const m = /^leader (\d+)$/.exec(line);
        if (m) onLeader(p, Number(m[1]));
      });
    });
}

/** The `--member-stops` mode (see the top of this file). */
async function memberStops(managers: number, stops: number): Promise<void> {
  const etcd = await startEtcd({ members: 3 });
  const root = `/flotilla-bench/${randomUUID()}`;
  let leads = 0;
  let firstLead: () => void = () => {};
  const first = new Promise<void>((resolve) => (firstLead = resolve));
  const spawnOne = spawner(etcd.endpoints.join(','), root, () => {
    leads++;
    firstLead();
  });
  const ps: Participant[] = Array.from({ length: managers }, (_, i) => ({ id: `m${i + 1}`, proc: undefined as unknown as ChildProcess }));
  const changes: number[] = [];
  const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  try {
    for (const p of ps) await spawnOne(p);
    await first;
    await pause(2_000);
    for (let r = 0; r < stops; r++) {
      const member = etcd.members[r % etcd.members.length]!;
      const before = leads;
      await member.stop();
      await pause(6_000); // two lease TTLs: a leader whose lease were in doubt would have stepped down
      await member.start();
      await pause(2_000);
      changes.push(leads - before);
      process.stdout.write(`stop ${r + 1}: etcd member ${member.name} down for 6 s: ${leads - before} leader change(s)\n`);
    }
  } finally {
    for (const p of ps) p.proc.kill('SIGKILL');
    await etcd.stop();
  }
  process.stdout.write(`${JSON.stringify({ mode: 'member-stops', managers, stops, leaderChanges: changes, total: changes.reduce((a, b) => a + b, 0) })}\n`);
}

async function main(): Promise<void> {
  const managers = Number(args.managers);
  const rounds = Number(args.rounds);
  let etcd: EtcdTestCluster | undefined;
  const endpoint = args.etcd ?? (etcd = await startEtcd()).endpoints[0]!;
  const root = `/flotilla-bench/${randomUUID()}`;
  let onLeader: (p: Participant, at: number) => void = () => {};
  const spawnOne = spawner(endpoint, root, (p, at) => onLeader(p, at));
  const ps: Participant[] = Array.from({ length: managers }, (_, i) => ({ id: `m${i + 1}`, proc: undefined as unknown as ChildProcess }));
  let leader: Participant | undefined;
  const firstLeader = new Promise<void>((resolve) => {
    onLeader = (p) => {
      leader = p;
      resolve();
    };
  });
  for (const p of ps) await spawnOne(p);
  await firstLeader;
  const killMs: number[] = [];
  const closeMs: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const old = leader!;
      const how = r % 2 === 0 ? 'kill' : 'close';
      const next = new Promise<number>((resolve) => {
        onLeader = (p, at) => {
          leader = p;
          if (p !== old) resolve(at);
        };
      });
      const exited = new Promise((resolve) => old.proc.once('exit', resolve));
      const t0 = Date.now();
      old.proc.kill(how === 'kill' ? 'SIGKILL' : 'SIGTERM');
      const ms = (await next) - t0;
      (how === 'kill' ? killMs : closeMs).push(ms);
      process.stdout.write(`round ${r + 1}: ${how} ${old.id} → ${leader!.id} leads after ${ms} ms\n`);
      await exited;
      await spawnOne(old);
    }
  } finally {
    for (const p of ps) p.proc.kill('SIGKILL');
    await etcd?.stop();
  }
  const median = (xs: number[]): number | null => (xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);
  process.stdout.write(`${JSON.stringify({ managers, rounds, killMs, closeMs, killMedianMs: median(killMs), closeMedianMs: median(closeMs) })}\n`);
}

if (args.child !== undefined) await child(args.child, args.etcd!, args.root!);
else if (args['member-stops'] !== undefined) await memberStops(Number(args.managers), Number(args['member-stops']));
else await main();
