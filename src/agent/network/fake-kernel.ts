import type { CommandResult, CommandRunner } from './runner.ts';

/**
 * A fake kernel behind the `CommandRunner` seam, for tests and simulated nodes without root:
 * it records every command and models just enough of `ip`, `bridge`, `iptables-save/restore`,
 * `conntrack` and `/proc/sys` for the data plane to see its own work (links, routes,
 * neighbours, FDB entries, chains and rules). Not a kernel: no packets, and no checking of
 * what a real kernel would refuse beyond missing devices.
 */

interface FakeLink {
  ifname: string;
  kind?: string;
  info?: Record<string, unknown>;
  master?: string;
  mtu: number;
  up: boolean;
  address?: string;
  hairpin: boolean;
  addrs: string[];
}

export interface RecordedCommand {
  readonly argv: readonly string[];
  readonly stdin?: string;
}

const BUILTIN: Record<string, readonly string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
};

const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '' });
const fail = (stderr: string, code = 2): CommandResult => ({ code, stdout: '', stderr });

export class FakeKernel implements CommandRunner {
  readonly commands: RecordedCommand[] = [];
  readonly links = new Map<string, FakeLink>();
  /** `dst|dev` → gateway or ''. */
  readonly routes = new Map<string, string>();
  /** `dst|dev` → lladdr. */
  readonly neighbours = new Map<string, string>();
  /** `mac|dev|dst`. */
  readonly fdb = new Set<string>();
  readonly sysctls = new Map<string, string>();
  /** table → chain → rules (text after `-A <chain> `). */
  readonly tables = new Map<string, Map<string, string[]>>();
  /** Programs that are "not installed" (run answers 127). */
  readonly missing = new Set<string>();

  constructor() {
    for (const [t, chains] of Object.entries(BUILTIN)) this.tables.set(t, new Map(chains.map((c) => [c, []])));
    this.addLink('lo', {});
  }

  /** Adds a link (a task's veth on `master`, an underlay device). */
  addLink(ifname: string, opts: { master?: string; kind?: string; mtu?: number }): void {
    const link: FakeLink = { ifname, mtu: opts.mtu ?? 1500, up: true, hairpin: false, addrs: [] };
    if (opts.master !== undefined) link.master = opts.master;
    if (opts.kind !== undefined) link.kind = opts.kind;
    this.links.set(ifname, link);
  }

  /** The number of rules in every table (what `iptables-save | grep -c ^-A` would count). */
  ruleCount(): number {
    let n = 0;
    for (const t of this.tables.values()) for (const rules of t.values()) n += rules.length;
    return n;
  }

  /** Commands run so far whose argv starts with `prefix`. */
  ran(...prefix: string[]): RecordedCommand[] {
    return this.commands.filter((c) => prefix.every((p, i) => c.argv[i] === p));
  }

  async writeSysctls(entries: ReadonlyArray<readonly [string, string]>): Promise<string[]> {
    const failed: string[] = [];
    for (const [key, value] of entries) {
      const dev = /^net\/ipv4\/(?:conf|neigh)\/([^/]+)\//.exec(key)?.[1];
      if (dev !== undefined && dev !== 'all' && dev !== 'default' && !this.links.has(dev)) failed.push(key);
      else this.sysctls.set(key, value);
    }
    return failed;
  }

