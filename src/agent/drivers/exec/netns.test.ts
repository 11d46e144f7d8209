import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { CommandResult, CommandRunner } from '../../network/runner.ts';
import type { DriverNetwork } from '../driver.ts';
import { createTaskNet, enterPrefix, planTaskNet, readTaskAddresses, removeTaskNet, vethName, type NetnsTools } from './netns.ts';

const TOOLS: NetnsTools = { ip: '/ip', nsenter: '/nsenter', unshare: '/unshare', mount: '/mount', umount: '/umount', setpriv: '/setpriv' };
const net = (id: string, ip: string, extra: Partial<DriverNetwork> = {}): DriverNetwork => ({
  networkId: id, dockerNetwork: `flt-${id}`, bridge: `flb-${id}`, address: `${ip}/16`, ip, gateway: ip.replace(/\.\d+$/, '.1'), mtu: 1450, ...extra,
});

/** Records the commands; answers from `answers` (by argv[0]), else success. */
function recorder(answers: Record<string, CommandResult> = {}): CommandRunner & { calls: Array<{ argv: readonly string[]; stdin?: string }> } {
  const calls: Array<{ argv: readonly string[]; stdin?: string }> = [];
  return {
    calls,
    run(argv, stdin) {
      calls.push({ argv, ...(stdin === undefined ? {} : { stdin }) });
      return Promise.resolve(answers[argv.join(' ')] ?? answers[argv[0] ?? ''] ?? { code: 0, stdout: '', stderr: '' });
    },
    writeSysctls: () => Promise.resolve([]),
  };
}

void describe('exec task network namespaces', () => {
  test('veth names fit IFNAMSIZ and differ for ids with a common prefix', () => {
    const a = vethName('exec-unit-1234-1', 0);
    const b = vethName('exec-unit-1234-2', 0);
    assert.match(a, /^flv[0-9a-f]{8}0$/);
    assert.notEqual(a, b);
    assert.ok(vethName('x'.repeat(128), 1234).length <= 15);
  });

  test('create: lo up in a new pinned namespace, veths on the bridges (hairpin), addresses, the default route via the primary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-netns-'));
    try {
      const networks = [net('ingress', '10.0.0.7', { ingress: true }), net('app', '10.1.0.9')];
      const plan = planTaskNet('t1', join(dir, 'netns'), networks, '/run/r.conf');
      assert.deepEqual(plan.links.map((l) => [l.ifname, l.networkId, l.ingress ?? false]), [['eth0', 'ingress', true], ['eth1', 'app', false]]);
      const r = recorder();
      await createTaskNet(r, TOOLS, plan, networks);
      assert.ok(existsSync(plan.netns), 'the mount point exists');
      const [ns, host, inside] = r.calls;
      assert.deepEqual(ns?.argv, ['/unshare', `--net=${plan.netns}`, '/ip', 'link', 'set', 'dev', 'lo', 'up']);
      const v1 = vethName('t1', 1);
      assert.ok(host?.stdin?.includes(`link add ${v1} mtu 1450 type veth peer name eth1 mtu 1450 netns ${plan.netns}\nlink set dev ${v1} master flb-app\nlink set dev ${v1} type bridge_slave hairpin on\nlink set dev ${v1} up\n`));
      assert.deepEqual(inside?.argv, ['/nsenter', `--net=${plan.netns}`, '/ip', '-batch', '-']);
      assert.match(inside?.stdin ?? '', /address add 10\.1\.0\.9\/16 dev eth1\n[^]*route add default via 10\.1\.0\.1 dev eth1\n$/);

      // Alone, the routing mesh's network carries the route; a failure undoes what was made.
      const failing = recorder({ '/ip -batch -': { code: 2, stdout: '', stderr: 'Cannot find device "flb-ingress"' } });
      const only = planTaskNet('t2', join(dir, 'netns2'), [networks[0]!], undefined);
      await assert.rejects(createTaskNet(failing, TOOLS, only, [networks[0]!]), /flb-ingress/);
      assert.deepEqual(failing.calls.slice(2).map((c) => c.argv.join(' ')), ['/ip -force -batch -', `/umount ${only.netns}`]);
      assert.equal(existsSync(only.netns), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('enterPrefix: nsenter, then the resolv.conf bind in a slave mount namespace, then setpriv for a user', () => {
    const plan = planTaskNet('t1', '/d/netns', [net('app', '10.1.0.9')], '/run/r.conf');
    const p = enterPrefix(TOOLS, plan, { uid: 65534, gid: 65534 });
    assert.deepEqual(p.slice(0, 6), ['/nsenter', '--net=/d/netns', '/unshare', '--mount', '--propagation', 'slave']);
    assert.deepEqual(p.slice(-6), ['/mount', '/run/r.conf', '/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
    assert.deepEqual(enterPrefix(TOOLS, planTaskNet('t1', '/d/netns', [net('app', '10.1.0.9')], undefined), {}), ['/nsenter', '--net=/d/netns']);
  });

  test('addresses are read from the namespace per link; an unreadable namespace is undefined', async () => {
    const plan = planTaskNet('t1', '/d/netns', [net('a', '10.1.0.9'), net('b', '10.2.0.4')], undefined);
    const shown = JSON.stringify([
      { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
      { ifname: 'eth0', addr_info: [{ family: 'inet', local: '10.1.0.9', prefixlen: 16 }] },
      { ifname: 'eth1', addr_info: [] },
    ]);
    assert.deepEqual(await readTaskAddresses(recorder({ '/nsenter': { code: 0, stdout: shown, stderr: '' } }), TOOLS, plan), [{ networkId: 'a', addr: '10.1.0.9/16' }]);
    assert.equal(await readTaskAddresses(recorder({ '/nsenter': { code: 1, stdout: '', stderr: 'nsenter: reassociate to namespace' } }), TOOLS, plan), undefined);
  });

  test('remove tolerates veths that are gone; another failure is an error', async () => {
    const plan = planTaskNet('t1', '/nonexistent-flotilla/netns', [net('a', '10.1.0.9')], undefined);
    const gone = recorder({ '/ip': { code: 1, stdout: '', stderr: `Cannot find device "${vethName('t1', 0)}"\nCommand failed -:1\n` } });
    await removeTaskNet(gone, TOOLS, plan);
    assert.deepEqual(gone.calls.map((c) => [c.argv.join(' '), c.stdin]), [['/ip -force -batch -', `link del dev ${vethName('t1', 0)}\n`]]);
    const broken = recorder({ '/ip': { code: 1, stdout: '', stderr: 'RTNETLINK answers: Operation not permitted\n' } });
    await assert.rejects(removeTaskNet(broken, TOOLS, plan), /Operation not permitted/);
  });
});
