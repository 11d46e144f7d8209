import { ComposeError } from './errors.ts';
import { interpolateString, InterpolationError, type Lookup } from './interpolate.ts';

/**
 * The `.env` / `env_file` format of the Compose Specification: `KEY=VAL` lines, blank lines
 * and `#` comment lines ignored, an optional `export ` prefix; values unquoted (trimmed, an
 * inline comment needs a space before its `#`), single-quoted (literal) or double-quoted
 * (escapes `\n \r \t \\ \" \$`, may span lines; an inline comment may follow the closing
 * quote). Unquoted and double-quoted values are interpolated against variables defined
 * earlier in the file, then `lookup`. A bare `KEY` takes its value from `lookup`, or stays
 * unset.
 */
export function parseDotenv(text: string, file: string, lookup: Lookup = () => undefined): Map<string, string> {
  const vars = new Map<string, string>();
  const lookupAll: Lookup = (n) => vars.get(n) ?? lookup(n);
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i] ?? '';
    const line = raw.trimStart();
    if (line === '' || line.startsWith('#')) continue;
    const col = raw.length - line.length + 1;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(=|$)/.exec(line);
    if (!m) {
      throw new ComposeError([{ code: 'syntax', pos: { file, line: lineNo, col }, path: '', message: `invalid line ${JSON.stringify(raw.trim())}: expected KEY=VALUE` }]);
    }
    const key = m[1] ?? '';
    if (m[2] === '') {
      const v = lookup(key);
      if (v !== undefined) vars.set(key, v);
      continue;
    }
    let rest = line.slice(m[0].length).trimStart();
    const valueCol = col + line.length - rest.length;
    const bad = (msg: string): never => {
      throw new ComposeError([{ code: 'syntax', pos: { file, line: lineNo, col: valueCol }, path: key, message: msg }]);
    };
    const interpolate = (v: string): string => {
      try {
        return interpolateString(v, lookupAll);
      } catch (err) {
        if (err instanceof InterpolationError) return bad(err.message);
        throw err;
      }
    };
    let value: string;
    if (rest.startsWith("'")) {
      let end = rest.indexOf("'", 1);
      while (end < 0 && i + 1 < lines.length) {
        rest += `\n${lines[++i] ?? ''}`;
        end = rest.indexOf("'", 1);
      }
      if (end < 0) bad('unterminated single-quoted value');
      value = rest.slice(1, end);
      checkTrailing(rest.slice(end + 1), bad);
    } else if (rest.startsWith('"')) {
      let end = closingQuote(rest);
      while (end < 0 && i + 1 < lines.length) {
        rest += `\n${lines[++i] ?? ''}`;
        end = closingQuote(rest);
      }
      if (end < 0) bad('unterminated double-quoted value');
      value = interpolate(unescape(rest.slice(1, end)));
      checkTrailing(rest.slice(end + 1), bad);
    } else {
      const hash = rest.search(/\s#/);
      value = interpolate((hash < 0 ? rest : rest.slice(0, hash)).trim());
    }
    vars.set(key, value);
  }
  return vars;
}

function closingQuote(s: string): number {
  for (let j = 1; j < s.length; j++) {
    if (s[j] === '\\') j++;
    else if (s[j] === '"') return j;
  }
  return -1;
}

function unescape(s: string): string {
  // `\$` keeps a literal dollar through interpolation by becoming `$$`.
  return s.replace(/\\(.)/gs, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"', $: '$$' })[c] ?? `\\${c}`);
}

function checkTrailing(after: string, bad: (msg: string) => never): void {
  const t = after.trim();
  if (t !== '' && !t.startsWith('#')) bad(`unexpected text after the closing quote: ${JSON.stringify(t)}`);
}
