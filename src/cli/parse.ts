/**
 * Parsers for the values CLI flags take, with docker's syntax: sizes ("512M"), CPU counts
 * ("0.5"), durations ("1m30s"), `KEY=VALUE` pairs and `--publish` specs. Each throws a
 * `UsageError` that says which flag, what it got and what would be valid.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function isUsageError(e: unknown): e is UsageError {
  return e instanceof UsageError;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** "512M", "1.5g", "64mb", "1024" (bytes) → bytes; binary units, case-insensitive, as docker. */
export function parseBytes(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(text) ?? /^\s*(\d+(?:\.\d+)?)\s*(b?)\s*$/i.exec(text);
  if (!m) throw new UsageError(`invalid ${flag} "${text}": expected a size like 512M, 1.5G or 1048576`);
  const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase()] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

/** "0.5", "2" → nanoCPUs (1 CPU = 1e9). */
export function parseCpus(text: string, flag: string): number {
  if (!/^\s*\d+(\.\d+)?\s*$/.test(text)) throw new UsageError(`invalid ${flag} "${text}": expected a number of CPUs like 0.5 or 2`);
  return Math.round(Number(text) * 1e9);
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations as docker takes them: "10s", "1m30s", "500ms", "1h" → milliseconds. "0" is 0. */
export function parseDuration(text: string, flag: string): number {
  const t = text.trim();
  if (t === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t)) !== null) {
    total += Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? 0);
    consumed = re.lastIndex;
  }
  if (t === '' || consumed !== t.length) throw new UsageError(`invalid ${flag} "${text}": expected a duration like 10s, 1m30s or 500ms`);
  return Math.round(total);
}

/** `KEY=VALUE` (or `KEY`, meaning an empty value) → [key, value]. */
export function parseKeyValue(text: string, flag: string): [string, string] {
  const eq = text.indexOf('=');
  const key = eq < 0 ? text : text.slice(0, eq);
  if (key === '') throw new UsageError(`invalid ${flag} "${text}": expected KEY=VALUE`);
  return [key, eq < 0 ? '' : text.slice(eq + 1)];
}

/** Repeated `KEY=VALUE` flags → a record; later ones win, as docker does. */
export function parseLabels(items: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const [k, v] = parseKeyValue(item, flag);
    out[k] = v;
  }
  return out;
}

/** A published port as sent to the API. Numbers the CLI cannot read go to the server as given, so its message says what is wrong. */
export interface PublishSpec {
  target: number | string;
  published: number | string;
  protocol?: string;
  mode?: string;
}

/**
 * `--publish`: the long form `mode=ingress|host,published=8080,target=80[,protocol=tcp]`, or the
 * short form `8080:80[/udp]`. The short form leaves `mode` out (the schema's default applies);
 * `short` tells the caller it was used.
 */
export function parsePublish(text: string): { port: PublishSpec; short: boolean } {
  const short = /^(\d+):(\d+)(?:\/(\w+))?$/.exec(text.trim());
  if (short) {
    const port: PublishSpec = { published: Number(short[1]), target: Number(short[2]) };
    if (short[3] !== undefined) port.protocol = short[3];
    return { port, short: true };
  }
  if (!text.includes('=')) {
    throw new UsageError(`invalid --publish "${text}": expected published=8080,target=80[,mode=ingress|host][,protocol=tcp] or 8080:80`);
  }
  const fields: Record<string, string> = {};
  for (const part of text.split(',')) {
    const [k, v] = parseKeyValue(part.trim(), '--publish');
    const key = k.toLowerCase();
    if (!['mode', 'published', 'target', 'protocol'].includes(key)) {
      throw new UsageError(`invalid --publish "${text}": unknown field "${k}" (expected mode, published, target, protocol)`);
    }
    fields[key] = v;
  }
  if (fields['target'] === undefined) throw new UsageError(`invalid --publish "${text}": target= is required`);
  if (fields['published'] === undefined) throw new UsageError(`invalid --publish "${text}": published= is required`);
  const port: PublishSpec = { target: numberOrText(fields['target']), published: numberOrText(fields['published']) };
  if (fields['protocol'] !== undefined) port.protocol = fields['protocol'];
  if (fields['mode'] !== undefined) port.mode = fields['mode'];
  return { port, short: false };
}

/** An integer as a number, anything else as the text given (for the server to reject with its message). */
export function numberOrText(text: string): number | string {
  return /^-?\d+$/.test(text.trim()) ? Number(text) : text;
}
