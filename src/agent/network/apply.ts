import type { Logger } from '../../lib/logger.ts';
import { flowKey, restoreText, type HostPlan } from './plan.ts';
import type { CommandResult, CommandRunner } from './runner.ts';
import { VIP_DEVICE, VXLAN_PREFIX } from './names.ts';

/**
 * Makes the kernel of this network namespace hold a `HostPlan`, in a handful of process spawns
 * whatever the plan's size (each spawn costs 15–40 ms on these machines): `ip -j` listings of
 * links, routes and neighbours and `bridge -j fdb` (in parallel with `iptables-save`), one
 * `ip -batch` of deletions when something is stale, one `ip -batch` of the desired state in
 * "replace" forms (in parallel with one `iptables-restore --noflush`), one `bridge -batch`
 * (FDB, hairpin) with the `/proc/sys` writes, and `conntrack -D` per UDP flow shape whose
 * endpoint left. Stale state is found in the kernel's listings, not only in the previous plan,
 * so leftovers of an earlier run go too: `flx-*` devices the plan lacks; routes on `flx-*` and
 * `flt-vip`, permanent neighbours and FDB entries on `flx-*` that the plan lacks.
 * Applying one plan twice changes nothing.
 */

/** A link as `ip -j -d link show` prints it (the fields used here). */
interface IpLink {
  readonly ifname: string;
  readonly master?: string;
  readonly linkinfo?: {
    readonly info_kind?: string;
    readonly info_data?: { readonly id?: number; readonly local?: string; readonly port?: number; readonly link?: string };
    readonly info_slave_data?: { readonly hairpin?: boolean };
  };
}
interface IpRoute {
  readonly dst: string;
  readonly dev?: string;
  readonly protocol?: string;
}
interface IpNeigh {
  readonly dst: string;
  readonly dev?: string;
  readonly state?: readonly string[];
}
interface FdbEntry {
  readonly mac: string;
  readonly ifname?: string;
  readonly dst?: string;
}

/** What went wrong in one apply (each item names the step and the kernel's words). */
export interface ApplyReport {
  readonly errors: readonly string[];
}

/**
 * Failures of an `ip`/`bridge -force -batch` run, by line: the tools print
 * `Command failed -:<line>` after the kernel's message. Lines that delete something are not
 * failures (the thing being gone already is the goal).
 */
function batchFailures(tool: string, lines: readonly string[], stderr: string): string[] {
  const errors: string[] = [];
  const messages = stderr.split('\n');
  messages.forEach((m, i) => {
    const hit = /Command failed -:(\d+)/.exec(m);
    if (!hit) return;
    const line = lines[Number(hit[1]) - 1] ?? '?';
    if (/ del /.test(` ${line} `)) return;
    errors.push(`${tool} ${line}: ${(messages[i - 1] ?? '').trim()}`);
  });
  return errors;
}

/** The part of a plan that `ip`, `bridge` and `/proc/sys` hold (all but the iptables chains). */
function devicesKey(plan: HostPlan): string {
  return JSON.stringify([plan.vxlans, plan.remotes, plan.vipRoutes, plan.sysctls, plan.hairpinBridges]);
}

/**
 * `full`: list and program everything. `rules`: when the devices part of the plan equals the
 * last one applied, only the iptables chains, hairpin on new ports and conntrack (two rounds of
 * spawns instead of five: what a membership change needs); otherwise the same as `full`.
 */
export type ApplyMode = 'full' | 'rules';

/** `bridge` lines turning hairpin on for the ports of the plan's bridges that lack it. */
function hairpinLines(plan: HostPlan, links: readonly IpLink[]): string[] {
  const bridges = new Set(plan.hairpinBridges);
  return links.filter((l) => l.master !== undefined && bridges.has(l.master) && l.linkinfo?.info_slave_data?.hairpin !== true).map((l) => `link set dev ${l.ifname} hairpin on`);
}

export class Applier {
  readonly #runner: CommandRunner;
  readonly #logger: Logger;
  #previous: HostPlan | undefined;
  #conntrackMissing = false;

  constructor(deps: { readonly runner: CommandRunner; readonly logger: Logger }) {
    this.#runner = deps.runner;
    this.#logger = deps.logger;
  }

  /** The plan applied last (also when parts of it failed). */
  get previous(): HostPlan | undefined {
    return this.#previous;
  }

