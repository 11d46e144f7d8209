import { Composer, CST, isAlias, isMap, isPair, isScalar, isSeq, Lexer, LineCounter, Parser, YAMLParseError, type Document, type Node as YamlNode } from 'yaml';
import { indexAliases } from './aliases.ts';
import { PARSE_BUDGET, type ParseBudget } from './budget.ts';
import { ComposeError, type Pos } from './errors.ts';
import { badCharacter, duplicateKeyMessage, syntaxProblem } from './yaml-errors.ts';

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

/** Whether a parsed file defines nothing: no document, or an empty mapping (`{}`). */
export function isEmptyFile(value: unknown): boolean {
  return value === null || (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0);
}

/** A parsed compose file: its plain value (a mapping, or null for an empty file). */
export interface ParsedFile {
  readonly file: string;
  readonly value: unknown;
}

/**
 * Parses YAML text within `budget`; every syntax error, bad character and exceeded budget comes
 * back as a ComposeError with one located problem (the first; later ones are usually its echo).
 * The text is lexed and parsed token by token so that the size, node-count and depth budgets
 * stop a hostile file as soon as it crosses them, before the library builds anything big.
 */
export function parseYaml(text: string, file: string, budget: ParseBudget = PARSE_BUDGET): ParsedFile {
  const lineCounter = new LineCounter();
  const posCache = new Map<number, Pos>();
  const at = (offset: number | undefined): Pos => {
    const o = offset ?? 0;
    let p = posCache.get(o);
    if (!p) {
      const { line, col } = lineCounter.linePos(o);
      posCache.set(o, (p = { file, line, col }));
    }
    return p;
  };
  const over = (offset: number, what: string, code: 'limit' | 'syntax' = 'limit'): never => {
    // Counted here: the lexer has not reached every line yet.
    let line = 1;
    let start = 0;
    for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) [line, start] = [line + 1, i + 1];
    throw new ComposeError([{ code, pos: { file, line, col: offset - start + 1 }, path: '', message: what }]);
  };
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > budget.maxBytes) over(0, `the file is ${bytes} bytes; the limit is ${budget.maxBytes} bytes`);
  const bad = badCharacter(text);
  if (bad) over(bad.offset, `invalid YAML: ${bad.message}`, 'syntax');

  // A big file is first only lexed (several times faster than parsing), so a file of too many
  // nodes is refused before the parser and composer spend anything on it.
  if (text.length > PRESCAN_FROM) {
    let count = 0;
    let offset = 0;
    for (const lexeme of new Lexer().lex(text)) {
      const type = CST.tokenType(lexeme);
      if (NODE_TOKENS.has(type ?? '') && ++count > budget.maxNodes) over(offset, nodesMessage(budget));
      // The lexer's own markers are not in the text.
      if (type !== 'scalar' && type !== 'doc-mode' && type !== 'flow-error-end') offset += lexeme.length;
    }
  }
  const parser = new Parser(lineCounter.addNewLine);
  lineCounter.addNewLine(0); // Parser.parse() does this; we drive Parser.next() ourselves
  let nodes = 0;
  function* tokens(): Generator<CST.Token> {
    for (const lexeme of new Lexer().lex(text)) {
      const offset = parser.offset;
      yield* parser.next(lexeme);
      if (parser.stack.length > budget.maxDepth + 2) over(offset, `nesting deeper than ${budget.maxDepth} levels; the limit is ${budget.maxDepth}`);
      if (NODE_TOKENS.has(CST.tokenType(lexeme) ?? '') && ++nodes > budget.maxNodes) over(offset, nodesMessage(budget));
    }
    yield* parser.end();
  }
  const composer = new Composer({
    prettyErrors: false,
    // Checked while building the values: the library's check compares each key with every
    // earlier one, quadratic in a mapping's size.
    uniqueKeys: false,
    customTags: [
      { tag: '!reset', resolve: (s: string) => s, identify: () => false },
      { tag: '!override', resolve: (s: string) => s, identify: () => false },
    ],
  });
  let doc: Document.Parsed | undefined;
  for (const d of composer.compose(tokens(), true, text.length)) {
    if (!doc) doc = d;
    else {
      doc.errors.push(new YAMLParseError(d.range.slice(0, 2) as [number, number], 'MULTIPLE_DOCS', 'more than one document'));
      break;
    }
  }
  if (!doc) return { file, value: null };
  if (doc.errors.length > 0) throw new ComposeError([syntaxProblem(doc.errors, at)]);
  const aliases = indexAliases(doc, budget);
  if (aliases.overflowAt !== undefined) throw new ComposeError([{ code: 'limit', pos: at(aliases.overflowAt), path: '', message: expandedMessage(budget) }]);
  const walk: Walk = { targets: aliases.targets, at, budget, expanded: 0, aliasAt: undefined };
  return { file, value: toPlain(doc.contents as YamlNode | null, walk, 0) };
}

