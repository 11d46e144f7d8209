import type { YAMLError } from 'yaml';
import type { ComposeProblem, Pos } from './errors.ts';

/**
 * YAML syntax errors as a user wants them: the first one only (the rest are usually its echo),
 * in plain words ("bad indentation"), and never more than
 * a short fragment of the input (binary garbage must not come back as a 100 KB message).
 */

/** The longest piece of the input a message quotes. */
export const MAX_FRAGMENT = 40;

/** `text` as a quoted, escaped fragment of at most MAX_FRAGMENT characters (`"abc…"`). */
export function fragment(text: string): string {
  const cut = [...text.slice(0, MAX_FRAGMENT + 1)];
  const shown = cut.length > MAX_FRAGMENT ? `${cut.slice(0, MAX_FRAGMENT).join('')}…` : cut.join('');
  return JSON.stringify(shown);
}

/** Resolves a source offset to a position. */
export type At = (offset: number | undefined) => Pos;

/** The problem to report for a document's syntax errors: only the first, in plain words. */
export function syntaxProblem(errors: readonly YAMLError[], at: At): ComposeProblem {
  const e = errors[0] as YAMLError;
  const pos = at(e.pos[0]);
  return { code: 'syntax', pos, path: '', message: `invalid YAML: ${plainMessage(e)}` };
}

function plainMessage(e: YAMLError): string {
  switch (e.code) {
    case 'BAD_INDENT':
      return `bad indentation: ${lowerFirst(libMessage(e))}`;
    case 'TAB_AS_INDENT':
      return 'bad indentation: a tab is used to indent; YAML indents with spaces only';
    case 'BLOCK_AS_IMPLICIT_KEY':
      return 'bad indentation, or a value containing ": " that should be quoted: a mapping cannot start inside this value';
    case 'MULTILINE_IMPLICIT_KEY':
      return 'bad indentation, or a missing ":": a key must be on one line';
    case 'MULTIPLE_DOCS':
      return 'more than one YAML document (a "---" line) in one compose file';
    default:
      return libMessage(e);
  }
}

/** The library's message, first line, without its own position and with any quoted input capped. */
function libMessage(e: YAMLError): string {
  const first = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
  // Messages quote the offending token (`…: "…"`), which can be the whole rest of the file.
  const capped = first.replace(/"(?:[^"\\]|\\.)*"?/g, (q) => {
    let inner = q.slice(1, q.endsWith('"') && q.length > 1 ? -1 : undefined);
    try {
      inner = JSON.parse(`"${inner}"`) as string;
    } catch {
      // not a JSON string: show it as it is
    }
    return fragment(inner);
  });
  return capped.length > 200 ? `${capped.slice(0, 200)}…` : capped;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/**
 * Finds what YAML does not allow in a text at all, before it is parsed: control characters
 * (YAML allows tab, line feed and carriage return only; Docker Compose refuses the others,
 * "control characters are not allowed"), U+FFFE/U+FFFF, and a lone surrogate (a string that
 * is no Unicode text; JSON can carry one). U+FFFD is valid text: bytes that are not UTF-8 are
 * refused where files are read (`utf8.ts`). Returns the offset and what it found.
 */
export function badCharacter(text: string): { offset: number; message: string } | undefined {
  const m = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u0084\u0086-\u009F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(text);
  if (!m) return undefined;
  const code = m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
  if (m[0] >= '\uD800' && m[0] <= '\uDFFF') return { offset: m.index, message: `a lone surrogate (U+${code}) is not Unicode text` };
  return { offset: m.index, message: `control character U+${code} is not allowed in YAML (a binary file?)` };
}

/** `duplicate key "image" (first at line 3, column 5)`. */
export function duplicateKeyMessage(key: string, first: Pos | undefined): string {
  return `invalid YAML: duplicate key ${fragment(key)}${first ? ` (first at line ${first.line}, column ${first.col})` : ''}`;
}
