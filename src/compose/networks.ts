import { isApiError } from '../api/errors.ts';
import { NetworkSpec, MAX_NETWORK_PREFIX, MIN_NETWORK_PREFIX } from '../api/network.ts';
import { decode } from '../api/validate.ts';
import { parseCidr } from '../lib/cidr.ts';
import type { ComposeProblem } from './errors.ts';
import type { ComposeProject, ResourceConfig, ServiceConfig } from './model.ts';
import type { Warn } from './mounts.ts';
import { scopedName, STACK_NAMESPACE_LABEL } from './names.ts';
import { posOf, posOfKey, posOfValue } from './source.ts';

/**
 * Compose networks as `docker stack deploy` makes them: every network a service uses (a
 * service without `networks:` uses `default`) becomes an overlay network named `STACK_key`
 * (or its `name:`) labelled `com.docker.stack.namespace=STACK`, unless it is `external`, which
 * is looked up by name at deploy. Networks no service uses are not created, as the docker CLI
 * does. A service joins its networks with its compose name as an alias (so `db` resolves
 * inside the stack) plus the aliases it lists.
 */

/** The network services use when they list none, and the key that configures it. */
export const DEFAULT_NETWORK = 'default';

/** A network the stack's services use: one the stack creates (`spec`), or an external one it looks up by `name`. */
export type StackNetwork =
  | { readonly key: string; readonly name: string; readonly external: false; readonly spec: NetworkSpec }
  | { readonly key: string; readonly name: string; readonly external: true };

/** Records a warning about a field of a top-level network. */
type NetworkWarn = (key: string, field: string, what?: string) => void;

/** The networks of `project` that some service uses, sorted by key; problems are pushed to `problems`. */
export function toStackNetworks(project: ComposeProject, stack: string, warnings: string[], problems: ComposeProblem[]): StackNetwork[] {
  const used = new Set<string>();
  for (const s of Object.values(project.services)) for (const key of serviceNetworkKeys(s)) used.add(key);
  const warn: NetworkWarn = (key, field, what = 'is not supported; ignored') => {
    warnings.push(`network ${key}: field \`${field}\` ${what}`);
  };
  const out: StackNetwork[] = [];
  for (const key of [...used].sort()) {
    const n = toStackNetwork(key, project.networks[key] ?? {}, project, stack, warn, problems);
    if (!n) continue;
    const twin = out.find((o) => o.name === n.name && !(o.external && n.external));
    if (twin) {
      const c = project.networks[key];
      problems.push({ code: 'invalid_value', pos: posOfValue(c, 'name') ?? posOfKey(project.networks, key)?.key, path: `networks.${key}`, message: `is named ${n.name}, as networks.${twin.key} is: give one another name` });
      continue;
    }
    out.push(n);
  }
  return out;
}

/** The compose keys of the networks a service joins: the ones it lists, else `default`. */
function serviceNetworkKeys(s: ServiceConfig): string[] {
  const keys = Object.keys(s.networks ?? {});
  return keys.length > 0 ? keys : [DEFAULT_NETWORK];
}

