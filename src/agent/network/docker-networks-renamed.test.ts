import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type Docker from 'dockerode';
import { dockerBridges, NETWORK_LABELS } from './docker-networks.ts';
import type { LocalNetwork } from './local-network.ts';
import { bridgeName, dockerNetworkName, vxlanName } from './names.ts';

/** Just enough of the engine's network calls, in memory (a network with containers cannot be removed). */
function fakeEngine(): { docker: Docker; nets: Map<string, Docker.NetworkInspectInfo> } {
  const nets = new Map<string, Docker.NetworkInspectInfo>();
  const err = (statusCode: number, message: string): Error => Object.assign(new Error(message), { statusCode });
  const docker = {
    getNetwork: (name: string) => ({
      inspect: () => {
        const n = nets.get(name);
        return n ? Promise.resolve(n) : Promise.reject(err(404, `network ${name} not found`));
      },
      remove: () => {
        const n = nets.get(name);
        if (!n) return Promise.reject(err(404, `network ${name} not found`));
        if (Object.keys(n.Containers ?? {}).length > 0) return Promise.reject(err(403, `error while removing network: network ${name} has active endpoints`));
        nets.delete(name);
        return Promise.resolve();
      },
    }),
    listNetworks: (opts: { filters: { label: string[] } }) =>
      Promise.resolve(
        [...nets.values()].filter((n) =>
          opts.filters.label.every((l) => {
            const [k = '', v] = l.split('=');
            return v === undefined ? n.Labels?.[k] !== undefined : n.Labels?.[k] === v;
          }),
        ),
      ),
    createNetwork: (o: Docker.NetworkCreateOptions) => {
      const bridge = o.Options?.['com.docker.network.bridge.name'];
      if ([...nets.values()].some((n) => n.Options?.['com.docker.network.bridge.name'] === bridge)) return Promise.reject(err(403, `bridge ${bridge} already exists`));
      nets.set(o.Name, { Name: o.Name, Id: o.Name, Driver: o.Driver, Internal: o.Internal, IPAM: o.IPAM, Options: o.Options, Labels: o.Labels, Containers: {} } as unknown as Docker.NetworkInspectInfo);
      return Promise.resolve();
    },
  };
  return { docker: docker as unknown as Docker, nets };
}

const ID = 'rnm0000000000001';
const base: LocalNetwork = {
  id: ID, name: 'shared', subnet: '10.30.0.0/16', prefix: 16, slice: '10.30.1.0/24', gateway: '10.30.1.1', vtep: '10.30.1.0',
  bridge: bridgeName(ID), vxlan: vxlanName(ID), mtu: 1450, vni: 0x100001, internal: false, ingress: false, encrypted: false,
  attachable: false, dockerNetwork: dockerNetworkName(ID),
};
const shared: LocalNetwork = { ...base, attachable: true, containerRange: '10.30.1.192/26', dockerNetwork: 'shared' };

describe('dockerBridges: a network made attachable after an older agent made it', () => {
  it('keeps using its former flt- name while tasks are on it, and takes its own name once that is empty', async () => {
    const { docker, nets } = fakeEngine();
    const bridges = dockerBridges(docker, 'n1');
    assert.equal(await bridges.ensure(base), undefined);
    const former = dockerNetworkName(ID);
    nets.get(former)!.Containers = { c1: { Name: 'task', EndpointID: 'e', MacAddress: '', IPv4Address: '10.30.1.2/16', IPv6Address: '' } };

    assert.equal(await bridges.ensure(shared), former, 'still carries a task: the network stays up under its former name');
    assert.deepEqual([...nets.keys()], [former]);
    assert.equal(nets.get(former)?.Labels?.[NETWORK_LABELS.id], ID);

    nets.get(former)!.Containers = {};
    assert.equal(await bridges.ensure(shared), undefined);
    assert.deepEqual([...nets.keys()], ['shared'], 'empty: made anew under its own name');
  });
});
