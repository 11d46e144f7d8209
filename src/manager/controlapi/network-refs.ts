import { ApiError, isApiError, type ErrorDetail } from '../../api/errors.ts';
import { INGRESS_NETWORK, type Network } from '../../api/network.ts';
import type { Node } from '../../api/node.ts';
import { portClash } from '../../api/published-ports.ts';
import type { PortConfig, Service, ServiceSpec } from '../../api/service.ts';
import { resolveByName, type TableReader } from './lookup.ts';

/**
 * What network and service routes share (pure): which services and plain containers use a network, and the checks
 * of a service spec's networks and published ports against what the store holds. Every check
 * runs inside the transaction that writes, so a network removed concurrently cannot slip between.
 */

/** Looks networks up by id and name (a transaction's or the store's table). */
export interface NetworkLookup extends TableReader<Network> {
  by(index: string, value: string): Network[];
}

/** Whether a spec's network `target` (as stored: a name or an id) names `network`. */
export function targetsNetwork(target: string, network: Network): boolean {
  return target === network.id || target === network.spec.name;
}

/** Names of the services whose spec puts their tasks on `network`, sorted. */
export function servicesOnNetwork(services: readonly Service[], network: Network): string[] {
  return services
    .filter((s) => s.spec.taskTemplate.networks.some((a) => targetsNetwork(a.target, network)))
    .map((s) => s.spec.name)
    .sort();
}

/**
 * The plain containers (`docker run --network`) on `network`, as `NAME on HOST`, sorted: what
 * the nodes that are not `down` reported (`node.status.containers`). Swarm refuses to remove a
 * network while a container's attachment task runs; `network rm`, `stack rm` and a stack's
 * prune do likewise.
 */
export function containersOnNetwork(nodes: readonly Node[], network: Network): string[] {
  return nodes
    .filter((node) => node.status.state !== 'down')
    .flatMap((node) => (node.status.containers ?? []).filter((c) => c.networkId === network.id).map((c) => `${c.name} on ${node.description.hostname}`))
    .sort();
}

/** `containersOnNetwork`, for a message: at most five named, then how many more. */
export function describeContainers(attached: readonly string[]): string {
  return attached.length > 5 ? `${attached.slice(0, 5).join(', ')} and ${attached.length - 5} more` : attached.join(', ');
}

/**
 * Checks that every `taskTemplate.networks[i].target` names an existing network (by id, name
 * or unique id prefix), none twice, and not the `ingress` network (it carries published ports
 * only). `invalid_argument` naming the field path otherwise. Returns the spec with targets
 * kept as given (a name or an id; the allocator resolves them), except that an id prefix is
 * replaced by the network's name, so what is stored cannot turn ambiguous later.
 */
export function checkServiceNetworks(spec: ServiceSpec, networks: NetworkLookup): ServiceSpec {
  const details: ErrorDetail[] = [];
  const seen = new Map<string, number>();
  const attachments = spec.taskTemplate.networks.map((a, i) => {
    const path = `taskTemplate.networks[${i}].target`;
    let network: Network;
    try {
      network = resolveByName('network', networks, a.target);
    } catch (err) {
      if (!isApiError(err)) throw err;
      details.push({ path, message: a.target === INGRESS_NETWORK ? ingressOnly() : err.message });
      return a;
    }
    if (network.ingress || network.spec.name === INGRESS_NETWORK) {
      details.push({ path, message: ingressOnly() });
      return a;
    }
    const first = seen.get(network.id);
    if (first !== undefined) details.push({ path, message: `network ${network.spec.name} is already taskTemplate.networks[${first}]: list a network once` });
    else seen.set(network.id, i);
    return targetsNetwork(a.target, network) ? a : { ...a, target: network.spec.name };
  });
  const first = details[0];
  if (first) throw new ApiError('invalid_argument', `service ${spec.name}: ${first.path}: ${first.message}`, { details });
  return { ...spec, taskTemplate: { ...spec.taskTemplate, networks: attachments } };
}

function ingressOnly(): string {
  return `the ${INGRESS_NETWORK} network carries published ports only: publish a port in ingress mode instead of joining it`;
}

/**
 * Refuses (409 `already_exists`) a published port another service holds (`portClash`: ingress
 * ports are the cluster's). `others` are the other services; `before` is the service's spec
 * before an update, whose ports are not checked again, so a clash from before this check
 * existed does not block an unrelated update.
 */
export function checkPortClash(spec: ServiceSpec, others: readonly Service[], before?: ServiceSpec): void {
  const held = (p: PortConfig): boolean =>
    before?.endpoint.ports.some((o) => o.published === p.published && o.protocol === p.protocol && o.mode === p.mode) ?? false;
  const fresh = spec.endpoint.ports.filter((p) => !held(p));
  if (fresh.length === 0) return;
  const clash = portClash({ ...spec, endpoint: { ...spec.endpoint, ports: fresh } }, others);
  if (!clash) return;
  const { port, holder } = clash;
  const index = spec.endpoint.ports.indexOf(port);
  throw new ApiError('already_exists', `port ${port.published}/${port.protocol} is already published by service ${holder}`, {
    details: [{ path: `endpoint.ports[${index}]`, message: `published by service ${holder}${port.mode === 'ingress' ? '' : ' in ingress mode'}` }],
  });
}