  async run(argv: readonly string[], stdin?: string): Promise<CommandResult> {
    this.commands.push(stdin === undefined ? { argv } : { argv, stdin });
    const [cmd, ...args] = argv;
    if (cmd === undefined || this.missing.has(cmd)) return fail(`${cmd}: not found`, 127);
    const a = args.join(' ');
    switch (cmd) {
      case 'ip':
        if (a === '-j -d link show' || a === '-j link show') return ok(JSON.stringify([...this.links.values()].map(linkJson)));
        if (a === '-j link show type bridge') return ok(JSON.stringify([...this.links.values()].filter((l) => l.kind === 'bridge').map(linkJson)));
        if (a.startsWith('-j addr show dev ')) {
          const l = this.links.get(args[4] ?? '');
          if (l === undefined) return fail(`Device "${args[4]}" does not exist.`, 1);
          return ok(JSON.stringify([{ ...linkJson(l), addr_info: l.addrs.map((x) => ({ family: 'inet', local: x.split('/')[0], prefixlen: Number(x.split('/')[1]) })) }]));
        }
        if (a === '-j route show') return ok(JSON.stringify([...this.routes].map(([k, gw]) => ({ dst: k.split('|')[0], dev: k.split('|')[1], ...(gw ? { gateway: gw } : {}) }))));
        if (a === '-j neigh show') return ok(JSON.stringify([...this.neighbours].map(([k, mac]) => ({ dst: k.split('|')[0], dev: k.split('|')[1], lladdr: mac, state: ['PERMANENT'] }))));
        if (args.includes('-batch')) return this.#batch(stdin ?? '', (l) => this.#ip(l), args.includes('-force'));
        return this.#ip(args);
      case 'bridge':
        if (a === '-j fdb show') return ok(JSON.stringify([...this.fdb].map((k) => ({ mac: k.split('|')[0], ifname: k.split('|')[1], dst: k.split('|')[2], flags: ['self'], state: 'permanent' }))));
        if (args.includes('-batch')) return this.#batch(stdin ?? '', (l) => this.#bridge(l), args.includes('-force'));
        return this.#bridge(args);
      case 'iptables-save':
        return ok(this.#save());
      case 'iptables-restore':
        return this.#restore(stdin ?? '');
      case 'conntrack':
        return { code: 1, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n' };
      default:
        return ok();
    }
  }

  #batch(text: string, each: (args: string[]) => CommandResult, force: boolean): CommandResult {
    let stderr = '';
    let code = 0;
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '' || (code !== 0 && !force)) return;
      const r = each(line.trim().split(/\s+/));
      if (r.code !== 0) {
        stderr += `${r.stderr}\nCommand failed -:${i + 1}\n`;
        code = 1;
      }
    });
    return { code, stdout: '', stderr };
  }

  #ip(args: string[]): CommandResult {
    const [obj, verb, ...rest] = args;
    const opt = (name: string): string | undefined => {
      const i = rest.indexOf(name);
      return i < 0 ? undefined : rest[i + 1];
    };
    const dev = opt('dev');
    const noDev = fail(`Cannot find device "${dev}"`, 1);
    switch (`${obj} ${verb}`) {
      case 'link add': {
        const name = rest[0] ?? '';
        if (this.links.has(name)) return fail('RTNETLINK answers: File exists');
        const kind = opt('type') ?? '';
        const info: Record<string, unknown> = kind === 'vxlan' ? { id: Number(opt('id')), local: opt('local'), port: Number(opt('dstport')), link: dev } : {};
        this.links.set(name, { ifname: name, kind, info, mtu: 1500, up: false, hairpin: false, addrs: [] });
        return ok();
      }
      case 'link del': {
        if (dev === undefined || !this.links.delete(dev)) return noDev;
        for (const k of [...this.routes.keys()]) if (k.endsWith(`|${dev}`)) this.routes.delete(k);
        for (const k of [...this.neighbours.keys()]) if (k.endsWith(`|${dev}`)) this.neighbours.delete(k);
        for (const k of [...this.fdb]) if (k.split('|')[1] === dev) this.fdb.delete(k);
        return ok();
      }
      case 'link set': {
        const l = this.links.get(dev ?? '');
        if (l === undefined) return noDev;
        const mtu = opt('mtu');
        if (mtu !== undefined) l.mtu = Number(mtu);
        const address = opt('address');
        if (address !== undefined) l.address = address;
        if (rest.includes('up')) l.up = true;
        return ok();
      }
      case 'address replace':
      case 'address del': {
        const l = this.links.get(dev ?? '');
        if (l === undefined) return noDev;
        const addr = rest[0] ?? '';
        l.addrs = l.addrs.filter((x) => x !== addr);
        if (verb === 'replace') l.addrs.push(addr);
        return ok();
      }
      case 'neigh replace':
        if (!this.links.has(dev ?? '')) return noDev;
        this.neighbours.set(`${rest[0]}|${dev}`, opt('lladdr') ?? '');
        return ok();
      case 'neigh del':
        return this.neighbours.delete(`${rest[0]}|${dev}`) ? ok() : fail('RTNETLINK answers: No such file or directory');
      case 'route replace':
        if (!this.links.has(dev ?? '')) return noDev;
        this.routes.set(`${rest[0]}|${dev}`, opt('via') ?? '');
        return ok();
      case 'route del':
        return this.routes.delete(`${rest[0]}|${dev}`) ? ok() : fail('RTNETLINK answers: No such process');
      default:
        return ok();
    }
  }

  #bridge(args: string[]): CommandResult {
    const [obj, verb, mac, ...rest] = args;
    const opt = (name: string): string | undefined => {
      const all = [mac ?? '', ...rest];
      const i = all.indexOf(name);
      return i < 0 ? undefined : all[i + 1];
    };
    const dev = opt('dev') ?? '';
    if (!this.links.has(dev)) return fail(`Cannot find device "${dev}"`, 1);
    if (obj === 'link' && verb === 'set') {
      const l = this.links.get(dev);
      if (l?.master === undefined) return fail('RTNETLINK answers: Operation not supported');
      l.hairpin = rest.includes('hairpin') && opt('hairpin') === 'on';
      return ok();
    }
    const key = `${mac}|${dev}|${opt('dst')}`;
    if (verb === 'replace') {
      for (const k of [...this.fdb]) if (k.startsWith(`${mac}|${dev}|`)) this.fdb.delete(k);
      this.fdb.add(key);
      return ok();
    }
    if (verb === 'del') return this.fdb.delete(key) ? ok() : fail('RTNETLINK answers: No such file or directory');
    return ok();
  }

  #save(): string {
    const out: string[] = [];
    for (const [t, chains] of this.tables) {
      out.push(`*${t}`);
      for (const c of chains.keys()) out.push(BUILTIN[t]?.includes(c) ? `:${c} ACCEPT [0:0]` : `:${c} - [0:0]`);
      for (const [c, rules] of chains) for (const r of rules) out.push(`-A ${c} ${r}`);
      out.push('COMMIT');
    }
    return `${out.join('\n')}\n`;
  }

  /** `iptables-restore --noflush`: one transaction per table; all or nothing. */
  #restore(text: string): CommandResult {
    const next = new Map([...this.tables].map(([t, cs]) => [t, new Map([...cs].map(([c, r]) => [c, [...r]]))]));
    let table: Map<string, string[]> | undefined;
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line === 'COMMIT') continue;
      if (line.startsWith('*')) {
        const name = line.slice(1);
        if (!next.has(name)) next.set(name, new Map());
        table = next.get(name);
        continue;
      }
      if (table === undefined) return fail('iptables-restore: no table');
      const [op, chain = '', ...rest] = line.split(/\s+/);
      if (line.startsWith(':')) {
        table.set(line.slice(1).split(' ')[0] ?? '', []);
      } else if (op === '-X') {
        table.delete(chain);
      } else if (op === '-A' || op === '-I') {
        const rules = table.get(chain);
        if (rules === undefined) return fail(`iptables-restore: chain ${chain} does not exist`);
        if (op === '-A') rules.push(rest.join(' '));
        else rules.splice(Number(rest[0]) - 1, 0, rest.slice(1).join(' '));
      }
    }
    this.tables.clear();
    for (const [t, cs] of next) this.tables.set(t, cs);
    return ok();
  }
}

function linkJson(l: FakeLink): Record<string, unknown> {
  return {
    ifname: l.ifname,
    mtu: l.mtu,
    operstate: l.up ? 'UP' : 'DOWN',
    ...(l.address !== undefined ? { address: l.address } : {}),
    ...(l.master !== undefined ? { master: l.master } : {}),
    linkinfo: {
      ...(l.kind !== undefined ? { info_kind: l.kind, info_data: l.info ?? {} } : {}),
      ...(l.master !== undefined ? { info_slave_kind: 'bridge', info_slave_data: { hairpin: l.hairpin } } : {}),
    },
  };
}
