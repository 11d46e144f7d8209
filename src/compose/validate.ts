import { ComposeError, describeValue, type ComposeProblem, type Pos } from './errors.ts';
import { posOfKey, posOfValue, setKeyPos } from './source.ts';
import { didYouMean } from './suggest.ts';
import { parseBytes, parseCpus, parseDurationMs } from './units.ts';

/**
 * A small schema language for the Compose subset Flotilla reads, and the validator that walks
 * a parsed file with it. Validation also coerces: interpolation produces strings, so integer,
 * number and boolean fields accept their text form (`"3"`, `"true"`) as Compose does, and
 * durations, sizes and CPU counts become milliseconds, bytes and nanoCPUs here, once.
 */
export type Schema =
  | { readonly t: 'string' }
  /** A string, number or boolean, kept as a string (environment and label values, `user`). */
  | { readonly t: 'scalar' }
  | { readonly t: 'int'; readonly min?: number; readonly max?: number }
  | { readonly t: 'number'; readonly min?: number; readonly max?: number }
  | { readonly t: 'bool' }
  | { readonly t: 'duration' }
  | { readonly t: 'bytes' }
  | { readonly t: 'cpus' }
  | { readonly t: 'null' }
  | { readonly t: 'any' }
  | { readonly t: 'enum'; readonly values: readonly string[] }
  /** `unique`: no item twice (the specification's `uniqueItems`, e.g. list-form `environment`). */
  | { readonly t: 'list'; readonly items: Schema; readonly unique?: boolean }
  /** A mapping with free keys (matching `keyPattern`, when given). */
  | { readonly t: 'map'; readonly values: Schema; readonly keyPattern?: RegExp; readonly keyRule?: string }
  /** A mapping with known keys; `x-` keys are allowed where `extensions` is set. */
  | { readonly t: 'object'; readonly fields: Readonly<Record<string, Schema>>; readonly required?: readonly string[]; readonly extensions?: boolean; readonly what?: string }
  /** The first option whose shape fits the value. */
  | { readonly t: 'either'; readonly options: readonly Schema[] };

/** Validates (and coerces, in place) `root` against `schema`; throws a ComposeError listing every problem. */
export function validate(root: unknown, schema: Schema, rootPos?: Pos): void {
  const problems: ComposeProblem[] = [];
  const box = { root };
  if (rootPos) setKeyPos(box, 'root', { key: rootPos, value: rootPos });
  check(box, 'root', schema, '', problems);
  if (problems.length > 0) throw new ComposeError(problems);
}

type Container = Record<string | number, unknown>;

