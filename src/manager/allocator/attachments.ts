import { INGRESS_NETWORK, type Network, type NetworkAttachmentSpec, type TaskNetwork } from '../../api/network.ts';
import type { Service, ServiceSpec } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import type { TableReader } from '../../store/tables.ts';

/**
 * Which networks a service's tasks join: the spec's `taskTemplate.networks` resolved to
 * network objects (target by id, then by exact name), then the built-in `ingress` network when
 * the service publishes a port in ingress mode (the routing mesh reaches its tasks there). Pure.
 */

/** What the allocator reads of the networks table (the store's, or a transaction's). */
export type NetworksReader = Pick<TableReader<Network>, 'get' | 'by' | 'all'>;

/** A network the tasks join, with the aliases they answer to there. */
export interface Attachment {
  readonly network: Network;
  readonly aliases: readonly string[];
}

export type AttachmentsResult = { readonly ok: true; readonly attachments: Attachment[] } | { readonly ok: false; readonly reason: string };

/** The network a spec's `target` names: by id, then by exact name. */
export function resolveNetwork(target: string, networks: NetworksReader): Network | undefined {
  return networks.get(target) ?? networks.by('name', target)[0];
}

/** The built-in routing-mesh network (`ingress: true`), if it exists yet. */
export function ingressNetwork(networks: NetworksReader): Network | undefined {
  return networks.by('name', INGRESS_NETWORK).find((n) => n.ingress) ?? networks.all().find((n) => n.ingress);
}

/** Whether the spec publishes a port through the routing mesh. */
export function hasIngressPort(spec: ServiceSpec): boolean {
  return spec.endpoint.ports.some((p) => p.mode === 'ingress');
}

/**
 * The networks of `targets` in order (a network named twice counts once), then `ingress` last
 * when `ingress` is true and it is not listed already. Refused with "network X not found" when
 * a target (or the ingress network) does not exist.
 */
export function attachments(targets: readonly NetworkAttachmentSpec[], ingress: boolean, networks: NetworksReader): AttachmentsResult {
  const out: Attachment[] = [];
  const seen = new Set<string>();
  for (const t of targets) {
    const network = resolveNetwork(t.target, networks);
    if (network === undefined) return { ok: false, reason: `network ${t.target} not found` };
    if (seen.has(network.id)) continue;
    seen.add(network.id);
    out.push({ network, aliases: t.aliases });
  }
  if (ingress) {
    const network = ingressNetwork(networks);
    if (network === undefined) return { ok: false, reason: `network ${INGRESS_NETWORK} not found` };
    if (!seen.has(network.id)) out.push({ network, aliases: [] });
  }
  return { ok: true, attachments: out };
}

/** A template's `networks`; absent in specs stored before networks existed. */
export function templateNetworks(template: { readonly networks?: readonly NetworkAttachmentSpec[] }): readonly NetworkAttachmentSpec[] {
  return template.networks ?? [];
}

/** The networks a service's current spec puts its tasks on. */
export function serviceAttachments(spec: ServiceSpec, networks: NetworksReader): AttachmentsResult {
  return attachments(templateNetworks(spec.taskTemplate), hasIngressPort(spec), networks);
}

/**
 * The service spec a task was built from: the current one or the previous one; undefined for
 * a task of a spec the service no longer holds (the rollout replaces it).
 */
export function specOfTask(task: Task, service: Service): ServiceSpec | undefined {
  if (task.specVersion === service.specVersion) return service.spec;
  if (service.previousSpec !== undefined && task.specVersion === service.previousSpecVersion) return service.previousSpec;
  return undefined;
}

/** The task's networks as `task.networks` holds them. */
export function toTaskNetworks(list: readonly Attachment[]): TaskNetwork[] {
  return list.map((a) => ({ networkId: a.network.id, name: a.network.spec.name, aliases: [...a.aliases] }));
}
