import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TaskAddress } from '../../api/network.ts';
import type { Task } from '../../api/task.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Driver, DriverNetwork, Inspection } from '../drivers/driver.ts';
import { TaskHookError, type Prepared, type TaskHook } from '../executor/hooks.ts';
import { drainStages, type DrainOptions } from './drain.ts';
import { isIpamError, type HostIpam, type IpamEntry } from './ipam.ts';
import type { LocalNetwork, NetworkSource } from './local-network.ts';

/**
 * The `network` task hook: attaches a task to its networks before the driver creates it.
 * `prestart`, for a task with `networks`: waits until this node holds a slice of each network
 * and its bridge exists (`NetworkSource`), reserves the task's address in the slice
 * (`HostIpam`), writes the task's `resolv.conf` (`nameserver <primary gateway>`: the agent's
 * DNS server), and returns `networks` (in the task's order; the first is primary) and
 * `resolvConf` for the driver. `poststop` frees the addresses and deletes the file. `ended`
 * and `prestop` take the task out of this node's load balancers and DNS when it dies, turns
 * unhealthy or is about to be stopped (`drain.ts`). A task without networks is left alone.
 */

export interface NetworkHookDeps {
  readonly source: NetworkSource;
  readonly ipam: HostIpam;
  /** The agent's runtime dir (`/run/flotilla/<nodeId>`); a function when known only later. */
  readonly runtimeDir: string | (() => string);
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface NetworkHookOptions extends DrainOptions {
  /** How long a task waits for a network to reach this node. Default 60 s. */
  readonly waitTimeoutMs?: number;
}

const HOOK = 'network';

/** Where a task's `resolv.conf` is: `<runtimeDir>/net/<taskId>/resolv.conf` (beside, not inside, the files hook's tmpfs). */
export function resolvConfPath(runtimeDir: string, taskId: string): string {
  return join(runtimeDir, 'net', taskId, 'resolv.conf');
}

/** The text of a task's `resolv.conf`: the agent's DNS server on the primary network only. */
export function resolvConfText(gateway: string): string {
  return `# written by the flotilla agent: service names are answered here\nnameserver ${gateway}\n`;
}

export function networkHook(deps: NetworkHookDeps, options: NetworkHookOptions = {}): TaskHook {
  const waitTimeoutMs = options.waitTimeoutMs ?? 60_000;
  const runtimeDir = (): string => (typeof deps.runtimeDir === 'string' ? deps.runtimeDir : deps.runtimeDir());
  const logger = deps.logger.child({ component: 'network-hook' });
  const drain = drainStages({ source: deps.source, ipam: deps.ipam, clock: deps.clock, logger }, options);

  /** Waits for the network on this node and reserves the task's address on it. */
  async function attach(taskId: string, networkId: string, name: string, signal: AbortSignal, timedOut: () => boolean): Promise<DriverNetwork> {
    let n: LocalNetwork;
    try {
      n = await deps.source.waitForNetwork(networkId, signal);
    } catch (err) {
      if (timedOut()) throw new TaskHookError(HOOK, `network ${name} has no address range on this node yet (waited ${waitTimeoutMs / 1000} s)`, { cause: err });
      throw err;
    }
    let ip: string;
    try {
      ip = deps.ipam.reserve(n.id, n.slice, taskId, name, n.containerRange);
    } catch (err) {
      if (isIpamError(err)) throw new TaskHookError(HOOK, err.message, { cause: err });
      throw err;
    }
    return {
      networkId: n.id,
      dockerNetwork: n.dockerNetwork,
      bridge: n.bridge,
      address: `${ip}/${n.prefix}`,
      ip,
      gateway: n.gateway,
      mtu: n.mtu,
      ...(n.ingress ? { ingress: true } : {}),
    };
  }

  return {
    name: HOOK,
    async prestart(task: Task, { signal }): Promise<Prepared | undefined> {
      const wanted = task.networks ?? [];
      if (wanted.length === 0) return undefined;
      signal.throwIfAborted();
      // One deadline for all of the task's networks; the agent stopping aborts the wait too.
      const ac = new AbortController();
      let timedOut = false;
      const onAbort = (): void => ac.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      const timer = deps.clock.setTimer(waitTimeoutMs, () => {
        timedOut = true;
        ac.abort(new Error('timed out'));
      });
      const networks: DriverNetwork[] = [];
      try {
        for (const w of wanted) networks.push(await attach(task.id, w.networkId, w.name, ac.signal, () => timedOut));
      } finally {
        timer.cancel();
        signal.removeEventListener('abort', onAbort);
      }
      // The routing mesh's `ingress` answers no names: a task only on it keeps Docker's resolver.
      const primary = networks.find((x) => x.ingress !== true);
      if (!primary) return { networks };
      const path = resolvConfPath(runtimeDir(), task.id);
      await mkdir(dirname(path), { recursive: true, mode: 0o711 });
      await writeFile(path, resolvConfText(primary.gateway), { mode: 0o644 });
      logger.debug({ task: task.id, networks: networks.map((x) => `${x.networkId}=${x.address}`) }, 'task attached');
      return { networks, resolvConf: path };
    },
    prestop: drain.prestop,
    ended: drain.ended,
    async poststop(taskId: string): Promise<void> {
      drain.forget(taskId);
      deps.ipam.release(taskId);
      const path = resolvConfPath(runtimeDir(), taskId);
      await rm(path, { force: true });
      // The task's own directory under `net/`, now empty.
      await rmdir(dirname(path)).catch((err: unknown) => {
        const code = (err as { code?: string }).code;
        if (code !== 'ENOENT' && code !== 'EBUSY' && code !== 'ENOTEMPTY') throw err;
      });
    },
  };
}

/** The addresses a driver reported for its recovered tasks, as IPAM entries. */
export function addressEntries(inspections: Iterable<Inspection>): IpamEntry[] {
  const out: IpamEntry[] = [];
  for (const i of inspections) {
    for (const a of i.networks ?? []) out.push({ taskId: i.taskId, networkId: a.networkId, ip: ipOf(a) });
  }
  return out;
}

/**
 * Rebuilds the IPAM table at agent start from what the drivers recover (their tasks from
 * before the restart, any state), so an adopted task keeps its address and no new task gets
 * it. Call it before the agent starts (before any task is prepared). A driver whose recovery
 * fails is logged and skipped (the worker's own recovery reports it too). Returns the number
 * of addresses restored.
 */
export async function restoreAddresses(ipam: HostIpam, drivers: Iterable<Driver>, logger: Logger): Promise<number> {
  let restored = 0;
  for (const driver of drivers) {
    let found: Inspection[];
    try {
      found = await driver.recover();
    } catch (err) {
      logger.warn({ err, driver: driver.name }, 'cannot recover task addresses from this driver');
      continue;
    }
    const entries = addressEntries(found);
    const skipped = ipam.restore(entries);
    for (const e of skipped) logger.warn({ task: e.taskId, network: e.networkId, ip: e.ip }, 'recovered task address clashes with another task; not restored');
    restored += entries.length - skipped.length;
  }
  return restored;
}

function ipOf(a: TaskAddress): string {
  const slash = a.addr.indexOf('/');
  return slash < 0 ? a.addr : a.addr.slice(0, slash);
}
