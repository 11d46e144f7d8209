import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MapService, NetworkMap } from '../../../api/network.ts';
import { dnsTable, lookup, lookupPointer, normalizeName, reverseAddress, TASK_TTL, VIP_TTL } from './names.ts';

const FRONT = 'net-front';
const BACK = 'net-back';
const INGRESS = 'net-ingress';

function network(id: string, subnet: string, ingress = false): NetworkMap['networks'][number] {
  return { id, name: id, subnet, vni: 0x100000, internal: false, encrypted: false, ingress, slices: [] };
}

function service(over: Partial<MapService> & Pick<MapService, 'id' | 'name'>): MapService {
  return { mode: 'vip', networks: [], virtualIps: [], ingressPorts: [], endpoints: [], ...over };
}

/** web (vip) on front+back with alias `www` on front; db (dnsrr) on back with alias `database`. */
function sampleMap(): NetworkMap {
  return {
    revision: 7,
    networks: [network(FRONT, '10.1.0.0/16'), network(BACK, '10.2.0.0/16'), network(INGRESS, '10.255.0.0/16', true)],
    services: [
      service({
        id: 's-web',
        name: 'Shop_Web',
        networks: [
          { networkId: FRONT, name: 'front', aliases: ['www'] },
          { networkId: BACK, name: 'back', aliases: [] },
          { networkId: INGRESS, name: 'ingress', aliases: [] },
        ],
        virtualIps: [
          { networkId: FRONT, addr: '10.1.0.2/16' },
          { networkId: BACK, addr: '10.2.0.2/16' },
          { networkId: INGRESS, addr: '10.255.0.2/16' },
        ],
        endpoints: [
          { taskId: 'T1', nodeId: 'n1', slot: 1, addresses: [{ networkId: FRONT, addr: '10.1.1.2/16' }, { networkId: BACK, addr: '10.2.1.2/16' }] },
          { taskId: 't2', nodeId: 'n2', slot: 2, addresses: [{ networkId: FRONT, addr: '10.1.2.2/16' }, { networkId: BACK, addr: '10.2.2.2/16' }] },
        ],
      }),
      service({
        id: 's-db',
        name: 'shop_db',
        mode: 'dnsrr',
        networks: [{ networkId: BACK, name: 'back', aliases: ['database', 'db'] }],
        endpoints: [
          { taskId: 'd1', nodeId: 'n1', slot: 1, addresses: [{ networkId: BACK, addr: '10.2.1.3/16' }] },
          { taskId: 'd2', nodeId: 'n2', addresses: [{ networkId: BACK, addr: '10.2.2.3/16' }] },
        ],
      }),
    ],
  };
}

