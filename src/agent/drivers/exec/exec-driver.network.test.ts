import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { systemClock } from '../../../lib/clock.ts';
import { nsenterRunner, runCommand } from '../../network/runner.ts';
import { isDriverError, type DriverNetwork, type DriverTask } from '../driver.ts';
import { driverTask } from '../sample-tasks.ts';
import { ExecDriver } from './exec-driver.ts';
import { findNetnsTools, vethName } from './netns.ts';
import { pollFor as waitFor, sh } from '../../../testing/host-commands.ts';

/**
 * Exec tasks on networks, on a real kernel. The agent's "host" namespace is a throwaway one
 * (`fltex-<pid>-host`, with a bridge standing for a network's `flb-…`); the driver does its
 * host-side work there through an `nsenter` runner. Needs root, iproute2 and util-linux.
 */

const NODE = 'node-exec-net-1';
const HOST_NS = `fltex-${process.pid}-host`;
const HOST_PATH = `/run/netns/${HOST_NS}`;
const BRIDGE = 'fltex-br0';
const NET: DriverNetwork = {
  networkId: 'netexectest1',
  dockerNetwork: 'flt-netexectes',
  bridge: BRIDGE,
  address: '10.213.7.5/24',
  ip: '10.213.7.5',
  gateway: '10.213.7.1',
  mtu: 1400,
};
const PORT = 7070;

/** A TCP echo server; it logs once it listens. */
const SERVER = `require('node:net').createServer((s) => s.pipe(s)).listen(${PORT}, '0.0.0.0', () => console.log('listening'));`;

/** One connection from the host namespace: sends a line, prints what comes back. */
const CLIENT = `
const s = require('node:net').connect({ host: process.argv[1], port: Number(process.argv[2]) });
let data = '';
const t = setTimeout(() => { console.log('timeout'); process.exit(0); }, 2000);
s.on('connect', () => s.write('ping\\n'));
s.on('data', (d) => { data += d; if (data.includes('\\n')) { clearTimeout(t); console.log(data.trim()); s.destroy(); } });
s.on('error', (e) => { clearTimeout(t); console.log('error ' + e.code); });`;


