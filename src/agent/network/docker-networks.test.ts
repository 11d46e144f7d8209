import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import Docker from 'dockerode';
import { parseDockerHost } from '../drivers/docker/docker-host.ts';
import { skipUnlessRequired } from '../../testing/docker-engine.ts';
import { dockerBridges, dockerNetworkCreate, isDockerNetworkError, NETWORK_LABELS, networkDifferences } from './docker-networks.ts';
import type { LocalNetwork } from './local-network.ts';
import { bridgeName, dockerNetworkName, vxlanName } from './names.ts';
import { nsenterRunner, runCommand } from './runner.ts';

/**
 * `dockerBridges` against the real engine (skipped without one, unless FLOTILLA_REQUIRE_DOCKER=1).
 * Network ids start with `atst` (this test's own), subnets are in 10.197.0.0/16; everything
 * made is removed in `after()`.
 */
const docker = new Docker(parseDockerHost(undefined).options);
const reason = await docker.ping().then(() => undefined, (e: unknown) => `no Docker engine: ${(e as Error).message}`);
const skip = skipUnlessRequired(reason);

/** A LocalNetwork of this test: a /20 in 10.197.0.0/16 with this node's slice `sliceIndex`. */
function testNetwork(id: string, block: number, sliceIndex: number, more: Partial<LocalNetwork> = {}): LocalNetwork {
  const third = block * 16;
  const slice = third + sliceIndex;
  return {
    id, name: `net-${id}`, subnet: `10.197.${third}.0/20`, prefix: 20, slice: `10.197.${slice}.0/24`,
    gateway: `10.197.${slice}.1`, vtep: `10.197.${slice}.0`, bridge: bridgeName(id), vxlan: vxlanName(id), mtu: 1450,
    vni: 0x100001, internal: false, ingress: false, encrypted: false, attachable: false, dockerNetwork: dockerNetworkName(id), ...more,
  };
}

const newId = (): string => `atst${randomBytes(3).toString('hex')}-${randomBytes(4).toString('hex')}`;

void test('the create request: whole range as subnet, the gateway alone as Docker\'s range, masquerade off, labels', () => {
  const n = testNetwork('atst000000-x', 0, 1, { internal: true });
  assert.deepEqual(dockerNetworkCreate(n), {
    Name: 'flt-atst000000', CheckDuplicate: true, Driver: 'bridge', Internal: true,
    IPAM: { Driver: 'default', Config: [{ Subnet: '10.197.0.0/20', IPRange: '10.197.1.1/32', Gateway: '10.197.1.1' }] },
    Options: {
      'com.docker.network.bridge.name': 'flb-atst000000', 'com.docker.network.driver.mtu': '1450',
      'com.docker.network.bridge.enable_ip_masquerade': 'false', 'com.docker.network.bridge.enable_icc': 'true',
    },
    Labels: { 'flotilla.network.id': 'atst000000-x', 'flotilla.network.name': 'net-atst000000-x' },
  });
  assert.equal(dockerNetworkCreate(testNetwork('i', 0, 1, { ingress: true })).Internal, true);
});

void test('an attachable network is made under its own name, with the slice\'s container range as Docker\'s range', () => {
  const n = testNetwork('atst000001-x', 0, 1, { attachable: true, containerRange: '10.197.1.192/26', dockerNetwork: 'atst-shared' });
  const create = dockerNetworkCreate(n);
  assert.equal(create.Name, 'atst-shared');
  assert.deepEqual(create.IPAM?.Config, [{ Subnet: '10.197.0.0/20', IPRange: '10.197.1.192/26', Gateway: '10.197.1.1' }]);
});

/** Removes the networks this test made, and their containers. */
async function removeTestNetworks(): Promise<void> {
  const nets = await docker.listNetworks({ filters: { label: [NETWORK_LABELS.id] } });
  for (const n of nets) {
    if (!(n.Labels?.[NETWORK_LABELS.id] ?? '').startsWith('atst')) continue;
    const info = await docker.getNetwork(n.Id).inspect() as Docker.NetworkInspectInfo;
    for (const c of Object.keys(info.Containers ?? {})) await docker.getContainer(c).remove({ force: true }).catch(() => undefined);
    await docker.getNetwork(n.Id).remove().catch(() => undefined);
  }
}

