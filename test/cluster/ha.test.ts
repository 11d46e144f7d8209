/**
 * Issue #10's "Done when" on the multi-host test bed: 3 managers on a 3-member etcd cluster
 * (one member and one manager per manager namespace) and 3 worker hosts. The leader is killed
 * mid-scale and mid-rollout, then the next leader's link is cut, then two etcd members stop;
 * the cluster keeps its containers, converges, and fails writes cleanly while etcd has no
 * quorum. The tests run in order and share the bed; each states the cluster it leaves behind.
 * Failover times are measured and printed (`t.diagnostic`), never asserted beyond hang bounds.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isClientError } from '../../src/client/client.ts';
import type { ServiceSpecInput } from '../../src/client/client.ts';
import { etcdUnavailable } from '../../src/testing/etcd-server.ts';
import { BED_IMAGE, TestBed } from './bed.ts';
import { agreedLeader, EtcdView, httpsClient, leadersSeen, ofService, runningContainers, type RunningContainer } from './ha-checks.ts';
import { bedSkipReason } from './skip.ts';
import { waitFor } from './wait.ts';

const skip = (await bedSkipReason()) ?? haSkipReason();
const SCALER = 'scaler';
const ROLLER = 'roller';
/** Hang-catching bound of every wait (never a speed). */
const LONG = 180_000;

function haSkipReason(): string | undefined {
  const reason = etcdUnavailable();
  if (reason === undefined) return undefined;
  if (process.env['FLOTILLA_REQUIRE_ETCD'] === '1') throw new Error(`FLOTILLA_REQUIRE_ETCD=1 but ${reason}`);
  return `${reason} (set FLOTILLA_REQUIRE_ETCD=1 to make this a failure)`;
}

function spec(name: string, replicas: number, env: string[]): ServiceSpecInput {
  return {
    name,
    replicas,
    taskTemplate: { container: { image: BED_IMAGE, command: ['sleep', '3600'], env, stopGracePeriodMs: 1_000 } },
    // One task at a time with a pause between: a rollout of 4 takes long enough to kill the leader in it.
    updateConfig: { parallelism: 1, delayMs: 4_000, monitorMs: 1_000, order: 'stop-first' },
  };
}