function check(parent: Container, key: string | number, schema: Schema, path: string, problems: ComposeProblem[]): void {
  const value = parent[key];
  const wrong = (expected: string): void => {
    problems.push({ code: 'type', pos: posOfValue(parent, key), path, message: `expected ${expected}, got ${describeValue(value)}` });
  };
  const set = (v: unknown): void => {
    parent[key] = v;
  };
  switch (schema.t) {
    case 'any':
      return;
    case 'null':
      if (value !== null) wrong('null');
      return;
    case 'string':
      if (typeof value !== 'string') wrong('a string');
      return;
    case 'scalar':
      if (typeof value === 'string') return;
      if (typeof value === 'number' || typeof value === 'boolean') return set(String(value));
      return wrong('a string, number or boolean');
    case 'int': {
      const n = typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n)) return wrong('an integer');
      if (schema.min !== undefined && n < schema.min) return wrong(`an integer of at least ${schema.min}`);
      if (schema.max !== undefined && n > schema.max) return wrong(`an integer of at most ${schema.max}`);
      return set(n);
    }
    case 'number': {
      const n = typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) return wrong('a number');
      if ((schema.min !== undefined && n < schema.min) || (schema.max !== undefined && n > schema.max)) {
        return wrong(`a number from ${schema.min ?? '-∞'} to ${schema.max ?? '∞'}`);
      }
      return set(n);
    }
    case 'bool': {
      if (typeof value === 'boolean') return;
      const t = typeof value === 'string' ? value.toLowerCase() : '';
      if (['true', 'yes', 'y', 'on'].includes(t)) return set(true);
      if (['false', 'no', 'n', 'off'].includes(t)) return set(false);
      return wrong('a boolean');
    }
    case 'duration': {
      const ms = parseDurationMs(value);
      return ms === undefined ? wrong('a duration like 10s, 1m30s or 500ms') : set(ms);
    }
    case 'bytes': {
      const b = parseBytes(value);
      return b === undefined ? wrong('a size like 512M, 1.5G or 1048576') : set(b);
    }
    case 'cpus': {
      const c = parseCpus(value);
      return c === undefined ? wrong('a number of CPUs like 0.5 or 2') : set(c);
    }
    case 'enum':
      if (typeof value !== 'string' || !schema.values.includes(value)) {
        const hint = typeof value === 'string' ? didYouMean(value, schema.values) : undefined;
        wrong(`one of ${schema.values.map((v) => `"${v}"`).join(', ')}`);
        if (hint !== undefined) {
          const last = problems.at(-1);
          if (last) problems[problems.length - 1] = { ...last, message: `${last.message}; did you mean "${hint}"?` };
        }
      }
      return;
    case 'list':
      if (!Array.isArray(value)) return wrong('a list');
      value.forEach((_, i) => check(value as unknown as Container, i, schema.items, `${path}[${i}]`, problems));
      if (schema.unique) {
        const seen = new Map<string, number>();
        value.forEach((item: unknown, i) => {
          const k = JSON.stringify(item);
          const first = seen.get(k);
          if (first === undefined) seen.set(k, i);
          else problems.push({ code: 'invalid_value', pos: posOfValue(value, i), path: `${path}[${i}]`, message: `${describeValue(item)} is listed twice (also at [${first}]): list items must be unique` });
        });
      }
      return;
    case 'map': {
      if (!isMapping(value)) return wrong('a mapping');
      for (const k of Object.keys(value)) {
        const p = join(path, k);
        if (schema.keyPattern && !schema.keyPattern.test(k)) {
          problems.push({ code: 'invalid_value', pos: posOfKey(value, k)?.key, path: p, message: `invalid name "${k}": ${schema.keyRule ?? 'not allowed here'}` });
          continue;
        }
        check(value as Container, k, schema.values, p, problems);
      }
      return;
    }
    case 'object': {
      if (!isMapping(value)) return wrong(schema.what ?? 'a mapping');
      for (const k of Object.keys(value)) {
        const p = join(path, k);
        const field = schema.fields[k];
        if (field) {
          check(value as Container, k, field, p, problems);
          continue;
        }
        if (schema.extensions && k.startsWith('x-')) continue;
        const hint = didYouMean(k, Object.keys(schema.fields));
        const where = path === '' ? 'unknown top-level key' : 'unknown key';
        problems.push({ code: 'unknown_key', pos: posOfKey(value, k)?.key, path: p, message: hint === undefined ? where : `${where}, did you mean "${hint}"?` });
      }
      for (const r of schema.required ?? []) {
        if (!Object.hasOwn(value, r)) problems.push({ code: 'type', pos: posOfValue(parent, key), path, message: `missing required key "${r}"` });
      }
      return;
    }
    case 'either': {
      const option = schema.options.find((o) => fits(o, value));
      if (!option) return wrong(schema.options.map(expected).filter((e, i, a) => a.indexOf(e) === i).join(' or '));
      return check(parent, key, option, path, problems);
    }
  }
}

/** Whether a value has the shape an option is for (the option then validates the details). */
function fits(schema: Schema, value: unknown): boolean {
  switch (schema.t) {
    case 'null':
      return value === null;
    case 'list':
      return Array.isArray(value);
    case 'map':
    case 'object':
      return isMapping(value);
    case 'either':
      return schema.options.some((o) => fits(o, value));
    case 'any':
      return true;
    case 'int':
    case 'number':
      return typeof value === 'number';
    case 'bool':
      return typeof value === 'boolean';
    case 'scalar':
      return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
    default:
      return typeof value === 'string';
  }
}

function expected(schema: Schema): string {
  switch (schema.t) {
    case 'list':
      return schema.items.t === 'string' ? 'a list of strings' : 'a list';
    case 'map':
    case 'object':
      return schema.t === 'object' && schema.what ? schema.what : 'a mapping';
    case 'null':
      return 'null';
    case 'int':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'bool':
      return 'a boolean';
    case 'either':
      return schema.options.map(expected).join(' or ');
    default:
      return 'a string';
  }
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}
