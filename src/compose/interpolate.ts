import { PARSE_BUDGET } from './budget.ts';
import { ComposeError, type ComposeProblem } from './errors.ts';
import { posOfValue } from './source.ts';
import { fragment } from './yaml-errors.ts';

/**
 * Variable interpolation as the Compose Specification defines it, on string values:
 * `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
 * `${VAR:?error}`, `${VAR?error}`, `${VAR:+replacement}`, `${VAR+replacement}`, `$$` for a
 * literal `$`. Defaults and replacements are interpolated themselves, so they nest, up to
 * `PARSE_BUDGET.maxInterpolationDepth` levels (each level is one recursion here; a deeper
 * string is refused, never a stack overflow).
 */

/** Looks a variable up; undefined when unset. */
export type Lookup = (name: string) => string | undefined;

/** Why a string cannot be interpolated; the caller adds the position. */
export class InterpolationError extends Error {
  override readonly name = 'InterpolationError';
}

/** Sticky: matched at `lastIndex`, never on a slice (slicing at every `$` is quadratic). */
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;

function nameAt(text: string, at: number): string | undefined {
  NAME.lastIndex = at;
  return NAME.exec(text)?.[0];
}

/** Interpolates one string. Unset variables without a default become "" and are reported through `unset`. */
export function interpolateString(text: string, lookup: Lookup, unset: (name: string) => void = () => {}): string {
  const { value, end } = parse(text, 0, false, lookup, unset, 0);
  if (end !== text.length) throw new InterpolationError(`invalid interpolation format in ${fragment(text)}`);
  return value;
}

function parse(text: string, start: number, inBraces: boolean, lookup: Lookup, unset: (name: string) => void, depth: number): { value: string; end: number } {
  let out = '';
  let i = start;
  while (i < text.length) {
    const c = text[i];
    if (inBraces && c === '}') return { value: out, end: i };
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const r = braced(text, i + 2, lookup, unset, depth + 1);
      out += r.value;
      i = r.end;
      continue;
    }
    const name = nameAt(text, i + 1);
    if (name === undefined) {
      // A lone `$` (e.g. at the end, or before a space) stays as written, as Compose does.
      out += '$';
      i++;
      continue;
    }
    out += resolve(name, lookup, unset);
    i += 1 + name.length;
  }
  if (inBraces) throw new InterpolationError(`invalid interpolation format in ${fragment(text)}: missing "}"`);
  return { value: out, end: i };
}

/** `${...}` starting after the `{`; returns the value and the index after the closing `}`. */
function braced(text: string, start: number, lookup: Lookup, unset: (name: string) => void, depth: number): { value: string; end: number } {
  const max = PARSE_BUDGET.maxInterpolationDepth;
  if (depth > max) throw new InterpolationError(`variables nested more than ${max} levels deep (\${A:-\${B:-…}}); the limit is ${max}`);
  const name = nameAt(text, start);
  if (name === undefined) throw new InterpolationError(`invalid interpolation format in ${fragment(text)}: expected a variable name after "\${"`);
  let i = start + name.length;
  if (text[i] === '}') return { value: resolve(name, lookup, unset), end: i + 1 };
  const op = text[i] === ':' ? text.slice(i, i + 2) : (text[i] ?? '');
  if (!['-', '?', '+', ':-', ':?', ':+'].includes(op)) {
    throw new InterpolationError(`invalid interpolation format in ${fragment(text)}: unexpected "${text[i] ?? 'end of text'}" after "\${${name}"`);
  }
  i += op.length;
  const value = lookup(name);
  const set = value !== undefined;
  const nonEmpty = set && value !== '';
  // The word is parsed (and its own variables resolved) only when it is used, as a shell does.
  const used = op === ':-' ? !nonEmpty : op === '-' ? !set : op === ':+' ? nonEmpty : op === '+' ? set : op === ':?' ? !nonEmpty : !set;
  const word = parse(text, i, true, used ? lookup : () => 'unused', used ? unset : () => {}, depth);
  const end = word.end + 1;
  switch (op) {
    case ':-':
    case '-':
      return { value: used ? word.value : (value ?? ''), end };
    case ':+':
    case '+':
      return { value: used ? word.value : '', end };
    default:
      if (used) throw new InterpolationError(`required variable ${name} is missing a value${word.value === '' ? '' : `: ${word.value}`}`);
      return { value: value ?? '', end };
  }
}

function resolve(name: string, lookup: Lookup, unset: (name: string) => void): string {
  const v = lookup(name);
  if (v === undefined) {
    unset(name);
    return '';
  }
  return v;
}

/**
 * Interpolates every string value of a parsed file in place (keys are left as written), and
 * reports each failure with its position and field path. Returns the warnings about unset
 * variables, once per variable.
 */
export function interpolateTree(root: unknown, lookup: Lookup): string[] {
  const problems: ComposeProblem[] = [];
  const unsetNames = new Set<string>();
  const walk = (node: unknown, path: string): void => {
    if (typeof node !== 'object' || node === null) return;
    const entries: [string | number, unknown][] = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node);
    for (const [k, v] of entries) {
      const p = typeof k === 'number' ? `${path}[${k}]` : path === '' ? k : `${path}.${k}`;
      if (typeof v === 'string') {
        try {
          (node as Record<string | number, unknown>)[k] = interpolateString(v, lookup, (n) => unsetNames.add(n));
        } catch (err) {
          if (!(err instanceof InterpolationError)) throw err;
          problems.push({ code: 'variable', pos: posOfValue(node, k), path: p, message: err.message });
        }
      } else walk(v, p);
    }
  };
  walk(root, '');
  if (problems.length > 0) throw new ComposeError(problems);
  return [...unsetNames].map((n) => `the "${n}" variable is not set; defaulting to a blank string`);
}