/** The host namespace's links whose names start with `flv`. */
async function hostVeths(): Promise<string[]> {
  const links = JSON.parse(await sh(['nsenter', `--net=${HOST_PATH}`, 'ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>;
  return links.map((l) => l.ifname).filter((n) => n.startsWith('flv'));
}

const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-exec-net-'));
// The task runs as nobody and reads its resolv.conf from here.
chmodSync(dataDir, 0o755);
const resolvConf = join(dataDir, 'resolv.conf');
writeFileSync(resolvConf, 'nameserver 10.213.7.1\noptions ndots:0\n', { mode: 0o644 });

const skip = await (async (): Promise<string | false> => {
  const tools = await findNetnsTools();
  if (typeof tools === 'string') return `skipped: exec tasks on networks need root and the tools: ${tools}`;
  return false;
})();

const newDriver = (): ExecDriver =>
  new ExecDriver({ nodeId: NODE, dataDir, clock: systemClock, pollMs: 50, netRunner: nsenterRunner(HOST_PATH) });

void describe('ExecDriver on networks', () => {
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  void test('refuses host-mode ports for a task on networks (nothing is made)', async () => {
    const d = newDriver();
    const t: DriverTask = {
      ...driverTask({
        id: `exec-net-ports-${process.pid}`, nodeId: NODE, driver: 'exec',
        container: { command: ['/bin/true'] },
        ports: [{ protocol: 'tcp', target: 80, published: 8080, mode: 'host' }],
      }),
      networks: [NET],
    };
    await assert.rejects(d.prepare(t), (e: unknown) => isDriverError(e) && e.code === 'invalid_spec' && /host-mode ports .*8080\/tcp/.test(e.message));
    assert.equal(await d.inspect(t.id), undefined);
  });

  void describe('a task in its own namespace', { skip }, () => {
    const taskId = `exec-net-${process.pid}`;
    const task: DriverTask = {
      ...driverTask({ id: taskId, nodeId: NODE, driver: 'exec', container: { command: [process.execPath, '-e', SERVER], user: 'nobody' } }),
      networks: [NET],
      resolvConf,
    };

    before(async () => {
      await sh(['ip', 'netns', 'add', HOST_NS]);
      await sh(['ip', '-n', HOST_NS, '-batch', '-'], [
        'link set dev lo up',
        `link add ${BRIDGE} type bridge`,
        `address add ${NET.gateway}/24 dev ${BRIDGE}`,
        `link set dev ${BRIDGE} mtu ${NET.mtu} up`,
      ].join('\n') + '\n');
    });
    after(async () => {
      await newDriver().remove(taskId).catch(() => {});
      await runCommand(['ip', 'netns', 'del', HOST_NS]);
    });

    const d = newDriver();

    test('prepare makes the namespace and the veth; the task answers on its address', async () => {
      await d.prepare(task);
      await d.prepare(task); // idempotent
      assert.deepEqual(await hostVeths(), [vethName(taskId, 0)]);
      const port = JSON.parse(await sh(['nsenter', `--net=${HOST_PATH}`, 'ip', '-j', '-d', 'link', 'show', vethName(taskId, 0)])) as Array<{
        master?: string; mtu?: number; linkinfo?: { info_slave_data?: { hairpin?: boolean } };
      }>;
      assert.equal(port[0]?.master, BRIDGE);
      assert.equal(port[0]?.mtu, NET.mtu);
      assert.equal(port[0]?.linkinfo?.info_slave_data?.hairpin, true);

      await d.start(taskId);
      const answer = await waitFor('the echo server on the task address', async () => {
        const out = (await sh(['nsenter', `--net=${HOST_PATH}`, process.execPath, '-e', CLIENT, NET.ip, String(PORT)])).trim();
        return out === 'ping' ? out : undefined;
      });
      assert.equal(answer, 'ping');
      const i = await d.inspect(taskId);
      assert.equal(i?.state, 'running');
      assert.equal(i.address, NET.ip);
      assert.deepEqual(i.networks, [{ networkId: NET.networkId, addr: NET.address }]);
    });

    test('a network whose bridge is missing fails prepare and leaves nothing behind', async () => {
      const bad: DriverTask = { ...task, id: `${taskId}-nobridge`, networks: [{ ...NET, bridge: 'fltex-nobr', ip: '10.213.7.6', address: '10.213.7.6/24' }] };
      await assert.rejects(d.prepare(bad), (e: unknown) => isDriverError(e) && e.code === 'internal' && /fltex-nobr/.test(e.message));
      assert.deepEqual(await hostVeths(), [vethName(taskId, 0)]);
      assert.equal(existsSync(join(dataDir, 'exec', bad.id)), false);
      assert.equal(await d.inspect(bad.id), undefined);
    });

    test('execIn runs in the namespace, as the task user, with the task resolv.conf', async () => {
      const r = await d.execIn(taskId, ['cat', '/etc/resolv.conf'], { timeoutMs: 10_000 });
      assert.equal(r.exitCode, 0, r.output);
      assert.equal(r.output, await readFile(resolvConf, 'utf8'));
      const script = `const os = require('node:os'); console.log(JSON.stringify({ uid: process.getuid(), ifs: Object.fromEntries(Object.entries(os.networkInterfaces()).map(([k, v]) => [k, v.filter((a) => a.family === 'IPv4').map((a) => a.cidr)])) }))`;
      const seen = await d.execIn(taskId, [process.execPath, '-e', script], { timeoutMs: 10_000 });
      assert.equal(seen.exitCode, 0, seen.output);
      assert.deepEqual(JSON.parse(seen.output), { uid: 65534, ifs: { lo: ['127.0.0.1/8'], eth0: [NET.address] } });
      const route = await d.execIn(taskId, ['cat', '/proc/net/route'], { timeoutMs: 10_000 });
      // The default route (destination 0) on eth0, via the gateway (10.213.7.1 little-endian hex).
      assert.match(route.output, /eth0\s+00000000\s+0107D50A/);
    });

    test('the program itself sees the resolv.conf (the supervisor runs in a mount namespace of its own)', async () => {
      const i = await d.inspect(taskId);
      const pid = i?.pid;
      assert.ok(pid !== undefined);
      const seen = await readFile(`/proc/${pid}/root/etc/resolv.conf`, 'utf8');
      assert.equal(seen, await readFile(resolvConf, 'utf8'));
      // The agent's own view is untouched.
      assert.notEqual(await readFile('/etc/resolv.conf', 'utf8'), seen);
    });

    test('a new driver instance (agent restart) recovers the task with its address from the namespace, re-pinning a lost pin', async () => {
      const found = (await newDriver().recover()).find((x) => x.taskId === taskId);
      assert.equal(found?.state, 'running');
      assert.equal(found.address, NET.ip);
      assert.deepEqual(found.networks, [{ networkId: NET.networkId, addr: NET.address }]);
      // The pin lost while the task runs (the agent back in another mount namespace): pinned again from the process.
      await sh(['umount', join(dataDir, 'exec', taskId, 'netns')]);
      const again = (await newDriver().recover()).find((x) => x.taskId === taskId);
      assert.deepEqual(again?.networks, [{ networkId: NET.networkId, addr: NET.address }]);
      assert.equal((await d.execIn(taskId, ['true'], { timeoutMs: 10_000 })).exitCode, 0, 'execIn enters the namespace again');
    });

    test('remove leaves no veth, no pinned namespace and no task dir; twice is fine', async () => {
      const d2 = newDriver();
      await d2.remove(taskId);
      await d2.remove(taskId);
      assert.deepEqual(await hostVeths(), []);
      assert.equal(existsSync(join(dataDir, 'exec', taskId)), false);
      const mounts = await readFile('/proc/self/mountinfo', 'utf8');
      assert.equal(mounts.includes(join(dataDir, 'exec')), false, 'a pinned namespace is left mounted');
      assert.equal(await d2.inspect(taskId), undefined);
    });
  });
});
