import type { EndpointStatus, VirtualIp } from '../../api/network.ts';
import type { Service } from '../../api/service.ts';
import { hasIngressPort, serviceAttachments, templateNetworks, type NetworksReader } from './attachments.ts';
import { addressOf, nextVip } from './ipam.ts';

/**
 * Service endpoints: the virtual IPs a service holds (`service.endpointStatus`). Pure. The
 * allocator resolves them once per `specVersion`: in endpoint mode `vip` one VIP on each network
 * the tasks join (`ingress` included when a port is published in ingress mode); `dnsrr` none.
 * A VIP the service already holds on a network it stays on is kept, so its address does not
 * change across updates.
 */

/**
 * Whether the service's endpoint is to be (re)allocated: its `endpointStatus` is for another
 * `specVersion` (or absent) and the service is on some network or held VIPs before. A service
 * that never joined a network needs none, and its tasks do not wait for one.
 */
export function needsEndpoint(service: Service): boolean {
  if (service.endpointStatus?.specVersion === service.specVersion) return false;
  return (
    service.endpointStatus !== undefined ||
    templateNetworks(service.spec.taskTemplate).length > 0 ||
    hasIngressPort(service.spec)
  );
}

/**
 * The VIPs every service holds, by network: what a new VIP must not collide with. Built from
 * the store's services; `record` adds the VIPs allocated since, so services allocated in one
 * batch do not pick the same address.
 */
export class VipBook {
  /** network id → address → service id. */
  readonly #held = new Map<string, Map<number, string>>();

  static of(services: Iterable<Pick<Service, 'id' | 'endpointStatus'>>): VipBook {
    const book = new VipBook();
    for (const s of services) book.record(s.id, s.endpointStatus?.virtualIps ?? []);
    return book;
  }

  record(serviceId: string, vips: readonly VirtualIp[]): void {
    for (const v of vips) {
      const ip = addressOf(v.addr);
      if (ip === undefined) continue;
      let m = this.#held.get(v.networkId);
      if (!m) {
        m = new Map();
        this.#held.set(v.networkId, m);
      }
      if (!m.has(ip)) m.set(ip, serviceId);
    }
  }

  /** Whether `ip` on the network is held by a service other than `serviceId`. */
  takenByOther(networkId: string, ip: number, serviceId: string): boolean {
    const holder = this.#held.get(networkId)?.get(ip);
    return holder !== undefined && holder !== serviceId;
  }
}

export type EndpointResult = { readonly ok: true; readonly endpoint: EndpointStatus } | { readonly ok: false; readonly reason: string };

/**
 * The service's endpoint for its current `specVersion`. Refused when a network is unknown
 * ("network X not found") or a VIP block is full ("network X has no free virtual IP").
 */
export function planEndpoint(service: Service, networks: NetworksReader, book: VipBook): EndpointResult {
  const resolved = serviceAttachments(service.spec, networks);
  if (!resolved.ok) return resolved;
  if (service.spec.endpoint.mode === 'dnsrr') return { ok: true, endpoint: { specVersion: service.specVersion, virtualIps: [] } };
  const virtualIps: VirtualIp[] = [];
  for (const { network } of resolved.attachments) {
    const kept = service.endpointStatus?.virtualIps.find((v) => v.networkId === network.id);
    if (kept !== undefined) {
      virtualIps.push({ ...kept });
      continue;
    }
    const vip = nextVip(network, (ip) => book.takenByOther(network.id, ip, service.id));
    if (!vip.ok) return vip;
    virtualIps.push({ networkId: network.id, addr: vip.value });
  }
  return { ok: true, endpoint: { specVersion: service.specVersion, virtualIps } };
}