/** Texts longer than this are lexed once on their own first, to count their nodes. */
const PRESCAN_FROM = 256 * 1024;

function nodesMessage(budget: ParseBudget): string {
  return `more than ${budget.maxNodes} YAML nodes; the limit is ${budget.maxNodes}`;
}

/** Lexemes that start a node: a plain scalar, a quoted one, a block scalar, an alias, a flow collection. */
const NODE_TOKENS = new Set(['scalar', 'single-quoted-scalar', 'double-quoted-scalar', 'block-scalar-header', 'alias', 'flow-map-start', 'flow-seq-start']);

interface Walk {
  /** What each alias refers to. */
  readonly targets: Map<YamlNode, YamlNode>;
  readonly at: (offset: number | undefined) => Pos;
  readonly budget: ParseBudget;
  /** Nodes built through aliases so far, each alias use counting its whole target again. */
  expanded: number;
  /** Where the outermost alias being expanded is, if any. */
  aliasAt: number | undefined;
}

/**
 * The plain value of `node`. Every node built counts against `maxExpandedNodes` (an alias or
 * `<<` merge source counts its whole target each time it is used) and every level against
 * `maxDepth`, so a billion laughs stops after the budget's worth of work, at the alias that
 * crossed it.
 */
function toPlain(node: YamlNode | null, w: Walk, depth: number): unknown {
  if (node === null) return null;
  const { at, budget } = w;
  if (depth > budget.maxDepth) overBudget(w, node, `nesting deeper than ${budget.maxDepth} levels after expanding aliases (an alias inside its own anchor?); the limit is ${budget.maxDepth}`);
  if (isAlias(node)) {
    // Expansion budgets are reported at the outermost alias being expanded: the line that blows up.
    const outermost = w.aliasAt === undefined;
    if (outermost) w.aliasAt = node.range?.[0];
    const value = toPlain(w.targets.get(node) ?? null, w, depth);
    if (outermost) w.aliasAt = undefined;
    return value;
  }
  if (w.aliasAt !== undefined && ++w.expanded > budget.maxExpandedNodes) overBudget(w, node, expandedMessage(budget));
  if (isScalar(node)) return node.value ?? null;
  if (isSeq(node)) {
    const out: unknown[] = [];
    setPos(out, at(node.range?.[0]));
    node.items.forEach((item, i) => {
      out.push(toPlain(item as YamlNode | null, w, depth + 1));
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
      const key = String(isScalar(keyNode) ? keyNode.value : toPlain(keyNode, w, depth + 1));
      const valueNode = pair.value as YamlNode | null;
      if (key === '<<' && isScalar(keyNode) && keyNode.source === '<<') {
        // YAML merge key: `<<: *anchor` or `<<: [*a, *b]`; earlier sources win, local keys win over all.
        const v = toPlain(valueNode, w, depth + 1);
        for (const m of Array.isArray(v) ? v : [v]) if (m !== null && typeof m === 'object' && !Array.isArray(m)) merged.push(m as Record<string, unknown>);
        continue;
      }
      if (key === '__proto__') {
        // On a plain object `out.__proto__ = v` sets the prototype: `services.web.__proto__: {privileged: true}` would
        // reach the spec through every inherited read. Compose's Go maps take it as a key like any; no real file uses it.
        throw new ComposeError([{ code: 'syntax', pos: at(keyNode?.range?.[0]), path: '', message: 'invalid YAML: "__proto__" is not allowed as a key' }]);
      }
      if (Object.hasOwn(out, key)) {
        throw new ComposeError([{ code: 'syntax', pos: at(keyNode?.range?.[0]), path: '', message: duplicateKeyMessage(key, posOfKey(out, key)?.key) }]);
      }
      out[key] = toPlain(valueNode, w, depth + 1);
      const tag = valueNode?.tag === '!reset' ? 'reset' : valueNode?.tag === '!override' ? 'override' : undefined;
      const kp: KeyPos = { key: at(keyNode?.range?.[0]), value: at(valueNode?.range?.[0] ?? keyNode?.range?.[1]) };
      setKeyPos(out, key, tag ? { ...kp, tag } : kp);
    }
    for (const m of merged) {
      for (const k in m) {
        if (Object.hasOwn(out, k)) continue;
        // Copying a merged key is work a nested `<<: [*a, *a]` multiplies: it counts too.
        if (++w.expanded > budget.maxExpandedNodes) overBudget(w, node, expandedMessage(budget));
        out[k] = m[k];
        setKeyPos(out, k, posOfKey(m, k));
      }
    }
    return out;
  }
  return null;
}

function expandedMessage(budget: ParseBudget): string {
  return `aliases and merge keys expand to more than ${budget.maxExpandedNodes} nodes (a "billion laughs"?); the limit is ${budget.maxExpandedNodes}`;
}

function overBudget(w: Walk, node: YamlNode, what: string): never {
  throw new ComposeError([{ code: 'limit', pos: w.at(w.aliasAt ?? node.range?.[0]), path: '', message: what }]);
}
