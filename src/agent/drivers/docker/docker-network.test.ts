import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Docker from 'dockerode';
import { TASK_LABELS } from '../../../api/service.ts';
import { systemClock } from '../../../lib/clock.ts';
import { engineUnavailable, skipUnlessRequired, TEST_IMAGE } from '../../../testing/docker-engine.ts';
import { dockerBridges } from '../../network/docker-networks.ts';
import type { LocalNetwork } from '../../network/local-network.ts';
import { bridgeName, dockerNetworkName, vxlanName } from '../../network/names.ts';
import type { DriverNetwork } from '../driver.ts';
import { driverTask } from '../sample-tasks.ts';
import { parseDockerHost } from './docker-host.ts';
import { DockerDriver } from './docker-driver.ts';

/**
 * The docker driver on Flotilla networks, against the real engine (skipped without one or
 * flotilla/busybox:test, unless FLOTILLA_REQUIRE_DOCKER=1): networks made by `dockerBridges`
 * (ids `atst…`, subnets in 10.197.0.0/16), a task on two of them gets the addresses asked
 * for, the agent's resolv.conf, and `recover()` reports its addresses. Removed in `after()`.
 */
const RUN = randomBytes(3).toString('hex');
const PORT = 20_000 + randomBytes(2).readUInt16BE() % 10_000;
const NODE = `attach-${RUN}`;
const docker = new Docker(parseDockerHost(undefined).options);
const newDriver = (): DockerDriver => new DockerDriver({ nodeId: NODE, clock: systemClock });
const reason = await engineUnavailable(newDriver(), docker);
const skip = skipUnlessRequired(reason);

function net(id: string, block: number): LocalNetwork {
  const third = block * 16;
  return {
    id, name: `net-${id}`, subnet: `10.197.${third}.0/20`, prefix: 20, slice: `10.197.${third + 1}.0/24`,
    gateway: `10.197.${third + 1}.1`, vtep: `10.197.${third + 1}.0`, bridge: bridgeName(id), vxlan: vxlanName(id), mtu: 1400,
    vni: 0x100001, internal: false, ingress: false, encrypted: false, attachable: false, dockerNetwork: dockerNetworkName(id),
  };
}

function attach(n: LocalNetwork, offset: number): DriverNetwork {
  const ip = n.slice.replace(/\.0\/24$/, `.${offset}`);
  return { networkId: n.id, dockerNetwork: dockerNetworkName(n.id), bridge: n.bridge, address: `${ip}/${n.prefix}`, ip, gateway: n.gateway, mtu: n.mtu };
}

void describe('DockerDriver on networks', { skip }, () => {
  const front = net(`atsta${RUN.slice(0, 5)}-front`, 4);
  const back = net(`atstb${RUN.slice(0, 5)}-back`, 5);
  const bridges = dockerBridges(docker, 'test-node');
  let dir = '';
  after(async () => {
    const list = await docker.listContainers({ all: true, filters: { label: [`${TASK_LABELS.nodeId}=${NODE}`] } });
    await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    await bridges.remove(front.id).catch(() => undefined);
    await bridges.remove(back.id).catch(() => undefined);
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  void test('a task gets its addresses on each network, the agent’s resolv.conf, and recover() reports them', async () => {
    if (reason !== undefined) assert.fail(reason);
    await bridges.ensure(front);
    await bridges.ensure(back);
    dir = await mkdtemp(join(tmpdir(), 'flotilla-attach-'));
    const resolvConf = join(dir, 'resolv.conf');
    await writeFile(resolvConf, `nameserver ${front.gateway}\n`);
    const script = 'cat /etc/resolv.conf; ip -o -4 addr show | grep -v " lo " | awk \'{print $4}\' | sort; ip route show default; cat /sys/class/net/eth0/mtu; echo END; httpd -f -p 8080 -h /etc';
    const t = {
      ...driverTask({ id: `nt${RUN}`, nodeId: NODE, serviceName: 'web', driver: 'docker', container: { image: TEST_IMAGE, command: ['sh', '-c', script] },
        ports: [{ target: 8080, published: PORT, protocol: 'tcp', mode: 'host' }] }),
      networks: [attach(front, 7), attach(back, 9)],
      resolvConf,
    };
    const d = newDriver();
    await d.prepare(t);
    await d.prepare(t); // idempotent: the second network is not connected twice
    const { containerId } = await d.start(t.id);
    const info = await docker.getContainer(containerId ?? '').inspect();
    assert.equal(info.NetworkSettings.Networks[dockerNetworkName(front.id)]?.IPAddress, '10.197.65.7');
    assert.equal(info.NetworkSettings.Networks[dockerNetworkName(back.id)]?.IPAddress, '10.197.81.9');
    assert.deepEqual(info.HostConfig.Dns, [front.gateway]);
    const expected = [{ networkId: front.id, addr: '10.197.65.7/20' }, { networkId: back.id, addr: '10.197.81.9/20' }];
    const inspected = await d.inspect(t.id);
    assert.deepEqual(inspected?.networks, expected);
    assert.equal(inspected?.address, '10.197.65.7');

    // What the task saw, up to the END line (the httpd keeps it running).
    let out = '';
    const following = new AbortController();
    for await (const l of d.logs(t.id, { follow: true }, following.signal)) {
      out += `${l.line}\n`;
      if (l.line === 'END') following.abort();
    }
    assert.match(out, /^nameserver 10\.197\.65\.1$/m);
    assert.match(out, /^10\.197\.65\.7\/20$/m);
    assert.match(out, /^10\.197\.81\.9\/20$/m);
    assert.match(out, /^default via 10\.197\.65\.1 /m);
    assert.match(out, /^1400$/m);
    // A host-mode published port still reaches the task on its network.
    const res = await fetch(`http://127.0.0.1:${PORT}/resolv.conf`);
    assert.match(await res.text(), /^nameserver 10\.197\.65\.1$/m);

    // An agent restart: a new driver instance finds the task with its addresses.
    const found = (await newDriver().recover()).find((x) => x.taskId === t.id);
    assert.deepEqual(found?.networks, expected);
    // Stopped, Docker holds no address; the label still says which were the task's.
    await d.stop(t.id, { signal: 'SIGKILL', gracePeriodMs: 1_000 });
    assert.deepEqual((await newDriver().recover()).find((x) => x.taskId === t.id)?.networks, expected);
    await d.remove(t.id);
  });

  void test('a task whose network does not exist is rejected as invalid and leaves no container', async () => {
    if (reason !== undefined) assert.fail(reason);
    const ghost = net(`atstc${RUN.slice(0, 5)}-ghost`, 6);
    const t = {
      ...driverTask({ id: `ng${RUN}`, nodeId: NODE, driver: 'docker', container: { image: TEST_IMAGE, command: ['true'] } }),
      networks: [attach(ghost, 5)],
    };
    await assert.rejects(newDriver().prepare(t), (e) => (e as { code?: string }).code === 'invalid_spec' && /has no Docker network/.test((e as Error).message));
    assert.equal(await newDriver().inspect(t.id), undefined);
    // Primary fine, second missing: refused before anything is made.
    await bridges.ensure(front);
    const t2 = {
      ...driverTask({ id: `nh${RUN}`, nodeId: NODE, driver: 'docker', container: { image: TEST_IMAGE, command: ['true'] } }),
      networks: [attach(front, 11), attach(ghost, 5)],
    };
    await assert.rejects(newDriver().prepare(t2), (e) => (e as { code?: string }).code === 'invalid_spec');
    assert.equal(await newDriver().inspect(t2.id), undefined);
  });
});
