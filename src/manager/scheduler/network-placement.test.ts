import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Network } from '../../api/network.ts';
import type { Node, NodeNetworkDescription } from '../../api/node.ts';
import type { Task } from '../../api/task.ts';
import { makeNode, makeTask } from '../../testing/fixtures.ts';
import { makeNetwork } from '../../testing/network-fixtures.ts';
import { plan } from './plan.ts';

/** Placement of tasks on networks: the `network` filter of the pipeline, through `plan`. */

const plane = (over: Partial<NodeNetworkDescription> = {}): NodeNetworkDescription => ({ underlay: '192.168.0.1', mtu: 1500, encryption: 'none', ...over });

function node(id: string, network?: NodeNetworkDescription): Node {
  const n = makeNode({ id, description: { hostname: id } });
  return network === undefined ? n : { ...n, description: { ...n.description, network } };
}

function on(net: Network, id = 't1'): Task {
  return makeTask({ id, networks: [{ networkId: net.id, name: net.spec.name, aliases: [] }] });
}

const front = makeNetwork({ id: 'net-front', spec: { name: 'front' } });
const secnet = makeNetwork({ id: 'net-sec', subnet: '10.3.0.0/16', spec: { name: 'secnet', encrypted: true } });
const lookup = (list: Network[]) => (id: string) => list.find((n) => n.id === id);

void describe('plan: tasks on networks', () => {
  void it('leaves tasks on no network where they were: nodes need no data plane', () => {
    const r = plan({ nodes: [node('a')], tasks: [], network: lookup([]) }, [makeTask({ id: 't1', networks: [] })]);
    assert.deepEqual(r.assignments, [{ taskId: 't1', nodeId: 'a' }]);
  });

  void it('needs a node with a working data plane', () => {
    const nodes = [node('a'), node('b', plane({ unavailable: 'no vxlan support' })), node('c', plane({ unavailable: 'no vxlan support' }))];
    const r = plan({ nodes, tasks: [], network: lookup([front]) }, [on(front)]);
    assert.deepEqual(r.unschedulable, [
      { taskId: 't1', reason: 'no suitable node (2 nodes cannot run overlay networks: no vxlan support; 1 node has no network data plane)', cause: 'no_suitable_node' },
    ]);
    const ok = plan({ nodes: [...nodes, node('d', plane())], tasks: [], network: lookup([front]) }, [on(front)]);
    assert.deepEqual(ok.assignments, [{ taskId: 't1', nodeId: 'd' }]);
  });

  void it('keeps a task on an encrypted network pending on nodes that cannot encrypt, with the reason', () => {
    const nodes = [node('a', plane()), node('b', plane()), node('c', plane())];
    const r = plan({ nodes, tasks: [], network: lookup([secnet]) }, [on(secnet)]);
    assert.deepEqual(r.unschedulable, [
      { taskId: 't1', reason: 'no suitable node (3 nodes cannot encrypt network secnet (no kernel IPsec or WireGuard))', cause: 'no_suitable_node' },
    ]);
    const withIpsec = plan({ nodes: [...nodes, node('d', plane({ encryption: 'ipsec' }))], tasks: [], network: lookup([secnet]) }, [on(secnet)]);
    assert.deepEqual(withIpsec.assignments, [{ taskId: 't1', nodeId: 'd' }]);
    const pinned = plan({ nodes, tasks: [], network: lookup([secnet]) }, [{ ...on(secnet), nodeId: 'b' }]);
    assert.deepEqual(pinned.unschedulable, [
      { taskId: 't1', reason: 'cannot run on node b: node cannot encrypt network secnet (no kernel IPsec or WireGuard)', cause: 'node_unsuitable' },
    ]);
  });

  void it('sends tasks of a network with no range left only to nodes holding one', () => {
    const small = makeNetwork({
      id: 'net-small',
      subnet: '10.9.0.0/24',
      spec: { name: 'small' },
      slices: Array.from({ length: 15 }, (_, i) => ({ nodeId: `n${String(i).padStart(2, '0')}`, subnet: `10.9.0.${(i + 1) * 16}/28` })),
    });
    const nodes = [node('a', plane()), node('n03', plane())];
    const r = plan({ nodes, tasks: [], network: lookup([small]) }, [on(small, 't1'), on(small, 't2')]);
    assert.deepEqual(r.assignments, [{ taskId: 't1', nodeId: 'n03' }, { taskId: 't2', nodeId: 'n03' }]);
    const none = plan({ nodes: [node('a', plane())], tasks: [], network: lookup([small]) }, [on(small)]);
    assert.deepEqual(none.unschedulable, [
      { taskId: 't1', reason: 'no suitable node (1 node has no address range on network small, which has none left (15 nodes hold one))', cause: 'no_suitable_node' },
    ]);
  });

  void it('says so when a network is gone', () => {
    const r = plan({ nodes: [node('a', plane())], tasks: [], network: lookup([]) }, [on(front)]);
    assert.deepEqual(r.unschedulable, [{ taskId: 't1', reason: 'network front not found', cause: 'invalid_spec' }]);
  });
});
