import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { ComposeError, type ComposeProblem, type Pos } from './errors.ts';

/**
 * YAML → plain values, remembering where each came from. Positions live in side tables keyed
 * by the parsed objects and arrays (a container's own position, and per key the positions of
 * the key and of its value), so the values stay plain JSON for the rest of the pipeline and
 * every later stage can still say `file:line:column` about what it looks at.
 */

/** Where a key and its value are, and the `!reset` / `!override` tag on the value, if any. */
export interface KeyPos {
  readonly key: Pos;
  readonly value: Pos;
  readonly tag?: 'reset' | 'override';
}

const selfPos = new WeakMap<object, Pos>();
const keyPos = new WeakMap<object, Map<string | number, KeyPos>>();

/** Where a mapping or list starts. */
export function posOf(obj: unknown): Pos | undefined {
  return typeof obj === 'object' && obj !== null ? selfPos.get(obj) : undefined;
}

/** Where key `key` of `obj` (a mapping key or a list index) and its value are. */
export function posOfKey(obj: unknown, key: string | number): KeyPos | undefined {
  return typeof obj === 'object' && obj !== null ? keyPos.get(obj)?.get(key) : undefined;
}

/** The value's position if known, else the container's. */
export function posOfValue(obj: unknown, key: string | number): Pos | undefined {
  return posOfKey(obj, key)?.value ?? posOf(obj);
}

export function setPos(obj: object, pos: Pos | undefined): void {
  if (pos) selfPos.set(obj, pos);
}

export function setKeyPos(obj: object, key: string | number, pos: KeyPos | undefined): void {
  if (!pos) return;
  let m = keyPos.get(obj);
  if (!m) keyPos.set(obj, (m = new Map()));
  m.set(key, pos);
}

/** Copies `from`'s own position (if `to` has none) and all of its key positions onto `to`. */
export function copyPositions(from: unknown, to: object): void {
  if (typeof from !== 'object' || from === null) return;
  if (!selfPos.has(to)) setPos(to, selfPos.get(from));
  for (const [k, p] of keyPos.get(from) ?? []) setKeyPos(to, k, p);
}

/** A parsed compose file: its plain value (a mapping, or null for an empty file). */
export interface ParsedFile {
  readonly file: string;
  readonly value: unknown;
}

/** Parses YAML text; syntax errors come back as a ComposeError with their positions. */
export function parseYaml(text: string, file: string): ParsedFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    customTags: [
      { tag: '!reset', resolve: (s: string) => s, identify: () => false },
      { tag: '!override', resolve: (s: string) => s, identify: () => false },
    ],
  });
  const at = (offset: number | undefined): Pos => {
    const { line, col } = lineCounter.linePos(offset ?? 0);
    return { file, line, col };
  };
  if (doc.errors.length > 0) {
    const problems: ComposeProblem[] = doc.errors.map((e) => ({
      code: 'syntax',
      pos: at(e.pos[0]),
      path: '',
      message: `invalid YAML: ${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`,
    }));
    throw new ComposeError(problems);
  }
  return { file, value: toPlain(doc.contents as YamlNode | null, doc, at) };
}

function toPlain(node: YamlNode | null, doc: Document, at: (offset: number | undefined) => Pos, depth = 0): unknown {
  if (node === null) return null;
  if (depth > 100) throw new ComposeError([{ code: 'syntax', pos: at(node.range?.[0]), path: '', message: 'invalid YAML: nesting too deep (alias loop?)' }]);
  if (isAlias(node)) return toPlain(node.resolve(doc) as YamlNode | null, doc, at, depth + 1);
  if (isScalar(node)) return node.value ?? null;
  if (isSeq(node)) {
    const out: unknown[] = [];
    setPos(out, at(node.range?.[0]));
    node.items.forEach((item, i) => {
      out.push(toPlain(item as YamlNode | null, doc, at, depth + 1));
      const p = at((item as YamlNode | null)?.range?.[0] ?? node.range?.[0]);
      setKeyPos(out, i, { key: p, value: p });
    });
    return out;
  }
  if (isMap(node)) {
    const out: Record<string, unknown> = {};
    setPos(out, at(node.range?.[0]));
    const merged: Record<string, unknown>[] = [];
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const keyNode = pair.key as YamlNode | null;
      const key = String(isScalar(keyNode) ? keyNode.value : toPlain(keyNode, doc, at, depth + 1));
      const valueNode = pair.value as YamlNode | null;
      if (key === '<<' && isScalar(keyNode) && keyNode.source === '<<') {
        // YAML merge key: `<<: *anchor` or `<<: [*a, *b]`; earlier sources win, local keys win over all.
        const v = toPlain(valueNode, doc, at, depth + 1);
        for (const m of Array.isArray(v) ? v : [v]) if (m !== null && typeof m === 'object' && !Array.isArray(m)) merged.push(m as Record<string, unknown>);
        continue;
      }
      out[key] = toPlain(valueNode, doc, at, depth + 1);
      const tag = valueNode?.tag === '!reset' ? 'reset' : valueNode?.tag === '!override' ? 'override' : undefined;
      const kp: KeyPos = { key: at(keyNode?.range?.[0]), value: at(valueNode?.range?.[0] ?? keyNode?.range?.[1]) };
      setKeyPos(out, key, tag ? { ...kp, tag } : kp);
    }
    for (const m of merged) {
      for (const [k, v] of Object.entries(m)) {
        if (k in out) continue;
        out[k] = v;
        setKeyPos(out, k, posOfKey(m, k));
      }
    }
    return out;
  }
  return null;
}