describe('several managers on etcd (issue #10) on the multi-host test bed', { skip, timeout: 900_000 }, () => {
  let bed: TestBed;
  let etcd: EtcdView;
  const names = (): string[] => bed.managers.map((m) => m.name);
  /** Managers alive (killed ones excluded; a cut one included). */
  const alive = new Set<string>();

  before(async () => {
    bed = await TestBed.create({ managers: 3, hosts: 3, prefix: 'flt-h', subnet: '10.197.0' });
    for (const n of names()) alive.add(n);
    etcd = new EtcdView(bed.etcdEndpoints);
  });
  after(async () => {
    etcd?.close();
    const problems = await bed?.destroy();
    assert.deepEqual(problems ?? [], [], 'the bed tears down cleanly');
  });

  /** Running tasks of `service` as `manager` sees them (desired running, observed running). */
  async function runningTasks(manager: string, service: string): Promise<{ id: string; slot: number | undefined; specVersion: number }[]> {
    const tasks = await bed.managerNamed(manager).client.listTasks({ service });
    return tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running').map((t) => ({ id: t.id, slot: t.slot, specVersion: t.specVersion }));
  }

  /**
   * Waits until `service` runs exactly `replicas` tasks (one per slot 1…replicas, all of its
   * current specVersion, as `manager` sees them) and exactly that many containers, one per
   * running task, across the engines.
   */
  async function converged(manager: string, service: string, replicas: number): Promise<void> {
    await waitFor(
      async () => {
        const svc = await bed.managerNamed(manager).client.getService(service);
        const tasks = await runningTasks(manager, service);
        const current = tasks.filter((t) => t.specVersion === svc.specVersion);
        const slots = new Set(tasks.map((t) => t.slot));
        const containers = ofService(await runningContainers(bed), service);
        const ok =
          tasks.length === replicas &&
          current.length === replicas &&
          slots.size === replicas &&
          containers.length === replicas &&
          containers.every((c) => tasks.some((t) => t.id === c.taskId)) &&
          (svc.updateStatus === undefined || svc.updateStatus.state === 'completed');
        return ok || `${service}: ${tasks.length} running (${current.length} of spec ${svc.specVersion}, ${slots.size} slots), ${containers.length} containers, update ${svc.updateStatus?.state ?? 'none'}; want ${replicas}`;
      },
      LONG,
      `${service} to run exactly ${replicas} tasks and containers`,
      500,
    );
  }

  /** Every container of `before` whose task still runs is the same container, started at the same time. */
  function assertNotRestarted(before: ReadonlyMap<string, RunningContainer>, now: ReadonlyMap<string, RunningContainer>, keep: Iterable<string>): number {
    let n = 0;
    for (const taskId of keep) {
      const was = before.get(taskId);
      const is = now.get(taskId);
      assert.ok(was, `task ${taskId} had a running container before`);
      assert.ok(is, `task ${taskId} (${was.service} on ${was.host}) still has a running container`);
      assert.equal(is.containerId, was.containerId, `task ${taskId}: same container`);
      assert.equal(is.startedAt, was.startedAt, `task ${taskId}: not restarted`);
      n++;
    }
    return n;
  }

  it('runs 3 managers (one leader) on a 3-member etcd, with 3 worker nodes ready', async () => {
    const leader = await agreedLeader(bed, names(), LONG);
    assert.equal(leader, 'm1', 'the first manager leads');
    const key = await etcd.leaderKey();
    assert.ok(key, 'etcd holds the leader key');
    const { managers } = await bed.manager.client.listManagers();
    assert.equal(managers.length, 3, `three members: ${JSON.stringify(managers)}`);
    assert.equal(managers.find((m) => m.leader)?.id, key.id, 'the leader key names the leader');
    const nodes = await bed.client.listNodes();
    assert.deepEqual(nodes.map((n) => [n.description.hostname, n.status.state]).sort(), [['h1', 'ready'], ['h2', 'ready'], ['h3', 'ready']]);
  });

  /** The containers that ran before the failovers and should run to the end. */
  let baseline = new Map<string, RunningContainer>();

  it('SIGKILL of the leader mid-scale and mid-rollout: a new leader, writes through every survivor, both converge, no container restarted, no doubles', async (t) => {
    const m1 = bed.manager.client;
    await m1.createService(spec(SCALER, 3, ['V=1']));
    await m1.createService(spec(ROLLER, 4, ['V=1']));
    await converged('m1', SCALER, 3);
    await converged('m1', ROLLER, 4);
    const initial = await runningContainers(bed);

    // The rollout: wait until it is mid-way (one task of the new spec runs, old ones still do).
    const roller = await m1.getService(ROLLER);
    await m1.updateService(ROLLER, roller.version, { ...roller.spec, taskTemplate: { ...roller.spec.taskTemplate, container: { ...roller.spec.taskTemplate.container, env: ['V=2'] } } });
    const newSpec = roller.specVersion + 1;
    await waitFor(
      async () => {
        const tasks = await runningTasks('m1', ROLLER);
        const fresh = tasks.filter((t) => t.specVersion === newSpec).length;
        return (fresh >= 1 && fresh < 4) || `${fresh} of 4 tasks on the new spec`;
      },
      LONG,
      'the rollout to be mid-way',
      100,
    );
    // The scale-up, and the kill right after it: the new leader finds both in progress.
    const scaler = await m1.getService(SCALER);
    await m1.scaleService(SCALER, 9, scaler.version);
    // The manager's view first, then the engines': a task reported running already has its
    // running container, so every task of `rollerTasksAtKill` is in `atKill` (read the other way
    // round, a task whose container started between the two reads would be missing from it).
    const rollerTasksAtKill = await runningTasks('m1', ROLLER);
    const atKill = await runningContainers(bed);
    t.diagnostic(`at the kill: ${ofService(atKill, SCALER).length} of 9 scaler containers running, ${rollerTasksAtKill.filter((x) => x.specVersion === newSpec).length} of 4 roller tasks on the new spec`);
    const killedAt = performance.now();
    await bed.stopManager('SIGKILL', 'm1');
    alive.delete('m1');
    const survivors = [...alive];

    // Writes through each survivor's HTTPS URL (a remote admin client), timed from the kill.
    const writes = await Promise.all(
      survivors.map(async (name) => {
        const client = httpsClient(bed, bed.managerNamed(name));
        let attempts = 0;
        await waitFor(
          async () => {
            attempts++;
            try {
              await client.createConfig({ name: `written-through-${name}` }, new TextEncoder().encode(name));
              return true;
            } catch (err) {
              return `attempt ${attempts}: ${(err as Error).message}`;
            }
          },
          LONG,
          `a write through ${name} to succeed`,
          100,
        );
        return { name, ms: performance.now() - killedAt };
      }),
    );
    const leader = await agreedLeader(bed, survivors, LONG);
    const leaderMs = performance.now() - killedAt;
    t.diagnostic(`kill → new leader (${leader}) agreed by every survivor: ${(leaderMs / 1000).toFixed(2)} s`);
    for (const w of writes) t.diagnostic(`kill → first write through ${w.name} succeeded: ${(w.ms / 1000).toFixed(2)} s`);

    await converged(leader, SCALER, 9);
    await converged(leader, ROLLER, 4);
    t.diagnostic(`kill → scale-up and rollout converged: ${((performance.now() - killedAt) / 1000).toFixed(1)} s`);
    const now = await runningContainers(bed);
    // Kept: the scaler's tasks running at the kill, and the roller's tasks already on the new spec.
    const keep = [
      ...ofService(atKill, SCALER).map((c) => c.taskId),
      ...rollerTasksAtKill.filter((x) => x.specVersion === newSpec).map((x) => x.id),
    ];
    const kept = assertNotRestarted(atKill, now, keep);
    assert.ok(ofService(initial, SCALER).every((c) => now.get(c.taskId)?.containerId === c.containerId), 'the scaler’s first containers all still run');
    t.diagnostic(`${kept} containers running at the kill still run, not restarted`);
    const rollerService = await bed.managerNamed(leader).client.getService(ROLLER);
    assert.equal(rollerService.updateStatus?.state, 'completed', 'the rollout completed');
    for (const name of survivors) {
      const { managers } = await bed.managerNamed(name).client.listManagers();
      assert.equal(managers.filter((m) => m.leader).length, 1, `${name} sees one leader`);
    }
    const nodes = await bed.managerNamed(leader).client.listNodes();
    assert.ok(nodes.every((n) => n.status.state === 'ready'), `every node stayed ready: ${nodes.map((n) => `${n.description.hostname}:${n.status.state}`).join(' ')}`);
    baseline = now;
  });

  it('a leader cut off: it stops leading and writes nothing after its lease (checked in etcd: no commit of it until its link returns, none fenced after); the others lead and converge; it rejoins as a follower', async (t) => {
    const survivors = [...alive];
    const old = await agreedLeader(bed, survivors, LONG);
    const other = survivors.find((n) => n !== old)!;
    const before = await etcd.leaderKey();
    assert.ok(before, 'a leader key');
    const oldId = before.id;

    const cutAt = performance.now();
    await bed.cutLink(old);
    // Measured side by side from the cut: it knows it no longer leads (its own view, over its
    // unix socket, which needs no link), its control loops have stopped, the other one leads.
    const oldManager = bed.managerNamed(old);
    const since = (): string => `${((performance.now() - cutAt) / 1000).toFixed(2)} s`;
    const [follows, stopped, leads] = await Promise.all([
      waitFor(
        async () => {
          const { managers } = await oldManager.client.listManagers();
          return !managers.some((m) => m.leader && m.addr.startsWith(`${oldManager.ip}:`)) || 'it still names itself the leader';
        },
        LONG,
        `${old} to know it no longer leads`,
        100,
      ).then(since),
      waitFor(
        async () => {
          const metrics = (await fetchMetrics(oldManager.socket)).match(/^flotilla_manager_leader (\d+)/m);
          return metrics?.[1] === '0' || `flotilla_manager_leader ${metrics?.[1] ?? '?'}`;
        },
        LONG,
        `${old}'s control loops to stop`,
        100,
      ).then(since),
      agreedLeader(bed, [other], LONG).then((leader) => {
        assert.equal(leader, other, `${other} leads`);
        return since();
      }),
    ]);
    t.diagnostic(`cut → ${old} follows (its election): ${follows}; its loops stopped: ${stopped}; ${other} leads: ${leads}`);
    const after = await etcd.leaderKey();
    assert.ok(after && after.term > before.term && after.id !== oldId, `a new term in etcd: ${JSON.stringify({ before, after })}`);

    // The cluster keeps converging under the new leader: scale down through it.
    const client = bed.managerNamed(other).client;
    const scaler = await client.getService(SCALER);
    await client.scaleService(SCALER, 6, scaler.version);
    await converged(other, SCALER, 6);

    // etcd's head before the link returns: a commit of the old leader after it can only have
    // been sent once the link was back.
    const restoredAt = await etcd.headRevision();
    await bed.restoreLink(old);
    await waitFor(
      async () => {
        const seen = await leadersSeen(bed, survivors);
        const members = await etcd.memberIds();
        const ok = [...seen.values()].every((v) => v === other) && members.length === survivors.length;
        return ok || `leaders ${[...seen].map(([k, v]) => `${k}→${v}`).join(' ')}; ${members.length} members in etcd`;
      },
      LONG,
      `${old} to rejoin as a follower of ${other}`,
      200,
    );
    const { managers } = await client.listManagers();
    assert.equal(managers.find((m) => m.id === oldId)?.leader, false, `${old} is a member again, a follower`);
    assert.equal(managers.filter((m) => m.leader).length, 1, 'exactly one leader');

    // In etcd, by the writer every commit names (the manager id in its counter token): from the
    // moment the old leader's lease could have expired (its term's leader key deleted) until its
    // link returned, no commit at all of it landed (fenced or not: dispatcher, API, anything);
    // after that it made no fenced commit but in a term it won itself (it won none here).
    const history = await etcd.history(before.term, before.term);
    assert.equal(history.leaderDeletedAt.length, 1, `the old term's leader key was deleted once: ${JSON.stringify(history.leaderDeletedAt)}`);
    const ended = history.leaderDeletedAt[0]!;
    assert.ok(ended <= restoredAt, `the old term ended (etcd revision ${ended}) before the link returned (${restoredAt})`);
    const ofOld = history.commits.filter((c) => c.writer === oldId);
    assert.ok(ofOld.some((c) => c.term === before.term && c.revision < ended), `${old}'s commits in its term name it: ${history.commits.length} commits read`);
    assert.ok(history.commits.some((c) => c.writer === after.id && c.term === after.term), `${other} wrote in its own term, named`);
    const whileCut = ofOld.filter((c) => c.revision > ended && c.revision <= restoredAt);
    assert.deepEqual(whileCut, [], `no commit of ${old} between its term's end (etcd revision ${ended}) and its link's return (${restoredAt})`);
    const fencedLate = ofOld.filter((c) => c.revision > ended && c.term !== undefined && history.leaders.get(c.term) !== oldId);
    assert.deepEqual(fencedLate, [], `no fenced commit of ${old} after its term ended but in a term it won`);
    const oldTerm = history.commits.filter((c) => c.term === before.term);
    assert.deepEqual(
      oldTerm.filter((c) => c.revision > ended),
      [],
      `no commit of ${old}'s term after it ended at etcd revision ${ended}`,
    );
    t.diagnostic(
      `etcd: ${ofOld.filter((c) => c.revision < ended).length} commits of ${old} before its term (${before.term}) ended at revision ${ended}, none until its link returned at ${restoredAt}, ` +
        `${ofOld.filter((c) => c.revision > restoredAt).length} (unfenced) after; ${history.commits.filter((c) => c.term === after.term).length} of ${other}'s term (${after.term})`,
    );
    await converged(other, SCALER, 6);
    await converged(other, ROLLER, 4);
    // No rescheduling because of the failover: every task running now ran before the cut, in the same container.
    const now = await runningContainers(bed);
    assertNotRestarted(baseline, now, now.keys());
    const nodes = await client.listNodes();
    assert.ok(nodes.every((n) => n.status.state === 'ready'), `every node stayed ready: ${nodes.map((n) => `${n.description.hostname}:${n.status.state}`).join(' ')}`);
  });

  it('two of three etcd members stopped: writes fail with "store unavailable", nothing half-written; they resume when the members return', async (t) => {
    const survivors = [...alive];
    const through = survivors[0]!;
    const before = await runningContainers(bed);
    const stopped = survivors.map((n) => n); // the survivors' own members: their first endpoint is down
    assert.equal(stopped.length, 2);
    for (const n of stopped) await bed.stopEtcd(n);
    const stoppedAt = performance.now();
    const left = bed.managers.find((m) => !stopped.includes(m.name))!.etcd!;
    await EtcdView.quorumLost(left.endpoint, LONG);

    // The CLI: a non-zero exit and one line saying the store is unavailable.
    const started = performance.now();
    const create = await bed.cliOn(through, 'service', 'create', '--detach', '--name', 'half', '--replicas', '1', BED_IMAGE, 'sleep', '3600');
    t.diagnostic(`service create with etcd down answered in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    assert.notEqual(create.code, 0, `service create must fail: ${create.stdout}${create.stderr}`);
    assert.match(create.stderr, /store unavailable/i, `says the store is unavailable: ${create.stderr}`);
    assert.equal(create.stderr.trim().split('\n').length, 1, `one line: ${create.stderr}`);
    t.diagnostic(`service create: exit ${create.code}: ${create.stderr.trim()}`);

    // A stack deploy through the other manager: refused the same way.
    const file = join(bed.dir, 'half-stack.yaml');
    writeFileSync(file, ['services:', `  a: { image: "${BED_IMAGE}", command: ["sleep", "3600"] }`, `  b: { image: "${BED_IMAGE}", command: ["sleep", "3600"] }`, ''].join('\n'));
    const deploy = await bed.cliOn(survivors[1]!, 'stack', 'deploy', '-c', file, 'halfstack');
    assert.notEqual(deploy.code, 0, `stack deploy must fail: ${deploy.stdout}${deploy.stderr}`);
    assert.match(deploy.stderr, /store unavailable/i, `says the store is unavailable: ${deploy.stderr}`);
    t.diagnostic(`stack deploy: exit ${deploy.code}: ${deploy.stderr.trim().split('\n').slice(-1)[0] ?? ''}`);

    // The API: 503, code unavailable.
    await assert.rejects(bed.managerNamed(through).client.createService(spec('half-api', 1, [])), (err: unknown) => {
      assert.ok(isClientError(err), String(err));
      assert.equal(err.status, 503);
      assert.equal(err.code, 'unavailable');
      assert.match(err.message, /store unavailable/i);
      return true;
    });

    for (const n of stopped) await bed.startEtcd(n);
    const restartedAt = performance.now();
    await waitFor(
      async () => {
        try {
          await bed.managerNamed(through).client.createConfig({ name: 'after-outage' }, new TextEncoder().encode('x'));
          return true;
        } catch (err) {
          return (err as Error).message;
        }
      },
      LONG,
      'writes to resume',
      200,
    );
    t.diagnostic(`members back → writes resumed: ${((performance.now() - restartedAt) / 1000).toFixed(2)} s (outage ${((restartedAt - stoppedAt) / 1000).toFixed(1)} s)`);
    const leader = await agreedLeader(bed, survivors, LONG);
    const client = bed.managerNamed(leader).client;
    const services = (await client.listServices()).map((s) => s.spec.name).sort();
    assert.deepEqual(services, [ROLLER, SCALER], 'nothing of the failed writes exists');
    assert.deepEqual((await client.listStacks()).map((s) => s.spec.name), [], 'no stack half-deployed');
    await converged(leader, SCALER, 6);
    await converged(leader, ROLLER, 4);
    const now = await runningContainers(bed);
    assertNotRestarted(before, now, before.keys());
    await waitFor(async () => (await client.listNodes()).every((n) => n.status.state === 'ready') || 'a node not ready', LONG, 'every node ready');
  });

  it('the killed manager restarts and rejoins as a follower', async () => {
    const leader = await agreedLeader(bed, [...alive], LONG);
    await bed.startManager('m1');
    alive.add('m1');
    await waitFor(
      async () => {
        const seen = await leadersSeen(bed, names());
        const members = await etcd.memberIds();
        return ([...seen.values()].every((v) => v === leader) && members.length === 3) || `${[...seen].map(([k, v]) => `${k}→${v}`).join(' ')}; ${members.length} members`;
      },
      LONG,
      'm1 to rejoin as a follower',
      200,
    );
    const { managers } = await bed.manager.client.listManagers();
    assert.equal(managers.length, 3);
    assert.equal(managers.filter((m) => m.leader).length, 1, 'exactly one leader');
    assert.equal(managers.find((m) => m.addr.startsWith(`${bed.manager.ip}:`))?.leader, false, 'm1 follows');
  });
});

/** `GET /metrics` on a manager's unix socket. */
async function fetchMetrics(socket: string): Promise<string> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: '/metrics', method: 'GET', timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('GET /metrics timed out')));
    req.end();
  });
}
