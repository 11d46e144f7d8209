import type { BridgeProvider, LocalNetwork } from './local-network.ts';
import { BRIDGE_PREFIX, bridgeName } from './names.ts';
import type { CommandRunner } from './runner.ts';
import { CodedError } from '../../lib/coded-error.ts';

/** `ip -j addr show` output, the fields used here. */
interface IpAddrLink {
  readonly ifname: string;
  readonly mtu?: number;
  readonly operstate?: string;
  readonly addr_info?: ReadonlyArray<{ readonly family?: string; readonly local?: string; readonly prefixlen?: number }>;
}

/** Thrown when the kernel refuses to make or change a bridge. */
export class BridgeError extends CodedError<'bridge_failed'> {
  override readonly name = 'BridgeError';
  constructor(message: string) {
    super('bridge_failed', message);
  }
}

/**
 * Bridges the agent makes itself, for nodes without Docker (exec tasks): a Linux bridge
 * `flb-<id10>` with the slice's gateway at the range's prefix (the whole range on-link), the
 * overlay MTU, up. `ensure` looks first (one `ip -j addr show`) and changes only what differs
 * (one `ip -batch`), so calling it on every reconcile costs one spawn when all is in place.
 */
export function kernelBridges(runner: CommandRunner): BridgeProvider {
  return {
    kind: 'kernel',
    async ensure(n: LocalNetwork): Promise<undefined> {
      const shown = await runner.run(['ip', '-j', 'addr', 'show', 'dev', n.bridge]);
      let link: IpAddrLink | undefined;
      if (shown.code === 0) {
        try {
          link = (JSON.parse(shown.stdout) as IpAddrLink[])[0];
        } catch {
          link = undefined;
        }
      }
      const want = `${n.gateway}/${n.prefix}`;
      const lines: string[] = [];
      if (link === undefined) lines.push(`link add ${n.bridge} type bridge`);
      if (link?.mtu !== n.mtu || link.operstate === 'DOWN') lines.push(`link set dev ${n.bridge} mtu ${n.mtu} up`);
      const v4 = (link?.addr_info ?? []).filter((a) => a.family === 'inet');
      for (const a of v4) {
        if (`${a.local}/${a.prefixlen}` !== want) lines.push(`address del ${a.local}/${a.prefixlen} dev ${n.bridge}`);
      }
      if (!v4.some((a) => `${a.local}/${a.prefixlen}` === want)) lines.push(`address replace ${want} dev ${n.bridge}`);
      if (lines.length === 0) return undefined;
      const r = await runner.run(['ip', '-batch', '-'], `${lines.join('\n')}\n`);
      if (r.code !== 0) throw new BridgeError(`cannot set up bridge ${n.bridge} of network ${n.name}: ${r.stderr.trim() || `exit code ${r.code}`}`);
      return undefined;
    },
    async remove(networkId: string): Promise<void> {
      const name = bridgeName(networkId);
      const r = await runner.run(['ip', 'link', 'del', 'dev', name]);
      if (r.code !== 0 && !/Cannot find device|does not exist/.test(r.stderr)) {
        throw new BridgeError(`cannot remove bridge ${name}: ${r.stderr.trim() || `exit code ${r.code}`}`);
      }
    },
    async list(): Promise<string[]> {
      const r = await runner.run(['ip', '-j', 'link', 'show', 'type', 'bridge']);
      if (r.code !== 0) throw new BridgeError(`cannot list bridges: ${r.stderr.trim()}`);
      const links = JSON.parse(r.stdout.trim() || '[]') as Array<{ ifname: string }>;
      return links.map((l) => l.ifname).filter((n) => n.startsWith(BRIDGE_PREFIX)).map((n) => n.slice(BRIDGE_PREFIX.length));
    },
  };
}
