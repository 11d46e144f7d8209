import type { PortConfig, ServiceSpec } from './service.ts';

/**
 * The mode of a published port that names none (the schema's default): the routing mesh. A
 * constant apart from the schema so the CLI can read it without loading TypeBox.
 */
export const DEFAULT_PUBLISH_MODE: 'ingress' | 'host' = 'ingress';

/**
 * A task's published ports: the service's published ports in `host` mode, which a task of
 * this spec binds on its node (a task's `ports`). The allocator writes them on the task;
 * others only read them (the orchestrator compares them when it adopts an older task).
 * Ports in `ingress` mode are the routing mesh's, not the task's. Returns fresh copies.
 */
export function publishedPorts(spec: ServiceSpec): PortConfig[] {
  return spec.endpoint.ports.filter((p) => p.mode === 'host').map((p) => ({ ...p }));
}

/** A published port of a service that another service's port clashes with. */
export interface PortClash {
  readonly port: PortConfig;
  /** Name of the service that holds it. */
  readonly holder: string;
}

/**
 * The first of `spec`'s published ports that another service already holds: ports in
 * `ingress` mode are the cluster's (one service per port and protocol, on every node), so an
 * ingress port clashes with any other service's port of the same number and protocol, and a
 * host port clashes with another service's ingress port. Host ports of different services may
 * share a number (the scheduler keeps them on different nodes). `others` excludes `spec`'s own
 * service.
 */
export function portClash(spec: ServiceSpec, others: Iterable<{ readonly spec: ServiceSpec }>): PortClash | undefined {
  for (const other of others) {
    if (other.spec.name === spec.name) continue;
    for (const mine of spec.endpoint.ports) {
      for (const theirs of other.spec.endpoint.ports) {
        if (mine.published !== theirs.published || mine.protocol !== theirs.protocol) continue;
        if (mine.mode === 'ingress' || theirs.mode === 'ingress') return { port: mine, holder: other.spec.name };
      }
    }
  }
  return undefined;
}