function toStackNetwork(key: string, c: ResourceConfig, project: ComposeProject, stack: string, warn: NetworkWarn, problems: ComposeProblem[]): StackNetwork | undefined {
  const at = (field: string): ComposeProblem['pos'] => posOfValue(c, field) ?? posOfKey(project.networks, key)?.key ?? posOf(c);
  const problem = (field: string, message: string): void => {
    problems.push({ code: 'invalid_value', pos: at(field), path: `networks.${key}${field === '' ? '' : `.${field}`}`, message });
  };
  const ext = c['external'];
  if (ext === true || (typeof ext === 'object' && ext !== null)) {
    // `external: {name: x}` is the old spelling of `external: true` + `name: x`.
    const legacy = typeof ext === 'object' ? (ext as Record<string, unknown>)['name'] : undefined;
    const name = typeof c['name'] === 'string' ? c['name'] : typeof legacy === 'string' ? legacy : key;
    for (const k of Object.keys(c)) if (!['external', 'name'].includes(k)) warn(key, k, 'is ignored: the network is external');
    return { key, name, external: true };
  }
  const name = typeof c['name'] === 'string' ? c['name'] : scopedName(stack, key);
  const driver = c['driver'];
  // A stack's networks are overlay networks; `bridge` is what a compose file for one host says, taken to mean the same.
  if (driver !== undefined && driver !== 'overlay' && driver !== 'bridge') {
    problem('driver', `driver ${JSON.stringify(driver)} is not supported: Flotilla networks are overlay networks`);
  }
  let encrypted = false;
  const opts = (c['driver_opts'] ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(opts)) {
    // Swarm takes `encrypted: ""` as yes: any value but an explicit no.
    if (k === 'encrypted') encrypted = !['false', '0'].includes(String(v ?? '').trim().toLowerCase());
    else warn(key, `driver_opts.${k}`);
  }
  let subnet: string | undefined;
  const ipam = c['ipam'];
  if (ipam !== undefined && ipam !== null) {
    if (typeof ipam !== 'object' || Array.isArray(ipam)) {
      problem('ipam', 'expected a mapping with driver, config and options');
    } else {
      const i = ipam as Record<string, unknown>;
      for (const k of Object.keys(i)) {
        if (k === 'driver' && (i[k] === 'default' || i[k] === undefined)) continue;
        if (k !== 'config') warn(key, `ipam.${k}`);
      }
      const config = i['config'];
      if (config !== undefined && !Array.isArray(config)) problem('ipam.config', 'expected a list of {subnet, …}');
      else if (Array.isArray(config) && config.length > 0) {
        if (config.length > 1) warn(key, 'ipam.config', `has ${config.length} entries; only the first (a network has one range) is used`);
        const first = (config[0] ?? {}) as Record<string, unknown>;
        for (const k of Object.keys(first)) if (k !== 'subnet') warn(key, `ipam.config[0].${k}`);
        if (typeof first['subnet'] === 'string') {
          subnet = first['subnet'];
          const parsed = parseCidr(subnet);
          if (!parsed.ok) problem('ipam', `subnet ${parsed.error}`);
          else if (parsed.cidr.prefix < MIN_NETWORK_PREFIX || parsed.cidr.prefix > MAX_NETWORK_PREFIX) {
            problem('ipam', `subnet ${subnet}: the prefix length must be /${MIN_NETWORK_PREFIX} to /${MAX_NETWORK_PREFIX} (each node takes a slice of the range)`);
          }
        } else if (first['subnet'] !== undefined) problem('ipam', 'config[0].subnet: expected an IPv4 CIDR such as 10.10.0.0/16');
      }
    }
  }
  if (c['enable_ipv6'] === true) warn(key, 'enable_ipv6', 'is not supported (networks are IPv4); ignored');
  if (c['enable_ipv4'] === false) warn(key, 'enable_ipv4', '`false` is not supported (networks are IPv4); ignored');
  for (const k of Object.keys(c)) {
    if (!['name', 'driver', 'driver_opts', 'ipam', 'internal', 'attachable', 'labels', 'external', 'enable_ipv6', 'enable_ipv4'].includes(k)) warn(key, k);
  }
  const labels = Object.fromEntries(Object.entries(labelMap(c['labels'])));
  const input = {
    name,
    labels: { ...labels, [STACK_NAMESPACE_LABEL]: stack },
    driver: 'overlay',
    internal: c['internal'] === true,
    attachable: c['attachable'] === true,
    encrypted,
    ...(subnet === undefined ? {} : { subnet }),
  };
  try {
    return { key, name, external: false, spec: decode(NetworkSpec, input, 'network spec') };
  } catch (err) {
    if (!isApiError(err)) throw err;
    for (const d of err.details.length > 0 ? err.details : [{ path: '', message: err.message }]) {
      problem(d.path === 'name' ? 'name' : '', `cannot be converted: ${d.path === '' ? '' : `${d.path}: `}${d.message}`);
    }
    return undefined;
  }
}

/** Labels as a file writes them, a mapping or a `KEY=VALUE` list, as strings. */
function labelMap(v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (Array.isArray(v)) {
    return Object.fromEntries(v.map((item) => {
      const text = String(item);
      const eq = text.indexOf('=');
      return eq < 0 ? [text, ''] : [text.slice(0, eq), text.slice(eq + 1)];
    }));
  }
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, val]) => [k, val === null || val === undefined ? '' : String(val)]));
}

/** Service fields under `networks.<key>` that have no Flotilla meaning (yet). */
const IGNORED_ATTACHMENT_FIELDS = ['ipv4_address', 'ipv6_address', 'link_local_ips', 'mac_address', 'priority', 'gw_priority', 'driver_opts', 'interface_name'];

/**
 * A service's `taskTemplate.networks`: one attachment per network it joins (`default` when it
 * lists none), targeting the network's cluster name, with the compose service name and the
 * listed aliases; sorted by target, as the docker CLI does.
 */
export function toServiceNetworks(service: string, s: ServiceConfig, networks: readonly StackNetwork[], warn: Warn): Array<{ target: string; aliases: string[] }> {
  const out: Array<{ target: string; aliases: string[] }> = [];
  for (const key of serviceNetworkKeys(s)) {
    const n = networks.find((x) => x.key === key);
    if (!n) continue; // a network that failed to convert: its problem is reported
    const config = s.networks?.[key] ?? {};
    for (const f of IGNORED_ATTACHMENT_FIELDS) if (config[f] !== undefined) warn(`networks.${key}.${f}`);
    const listed = Array.isArray(config['aliases']) ? (config['aliases'] as unknown[]).map(String) : [];
    out.push({ target: n.name, aliases: [...new Set([service, ...listed])] });
  }
  return out.sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}