  async apply(plan: HostPlan, mode: ApplyMode = 'full'): Promise<ApplyReport> {
    const prev = this.#previous;
    if (mode === 'rules' && prev !== undefined && devicesKey(prev) === devicesKey(plan)) return this.#applyRules(plan, prev);
    const errors: string[] = [];
    const [links, routes, neighs, fdb, saved] = await Promise.all([
      this.#list<IpLink>(['ip', '-j', '-d', 'link', 'show'], errors),
      this.#list<IpRoute>(['ip', '-j', 'route', 'show'], errors),
      this.#list<IpNeigh>(['ip', '-j', 'neigh', 'show'], errors),
      this.#list<FdbEntry>(['bridge', '-j', 'fdb', 'show'], errors),
      this.#runner.run(['iptables-save']),
    ]);
    const ours = (dev: string | undefined): dev is string => dev !== undefined && dev.startsWith(VXLAN_PREFIX);

    // --- ip: stale first (its own batch: `ip` stops a batch at some failures even with -force) ---
    const planned = new Map(plan.vxlans.map((v) => [v.name, v]));
    const del: string[] = [];
    const dropped = new Set<string>();
    for (const l of links) {
      if (ours(l.ifname) && !planned.has(l.ifname)) {
        del.push(`link del dev ${l.ifname}`);
        dropped.add(l.ifname);
      }
    }
    const wantRoutes = new Set([...plan.remotes.map((r) => `${r.subnet}|${r.vxlan}`), ...plan.vipRoutes.map((b) => `${b}|${VIP_DEVICE}`)]);
    for (const r of routes) {
      if (!(ours(r.dev) || r.dev === VIP_DEVICE) || dropped.has(r.dev) || r.protocol === 'kernel') continue;
      if (!wantRoutes.has(`${r.dst}|${r.dev}`)) del.push(`route del ${r.dst} dev ${r.dev}`);
    }
    const wantNeighs = new Set(plan.remotes.map((r) => `${r.vtep}|${r.vxlan}`));
    for (const n of neighs) {
      if (!ours(n.dev) || dropped.has(n.dev) || !(n.state ?? []).includes('PERMANENT')) continue;
      if (!wantNeighs.has(`${n.dst}|${n.dev}`)) del.push(`neigh del ${n.dst} dev ${n.dev}`);
    }
    await this.#batch('ip', del, errors);

    // --- ip: devices, addresses, neighbours, routes ------------------------------------------
    const ip: string[] = [];
    for (const v of plan.vxlans) {
      const have = links.find((l) => l.ifname === v.name);
      const data = have?.linkinfo?.info_data;
      const same = have?.linkinfo?.info_kind === 'vxlan' && data?.id === v.vni && data.local === v.local && data.port === v.port && (data.link === undefined || data.link === v.dev);
      if (have !== undefined && !same) ip.push(`link del dev ${v.name}`);
      if (!same) ip.push(`link add ${v.name} type vxlan id ${v.vni} local ${v.local} dstport ${v.port} nolearning dev ${v.dev}`);
      ip.push(`link set dev ${v.name} address ${v.mac} mtu ${v.mtu} up`, `address replace ${v.address} dev ${v.name}`);
    }
    if (plan.vipRoutes.length > 0) {
      if (!links.some((l) => l.ifname === VIP_DEVICE)) ip.push(`link add ${VIP_DEVICE} type bridge`);
      ip.push(`link set dev ${VIP_DEVICE} up`);
      for (const b of plan.vipRoutes) ip.push(`route replace ${b} dev ${VIP_DEVICE}`);
    }
    for (const r of plan.remotes) {
      ip.push(`neigh replace ${r.vtep} lladdr ${r.mac} dev ${r.vxlan} nud permanent`, `route replace ${r.subnet} via ${r.vtep} dev ${r.vxlan} onlink`);
    }
    await Promise.all([this.#batch('ip', ip, errors), this.#restore(plan, saved, errors)]);

    // --- bridge: FDB (where each remote VTEP is), hairpin on every task port; sysctls ---------
    const br: string[] = [];
    const wantFdb = new Set(plan.remotes.map((r) => `${r.mac}|${r.vxlan}|${r.underlay}`));
    for (const f of fdb) {
      if (!ours(f.ifname) || dropped.has(f.ifname) || f.dst === undefined) continue;
      if (!wantFdb.has(`${f.mac}|${f.ifname}|${f.dst}`)) br.push(`fdb del ${f.mac} dev ${f.ifname} dst ${f.dst} self`);
    }
    for (const r of plan.remotes) br.push(`fdb replace ${r.mac} dev ${r.vxlan} dst ${r.underlay} self permanent`);
    br.push(...hairpinLines(plan, links));
    const [, failed] = await Promise.all([this.#batch('bridge', br, errors), this.#runner.writeSysctls(plan.sysctls)]);
    for (const key of failed) errors.push(`sysctl ${key}: cannot write /proc/sys/${key}`);

    // --- conntrack: UDP flows to endpoints that left ---------------------------------------------
    await this.#conntrack(plan, prev, errors);
    this.#previous = plan;
    return { errors };
  }

  /** Only the iptables chains, hairpin on ports that lack it, and conntrack. */
  async #applyRules(plan: HostPlan, prev: HostPlan): Promise<ApplyReport> {
    const errors: string[] = [];
    const [links, saved] = await Promise.all([this.#list<IpLink>(['ip', '-j', '-d', 'link', 'show'], errors), this.#runner.run(['iptables-save'])]);
    await Promise.all([this.#batch('bridge', hairpinLines(plan, links), errors), this.#restore(plan, saved, errors, prev)]);
    await this.#conntrack(plan, prev, errors);
    this.#previous = plan;
    return { errors };
  }

  /** One `iptables-restore --noflush`; with `applied` (a rules-only apply) only the chains that changed since it. */
  async #restore(plan: HostPlan, saved: CommandResult, errors: string[], applied?: HostPlan): Promise<void> {
    if (saved.code !== 0) {
      errors.push(`iptables-save: ${saved.stderr.trim() || `exit code ${saved.code}`}`);
      return;
    }
    const r = await this.#runner.run(['iptables-restore', '-w', '5', '--noflush'], restoreText(plan, saved.stdout, applied));
    if (r.code !== 0) errors.push(`iptables-restore: ${r.stderr.trim() || `exit code ${r.code}`}`);
  }

  async #conntrack(plan: HostPlan, prev: HostPlan | undefined, errors: string[]): Promise<void> {
    const nextFlows = new Set(plan.udpFlows.map(flowKey));
    const nextUnserved = new Set(plan.unserved.map(flowKey));
    const stale = [...(prev?.udpFlows ?? []).filter((f) => !nextFlows.has(flowKey(f))), ...(prev?.unserved ?? []).filter((f) => !nextUnserved.has(flowKey(f)))];
    for (const f of stale) {
      if (this.#conntrackMissing) break;
      const argv = ['conntrack', '-D', '-p', 'udp'];
      if (f.origDst !== undefined) argv.push('--orig-dst', f.origDst);
      if (f.origPortDst !== undefined) argv.push('--orig-port-dst', String(f.origPortDst));
      if (f.replySrc !== undefined) argv.push('--reply-src', f.replySrc);
      const r = await this.#runner.run(argv);
      if (r.code === 127) {
        this.#conntrackMissing = true;
        this.#logger.warn('conntrack (conntrack-tools) is not installed: UDP flows to removed endpoints stay until they time out');
      } else if (r.code !== 0 && r.code !== 1) {
        // Exit 1 is "0 flow entries have been deleted".
        errors.push(`conntrack ${argv.slice(1).join(' ')}: ${r.stderr.trim()}`);
      }
    }
  }

  async #list<T>(argv: readonly string[], errors: string[]): Promise<T[]> {
    const r = await this.#runner.run(argv);
    if (r.code !== 0) {
      errors.push(`${argv.join(' ')}: ${r.stderr.trim() || `exit code ${r.code}`}`);
      return [];
    }
    try {
      const parsed: unknown = JSON.parse(r.stdout.trim() || '[]');
      return Array.isArray(parsed) ? (parsed as T[]) : [];
    } catch {
      errors.push(`${argv.join(' ')}: output is not JSON`);
      return [];
    }
  }

  async #batch(tool: 'ip' | 'bridge', lines: readonly string[], errors: string[]): Promise<void> {
    if (lines.length === 0) return;
    const r = await this.#runner.run([tool, '-force', '-batch', '-'], `${lines.join('\n')}\n`);
    if (r.code === 0) return;
    const failures = batchFailures(tool, lines, r.stderr);
    if (failures.length === 0 && !/Command failed/.test(r.stderr)) failures.push(`${tool} -batch: ${r.stderr.trim() || `exit code ${r.code}`}`);
    errors.push(...failures);
  }
}
