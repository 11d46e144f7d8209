import type { MapEndpoint, MapNetwork, MapService, NetworkMap } from '../api/network.ts';

/**
 * Network maps for the data plane's tests: two nodes (`n1` 10.198.0.11, `n2` 10.198.0.12),
 * network `a` (10.10.0.0/16, VNI 0x100001), internal network `b` (10.20.0.0/16) and `ingress`
 * (10.255.0.0/16), each node holding slice 1 or 2 of each.
 */
export const UNDERLAY = { n1: '10.198.0.11', n2: '10.198.0.12' } as const;

export function mapNetwork(
  id: string,
  subnet: string,
  vni: number,
  opts: { internal?: boolean; ingress?: boolean; encrypted?: boolean; nodes?: readonly string[] } = {},
): MapNetwork {
  const [a, b] = subnet.split('.');
  const nodes = opts.nodes ?? ['n1', 'n2'];
  return {
    id,
    name: id === 'ingressid0000' ? 'ingress' : `net-${id.slice(0, 3)}`,
    subnet,
    vni,
    internal: opts.internal ?? false,
    encrypted: opts.encrypted ?? false,
    ingress: opts.ingress ?? false,
    slices: nodes.map((nodeId, i) => {
      const underlay = (UNDERLAY as Record<string, string>)[nodeId];
      return { nodeId, subnet: `${a}.${b}.${i + 1}.0/24`, ...(underlay !== undefined ? { underlay } : {}) };
    }),
  };
}

export const NET_A = mapNetwork('aaaaaaaaaaaaaaaa', '10.10.0.0/16', 0x100001);
export const NET_B = mapNetwork('bbbbbbbbbbbbbbbb', '10.20.0.0/16', 0x100002, { internal: true });
export const NET_INGRESS = mapNetwork('ingressid0000', '10.255.0.0/16', 0x100000, { ingress: true });

/** An endpoint with addresses `[networkId, addr]`. */
export function endpoint(taskId: string, nodeId: string, ...addresses: Array<[string, string]>): MapEndpoint {
  return { taskId, nodeId, addresses: addresses.map(([networkId, addr]) => ({ networkId, addr })) };
}

export function service(id: string, name: string, fields: Partial<MapService> = {}): MapService {
  return { id, name, mode: 'vip', networks: [], virtualIps: [], ingressPorts: [], endpoints: [], ...fields };
}

/**
 * `web` on `a` (VIP 10.10.0.2) with three endpoints (two on n1, one on n2), publishing 8080→80
 * on the mesh; `db` on `b` (VIP 10.20.0.2) without endpoints.
 */
export function sampleMap(revision = 1): NetworkMap {
  return {
    revision,
    networks: [NET_A, NET_B, NET_INGRESS],
    services: [
      service('svcweb', 'web', {
        networks: [{ networkId: NET_A.id, name: NET_A.name, aliases: [] }],
        virtualIps: [
          { networkId: NET_A.id, addr: '10.10.0.2/16' },
          { networkId: NET_INGRESS.id, addr: '10.255.0.2/16' },
        ],
        ingressPorts: [{ published: 8080, target: 80, protocol: 'tcp' }],
        endpoints: [
          endpoint('t1', 'n1', [NET_A.id, '10.10.1.2/16'], [NET_INGRESS.id, '10.255.1.2/16']),
          endpoint('t2', 'n1', [NET_A.id, '10.10.1.3/16'], [NET_INGRESS.id, '10.255.1.3/16']),
          endpoint('t3', 'n2', [NET_A.id, '10.10.2.2/16'], [NET_INGRESS.id, '10.255.2.2/16']),
        ],
      }),
      service('svcdb', 'db', {
        networks: [{ networkId: NET_B.id, name: NET_B.name, aliases: [] }],
        virtualIps: [{ networkId: NET_B.id, addr: '10.20.0.2/16' }],
      }),
    ],
  };
}
