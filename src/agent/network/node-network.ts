import { access, constants } from 'node:fs/promises';
import type { AttachedContainer, NetworkMap } from '../../api/network.ts';
import type { NodeNetworkDescription } from '../../api/node.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import { DockerDriver } from '../drivers/docker/docker-driver.ts';
import type { Driver } from '../drivers/driver.ts';
import type { TaskHook } from '../executor/hooks.ts';
import { AttachedContainers, dockerContainerLister, dockerNetworkEvents } from './attached-containers.ts';
import { kernelBridges } from './bridges.ts';
import { DataPlane } from './data-plane.ts';
import { agentDns, DnsServer } from './dns/server.ts';
import { dockerBridges } from './docker-networks.ts';
import { networkHook, restoreAddresses } from './hook.ts';
import { HostIpam } from './ipam.ts';
import { localNetwork, type LocalNetwork, type Underlay } from './local-network.ts';
import { hostRunner, runCommand } from './runner.ts';
import { describeNetwork } from './underlay.ts';

/**
 * The node's networking, assembled: host-local IPAM, the DNS server, the kernel data plane
 * (bridges made by Docker on Docker nodes, by the agent elsewhere) and the `network` task hook.
 * The agent's composition root (`boot.ts`) builds it when networking is on and gives the agent
 * its `hook` and `setMap`. Needs root and iproute2 + iptables; `check` says why not.
 */
export interface NodeNetworkDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly nodeId: string;
  readonly underlay: Underlay | undefined;
  readonly drivers: readonly Driver[];
  /** Where per-task files go (`<runtimeDir>/net/<taskId>/resolv.conf`). */
  readonly runtimeDir: () => string;
}

export class NodeNetwork {
  readonly description: NodeNetworkDescription;
  readonly hook: TaskHook;
  readonly #plane: DataPlane;
  readonly #dns: DnsServer;
  readonly #ipam: HostIpam;
  /** Plain containers on attachable networks (Docker nodes only). */
  readonly #containers: AttachedContainers | undefined;
  readonly #deps: NodeNetworkDeps;

  /** Why this host cannot run the data plane (not root, a tool missing), or undefined when it can. */
  static async check(): Promise<string | undefined> {
    if (process.getuid?.() !== 0) return 'the agent is not root (overlay networks need to program the kernel)';
    for (const tool of ['ip', 'bridge', 'iptables-restore', 'iptables-save']) {
      const r = await runCommand([tool, '-V']).catch(() => ({ code: 127 }));
      if (r.code === 127) return `${tool} is not installed (Debian: iproute2, iptables)`;
    }
    try {
      await access('/proc/sys/net/ipv4/ip_forward', constants.W_OK);
    } catch {
      return '/proc/sys/net is read-only here';
    }
    return undefined;
  }

  constructor(deps: NodeNetworkDeps) {
    this.#deps = deps;
    const logger = deps.logger.child({ component: 'network' });
    this.#ipam = new HostIpam();
    const ipam = this.#ipam;
    const docker = deps.drivers.find((d): d is DockerDriver => d instanceof DockerDriver);
    const engine = docker?.engineClient();
    const containers = engine
      ? new AttachedContainers({ clock: deps.clock, logger, list: dockerContainerLister(engine), watch: dockerNetworkEvents(engine) })
      : undefined;
    this.#containers = containers;
    // A task is known by its address; a plain container's queries come through Docker's resolver
    // from its own address (DNATed to the gateway): it is answered from its networks.
    const scope = (ip: string): readonly string[] => {
      const tasks = ipam.networksOf(ip);
      return tasks.length > 0 ? tasks : (containers?.networksOf(ip) ?? tasks);
    };
    this.#dns = new DnsServer({ clock: deps.clock, logger, scope });
    const runner = hostRunner();
    const bridges = engine ? dockerBridges(engine, deps.nodeId, runner) : kernelBridges(runner);
    this.#plane = new DataPlane({ clock: deps.clock, logger, nodeId: deps.nodeId, underlay: deps.underlay, bridges, runner, dns: agentDns(this.#dns) });
    this.hook = networkHook({ source: this.#plane, ipam, runtimeDir: deps.runtimeDir, clock: deps.clock, logger });
    this.description = describeNetwork(deps.underlay);
  }

  /** Takes a map the manager pushed. */
  setMap(map: NetworkMap): void {
    this.#plane.setMap(map);
    if (this.#containers) {
      const local = map.networks.map((n) => localNetwork(n, this.#deps.nodeId, this.#deps.underlay?.mtu)).filter((n): n is LocalNetwork => n !== undefined);
      this.#containers.setNetworks(local);
    }
  }

  /** `report` hears the whole set of plain containers on attachable networks, whenever it changes. */
  reportContainers(report: (containers: AttachedContainer[]) => void): void {
    this.#containers?.onReport(report);
  }

  /**
   * A local task is dying or about to be stopped: out of every load balancer and DNS answer at
   * once (the hook's `ended` and `prestop` call it; see `DataPlane.endpointGone`).
   */
  endpointGone(taskId: string): Promise<boolean> {
    return this.#plane.endpointGone(taskId);
  }

  /** Restores the addresses of the tasks the drivers still run, then starts DNS and the data plane. */
  async start(): Promise<void> {
    await restoreAddresses(this.#ipam, this.#deps.drivers, this.#deps.logger);
    await this.#dns.start();
    this.#plane.start();
    this.#containers?.start();
  }

  /** Stops the loops; the kernel state stays (running tasks keep their flows). */
  async stop(): Promise<void> {
    await this.#containers?.stop();
    await this.#plane.stop();
    await this.#dns.stop();
  }
}