void describe('dockerBridges against the engine', { skip }, () => {
  after(removeTestNetworks);

  void test('ensure makes the network once, list finds it, remove deletes it (twice is fine)', async () => {
    if (reason !== undefined) assert.fail(reason);
    const bridges = dockerBridges(docker, 'test-node');
    const n = testNetwork(newId(), 1, 3);
    await bridges.ensure(n);
    await bridges.ensure(n);
    const info = await docker.getNetwork(dockerNetworkName(n.id)).inspect() as Docker.NetworkInspectInfo;
    assert.deepEqual(networkDifferences(info, n), []);
    assert.equal(info.Options?.['com.docker.network.bridge.name'], n.bridge);
    assert.ok((await bridges.list()).includes(n.id));
    await bridges.remove(n.id);
    await bridges.remove(n.id);
    assert.ok(!(await bridges.list()).includes(n.id));
  });

  void test('a network whose slice changed is recreated when unused, refused while a container uses it', async () => {
    if (reason !== undefined) assert.fail(reason);
    const bridges = dockerBridges(docker, 'test-node');
    const id = newId();
    await bridges.ensure(testNetwork(id, 2, 1));
    const moved = testNetwork(id, 2, 2);
    await bridges.ensure(moved);
    const info = await docker.getNetwork(dockerNetworkName(id)).inspect() as Docker.NetworkInspectInfo;
    assert.deepEqual(networkDifferences(info, moved), []);
    // A running container holds an endpoint on it.
    const c = await docker.createContainer({
      Image: 'flotilla/busybox:test', Cmd: ['sleep', '60'],
      HostConfig: { NetworkMode: dockerNetworkName(id) },
      NetworkingConfig: { EndpointsConfig: { [dockerNetworkName(id)]: { IPAMConfig: { IPv4Address: '10.197.34.9' } } } },
    });
    try {
      await c.start();
      await assert.rejects(bridges.ensure(testNetwork(id, 2, 3)), (e) => isDockerNetworkError(e) && e.code === 'in_use' && e.message.includes('1 container(s) still use it'));
      await assert.rejects(bridges.remove(id), (e) => isDockerNetworkError(e) && e.code === 'in_use');
    } finally {
      await c.remove({ force: true });
    }
    await bridges.remove(id);
  });
});

void describe('plain containers on the engine', { skip }, () => {
  const made: string[] = [];
  after(async () => {
    for (const c of made) await docker.getContainer(c).remove({ force: true }).catch(() => undefined);
    await removeTestNetworks();
  });

  async function plain(network: string): Promise<string> {
    const c = await docker.createContainer({ Image: 'flotilla/busybox:test', Cmd: ['sleep', '60'], HostConfig: { NetworkMode: network } });
    made.push(c.id);
    await c.start();
    const info = await c.inspect();
    return info.NetworkSettings.Networks[network]?.IPAddress ?? '';
  }

  void test('join an attachable network by its name inside the container range; a task keeps its address outside it; a non-attachable one refuses them', async () => {
    if (reason !== undefined) assert.fail(reason);
    const bridges = dockerBridges(docker, 'test-node');
    const id = newId();
    // An older agent made it as flt-<id10>: it is replaced by the network under its own name.
    await bridges.ensure(testNetwork(id, 4, 1));
    const name = `atst-${id.slice(4, 10)}`;
    const shared = testNetwork(id, 4, 1, { attachable: true, containerRange: '10.197.65.192/26', dockerNetwork: name });
    await bridges.ensure(shared);
    await assert.rejects(docker.getNetwork(dockerNetworkName(id)).inspect(), (e) => (e as { statusCode?: number }).statusCode === 404);
    const task = await docker.createContainer({
      Image: 'flotilla/busybox:test', Cmd: ['sleep', '60'], HostConfig: { NetworkMode: name },
      NetworkingConfig: { EndpointsConfig: { [name]: { IPAMConfig: { IPv4Address: '10.197.65.2' } } } },
    });
    made.push(task.id);
    await task.start();
    assert.equal((await task.inspect()).NetworkSettings.Networks[name]?.IPAddress, '10.197.65.2');
    assert.equal(await plain(name), '10.197.65.192');

    const closed = testNetwork(newId(), 5, 1);
    await bridges.ensure(closed);
    await assert.rejects(plain(closed.dockerNetwork), (e) => /no available IPv4 addresses/.test(String((e as Error).message)));
    await bridges.remove(closed.id);
  });
});

void describe('dockerBridges sweeps orphan bridges', { skip: skip || (process.getuid?.() !== 0 ? 'needs root (a throwaway network namespace)' : false) }, () => {
  const ns = `fltorph${process.pid}`;
  after(() => runCommand(['ip', 'netns', 'delete', ns]).then(() => undefined));

  void test('removes a flb- bridge no Docker network and no local network owns, and keeps the others', async () => {
    assert.equal((await runCommand(['ip', 'netns', 'add', ns])).code, 0);
    const runner = nsenterRunner(`/run/netns/${ns}`);
    for (const name of ['flb-orphan0001', 'flb-keep000001', 'other-bridge']) {
      assert.equal((await runner.run(['ip', 'link', 'add', name, 'type', 'bridge'])).code, 0, name);
    }
    await dockerBridges(docker, 'test-node', runner).sweepOrphans?.(new Set(['flb-keep000001']));
    const left = JSON.parse((await runner.run(['ip', '-j', 'link', 'show', 'type', 'bridge'])).stdout) as Array<{ ifname: string }>;
    assert.deepEqual(left.map((l) => l.ifname).sort(), ['flb-keep000001', 'other-bridge']);
  });
});