void describe('dnsTable and lookup', () => {
  const table = dnsTable(sampleMap());

  void it('answers a vip service and its aliases with its VIP on that network, TTL 5 s', () => {
    assert.deepEqual(lookup(table, 'shop_web', [FRONT]), { addresses: ['10.1.0.2'], ttl: VIP_TTL });
    assert.deepEqual(lookup(table, 'www', [FRONT]), { addresses: ['10.1.0.2'], ttl: VIP_TTL });
    assert.deepEqual(lookup(table, 'shop_web', [BACK]), { addresses: ['10.2.0.2'], ttl: VIP_TTL });
    // The alias is only on the network that gives it.
    assert.equal(lookup(table, 'www', [BACK]), undefined);
  });

  void it('answers tasks.<name> and tasks.<alias> with the endpoints, TTL 1 s', () => {
    assert.deepEqual(lookup(table, 'tasks.shop_web', [FRONT]), { addresses: ['10.1.1.2', '10.1.2.2'], ttl: TASK_TTL });
    assert.deepEqual(lookup(table, 'tasks.www', [FRONT]), { addresses: ['10.1.1.2', '10.1.2.2'], ttl: TASK_TTL });
    assert.deepEqual(lookup(table, 'tasks.database', [BACK]), { addresses: ['10.2.1.3', '10.2.2.3'], ttl: TASK_TTL });
  });

  void it('answers a dnsrr service and its aliases with its endpoints', () => {
    for (const name of ['shop_db', 'database', 'db']) {
      assert.deepEqual(lookup(table, name, [BACK]), { addresses: ['10.2.1.3', '10.2.2.3'], ttl: TASK_TTL }, name);
    }
  });

  void it('answers a task by <service>.<slot>.<taskId>, <service>.<taskId>, and without a slot', () => {
    assert.deepEqual(lookup(table, 'shop_web.1.t1', [FRONT]), { addresses: ['10.1.1.2'], ttl: TASK_TTL });
    assert.deepEqual(lookup(table, 'shop_web.t1', [BACK]), { addresses: ['10.2.1.2'], ttl: TASK_TTL });
    assert.deepEqual(lookup(table, 'shop_db.d2', [BACK]), { addresses: ['10.2.2.3'], ttl: TASK_TTL });
    assert.equal(lookup(table, 'shop_web.2.t1', [FRONT]), undefined);
  });

  void it('ignores case and a trailing dot', () => {
    assert.deepEqual(lookup(table, 'SHOP_WEB.', [FRONT])?.addresses, ['10.1.0.2']);
    assert.deepEqual(lookup(table, 'Tasks.WWW.', [FRONT])?.addresses, ['10.1.1.2', '10.1.2.2']);
    assert.equal(normalizeName('A.b.C.'), 'a.b.c');
  });

  void it('answers from the first of the asker’s networks that knows the name, and never from others', () => {
    assert.deepEqual(lookup(table, 'shop_web', [BACK, FRONT])?.addresses, ['10.2.0.2']);
    assert.deepEqual(lookup(table, 'shop_web', [FRONT, BACK])?.addresses, ['10.1.0.2']);
    assert.deepEqual(lookup(table, 'db', [FRONT, BACK])?.addresses, ['10.2.1.3', '10.2.2.3']);
    assert.equal(lookup(table, 'db', [FRONT]), undefined);
    assert.equal(lookup(table, 'db', []), undefined);
    assert.equal(lookup(table, 'db', ['unknown-network']), undefined);
  });

  void it('answers nothing on the ingress network', () => {
    assert.equal(table.networks.has(INGRESS), false);
    assert.equal(lookup(table, 'shop_web', [INGRESS]), undefined);
  });

  void it('keeps a service without endpoints as a name with no addresses (NODATA, not forwarded)', () => {
    const map = sampleMap();
    map.services = map.services.map((s) => ({ ...s, endpoints: [] }));
    const empty = dnsTable(map);
    assert.deepEqual(lookup(empty, 'shop_web', [FRONT]), { addresses: ['10.1.0.2'], ttl: VIP_TTL });
    assert.deepEqual(lookup(empty, 'tasks.shop_web', [FRONT]), { addresses: [], ttl: TASK_TTL });
    assert.deepEqual(lookup(empty, 'db', [BACK]), { addresses: [], ttl: TASK_TTL });
    assert.equal(lookup(empty, 'shop_web.1.t1', [FRONT]), undefined);
  });

  void it('merges a name two services give on one network', () => {
    const map = sampleMap();
    map.services.push(
      service({
        id: 's-db2',
        name: 'other_db',
        networks: [{ networkId: BACK, name: 'back', aliases: ['db'] }],
        virtualIps: [{ networkId: BACK, addr: '10.2.0.9/16' }],
      }),
    );
    assert.deepEqual(lookup(dnsTable(map), 'db', [BACK]), { addresses: ['10.2.1.3', '10.2.2.3', '10.2.0.9'], ttl: TASK_TTL });
  });

  void it('falls back to the tasks of a vip service whose VIP is not allocated yet', () => {
    const map = sampleMap();
    map.services = map.services.map((s) => ({ ...s, virtualIps: [] }));
    assert.deepEqual(lookup(dnsTable(map), 'shop_web', [FRONT]), { addresses: ['10.1.1.2', '10.1.2.2'], ttl: TASK_TTL });
  });

  void it('names VIPs and task addresses in reverse', () => {
    assert.deepEqual(lookupPointer(table, '10.1.0.2', [FRONT]), { name: 'shop_web', ttl: VIP_TTL });
    assert.deepEqual(lookupPointer(table, '10.2.1.2', [BACK]), { name: 'shop_web.1.t1', ttl: TASK_TTL });
    assert.deepEqual(lookupPointer(table, '10.2.2.3', [FRONT, BACK]), { name: 'shop_db.d2', ttl: TASK_TTL });
    assert.equal(lookupPointer(table, '10.2.2.3', [FRONT]), undefined);
    assert.equal(lookupPointer(table, '10.255.0.2', [INGRESS]), undefined);
  });

  void it('reads reverse names', () => {
    assert.equal(reverseAddress('2.0.1.10.in-addr.arpa'), '10.1.0.2');
    assert.equal(reverseAddress('2.0.1.10.IN-ADDR.ARPA.'), '10.1.0.2');
    assert.equal(reverseAddress('0.1.10.in-addr.arpa'), undefined);
    assert.equal(reverseAddress('256.0.1.10.in-addr.arpa'), undefined);
    assert.equal(reverseAddress('01.0.1.10.in-addr.arpa'), undefined);
    assert.equal(reverseAddress('example.com'), undefined);
  });

  void it('is empty for an empty map', () => {
    assert.equal(dnsTable({ revision: 0, networks: [], services: [] }).networks.size, 0);
  });
});

void describe('plain containers on attachable networks', () => {
  it('answers a container by its name and aliases on its network only; a service\'s name wins; PTR names the container', () => {
    const map = sampleMap();
    const front = { ...map.networks[0]!, attachable: true, containers: [
      { nodeId: 'n1', containerId: 'c1', name: 'Debug', aliases: ['tools'], addr: '10.1.1.200/16' },
      { nodeId: 'n2', containerId: 'c2', name: 'www', aliases: ['tools'], addr: '10.1.2.200/16' },
    ] };
    const table = dnsTable({ ...map, networks: [front, ...map.networks.slice(1)] });
    assert.deepEqual(lookup(table, 'debug', [FRONT]), { addresses: ['10.1.1.200'], ttl: TASK_TTL });
    assert.deepEqual(lookup(table, 'tools', [FRONT])?.addresses, ['10.1.1.200', '10.1.2.200']);
    assert.equal(lookup(table, 'debug', [BACK]), undefined);
    assert.deepEqual(lookup(table, 'www', [FRONT]), { addresses: ['10.1.0.2'], ttl: VIP_TTL });
    assert.deepEqual(lookupPointer(table, '10.1.1.200', [FRONT]), { name: 'debug', ttl: TASK_TTL });
  });
});
