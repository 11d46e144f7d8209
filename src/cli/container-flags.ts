import { Option, type Command } from 'commander';
import { parseBytes, parseKeyValue, parseLabels, UsageError } from './parse.ts';

/**
 * `service create` flags for the container's runtime options, with docker's names and syntax:
 * `--mount`, `--hostname`, `--init`, `--cap-add`, `--cap-drop`, `--host`, `--read-only`,
 * `--sysctl`, `--ulimit`. `addContainerOptions` registers them; `containerFromFlags` turns the
 * parsed flags into `container` fields (pure; a malformed value is a `UsageError`).
 */

/** The flags as commander hands them over. */
export interface ContainerFlags {
  mount: string[];
  hostname?: string;
  init?: boolean;
  capAdd: string[];
  capDrop: string[];
  /** `--host` (stored under another name: the global `-H, --host` is the manager's address). */
  extraHost: string[];
  readOnly?: boolean;
  sysctl: string[];
  ulimit: string[];
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * An option parsed under another attribute name: `service create --host` must not land on
 * `host`, which `optsWithGlobals()` would merge over the global `-H, --host`.
 */
class RenamedOption extends Option {
  readonly #attribute: string;
  constructor(flags: string, description: string, attribute: string) {
    super(flags, description);
    this.#attribute = attribute;
  }
  override attributeName(): string {
    return this.#attribute;
  }
}

/** Adds the container runtime options to `cmd`. */
export function addContainerOptions(cmd: Command): Command {
  return cmd
    .option('--mount <mount>', 'Attach a filesystem mount: type=volume|bind|tmpfs,source=…,target=…[,readonly][,volume-label=K=V][,volume-driver=D][,tmpfs-size=64M][,tmpfs-mode=1770]', collect, [])
    .option('--hostname <name>', 'Container hostname')
    .option('--init', 'Use an init inside each service container to forward signals and reap processes')
    .option('--cap-add <capability>', 'Add Linux capabilities', collect, [])
    .option('--cap-drop <capability>', 'Drop Linux capabilities', collect, [])
    .addOption(new RenamedOption('--host <host:ip>', 'Set one or more custom host-to-IP mappings (host:ip)', 'extraHost').argParser(collect).default([]))
    .option('--read-only', "Mount the container's root filesystem as read only")
    .option('--sysctl <K=V>', 'Sysctl options', collect, [])
    .option('--ulimit <name=soft[:hard]>', 'Ulimit options', collect, []);
}

/** The `container` fields the flags set (none when none was given). */
export function containerFromFlags(flags: ContainerFlags): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (flags.mount.length > 0) out['mounts'] = flags.mount.map(parseMount);
  if (flags.hostname !== undefined) out['hostname'] = flags.hostname;
  if (flags.init === true) out['init'] = true;
  if (flags.capAdd.length > 0) out['capAdd'] = flags.capAdd;
  if (flags.capDrop.length > 0) out['capDrop'] = flags.capDrop;
  if (flags.extraHost.length > 0) {
    out['extraHosts'] = flags.extraHost.map((h) => {
      // docker accepts host:ip and host=ip.
      const m = /^([^:=\s]+)[:=](\S+)$/.exec(h);
      if (!m) throw new UsageError(`invalid --host "${h}": expected HOST:IP, e.g. db.internal:10.0.0.5`);
      return `${m[1]}:${m[2]}`;
    });
  }
  if (flags.readOnly === true) out['readOnly'] = true;
  if (flags.sysctl.length > 0) out['sysctls'] = parseLabels(flags.sysctl, '--sysctl');
  if (flags.ulimit.length > 0) out['ulimits'] = Object.fromEntries(flags.ulimit.map(parseUlimit));
  return out;
}

/** `nofile=1024:2048` or `nproc=512` (soft = hard). */
export function parseUlimit(text: string): [string, { soft: number; hard: number }] {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(text.trim());
  if (!m) throw new UsageError(`invalid --ulimit "${text}": expected NAME=SOFT[:HARD], e.g. nofile=1024:2048`);
  const soft = Number(m[2]);
  return [m[1] ?? '', { soft, hard: m[3] === undefined ? soft : Number(m[3]) }];
}

/**
 * docker's `--mount` CSV: `type=volume|bind|tmpfs` (default volume), `source|src`,
 * `target|destination|dst`, `readonly|ro[=true|false]`, `volume-label=K=V` (repeatable),
 * `volume-driver`, `tmpfs-size`, `tmpfs-mode` (octal).
 */
export function parseMount(text: string): Record<string, unknown> {
  const bad = (why: string): UsageError => new UsageError(`invalid --mount "${text}": ${why}`);
  const m: Record<string, unknown> = { type: 'volume' };
  const labels: string[] = [];
  for (const field of text.split(',')) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    const need = (): string => {
      if (value === undefined || value === '') throw bad(`${key} needs a value`);
      return value;
    };
    switch (key) {
      case 'type': {
        const t = need();
        if (t !== 'volume' && t !== 'bind' && t !== 'tmpfs') throw bad(`type "${t}" is not supported (volume, bind or tmpfs)`);
        m['type'] = t;
        break;
      }
      case 'source':
      case 'src':
        m['source'] = need();
        break;
      case 'target':
      case 'destination':
      case 'dst':
        m['target'] = need();
        break;
      case 'readonly':
      case 'ro':
        if (value !== undefined && !['true', 'false', '1', '0'].includes(value)) throw bad(`${key} takes true or false, got "${value}"`);
        m['readOnly'] = value === undefined || value === 'true' || value === '1';
        break;
      case 'volume-label':
        labels.push(need());
        break;
      case 'volume-driver':
        m['volumeDriver'] = need();
        break;
      case 'tmpfs-size':
        m['tmpfsSizeBytes'] = parseBytes(need(), '--mount tmpfs-size');
        break;
      case 'tmpfs-mode': {
        const mode = need();
        if (!/^[0-7]+$/.test(mode)) throw bad(`tmpfs-mode "${mode}" is not an octal mode like 1770`);
        m['tmpfsMode'] = parseInt(mode, 8);
        break;
      }
      default:
        throw bad(`unknown field "${key}" (expected type, source, target, readonly, volume-label, volume-driver, tmpfs-size, tmpfs-mode)`);
    }
  }
  if (m['target'] === undefined) throw bad('target is required');
  if (labels.length > 0) m['volumeLabels'] = Object.fromEntries(labels.map((l) => parseKeyValue(l, '--mount volume-label')));
  const type = m['type'];
  if (type === 'tmpfs' && m['source'] !== undefined) throw bad('a tmpfs mount takes no source');
  if (type === 'bind' && m['source'] === undefined) throw bad('a bind mount needs a source (an absolute host path)');
  if (type !== 'volume' && (m['volumeDriver'] !== undefined || labels.length > 0)) throw bad('volume-label and volume-driver need type=volume');
  if (type !== 'tmpfs' && (m['tmpfsSizeBytes'] !== undefined || m['tmpfsMode'] !== undefined)) throw bad('tmpfs-size and tmpfs-mode need type=tmpfs');
  return m;
}
