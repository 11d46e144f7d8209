import type { ErrorDetail } from '../../../api/errors.ts';
import { STACK_WARNING_PATH } from './stack-names.ts';

/** A problem the compose loader found at a place in the pasted file. */
export interface LocatedProblem {
  readonly line: number;
  readonly column: number;
  /** The field path (`services.web.deploy.replicas`), or '' when the problem is the file's syntax. */
  readonly path: string;
  /** What is wrong, without the location and path. */
  readonly message: string;
  /** The whole line as the API sent it (`compose.yaml:3:5: services.web.imgae: unknown key …`). */
  readonly text: string;
}

/** A refused stack's details, sorted into what to show where. */
export interface StackProblems {
  /** Problems in `file`, by place: shown beside their line in the editor. */
  readonly located: readonly LocatedProblem[];
  /** Problems without a place in `file` (the request, another file): shown above the editor. */
  readonly other: readonly string[];
  /** Warnings the loader found before the problems (an unset variable may be their cause). */
  readonly warnings: readonly string[];
}

/** `FILE:LINE:COL: rest` — FILE may hold colons, so the numbers are found from the right. */
const LOCATED = /^(.*):(\d+):(\d+): (.*)$/s;

/**
 * Sorts the details of a refused stack deploy (`invalid_argument`, one detail per problem, each
 * reading `FILE:LINE:COL: path: message`; warnings first, with the path `(warning)`) into the
 * problems located in `file` (the pasted compose file's key), the others, and the warnings.
 */
export function stackProblems(details: readonly ErrorDetail[], file: string): StackProblems {
  const located: LocatedProblem[] = [];
  const other: string[] = [];
  const warnings: string[] = [];
  for (const d of details) {
    if (d.path === STACK_WARNING_PATH) {
      warnings.push(d.message);
      continue;
    }
    const m = LOCATED.exec(d.message);
    // Without a working directory the manager names the pasted file from the root: `/compose.yaml`.
    if (!m || (m[1] !== file && m[1] !== `/${file}`)) {
      other.push(d.message);
      continue;
    }
    const rest = m[4] ?? '';
    const path = d.path !== '' && rest.startsWith(`${d.path}: `) ? d.path : '';
    located.push({ line: Number(m[2]), column: Number(m[3]), path, message: path === '' ? rest : rest.slice(path.length + 2), text: d.message });
  }
  located.sort((a, b) => a.line - b.line || a.column - b.column);
  return { located, other, warnings };
}

/** The problems of each line (1-based), for the editor's markers. */
export function problemsByLine(problems: readonly LocatedProblem[]): Map<number, LocatedProblem[]> {
  const by = new Map<number, LocatedProblem[]>();
  for (const p of problems) {
    const list = by.get(p.line);
    if (list) list.push(p);
    else by.set(p.line, [p]);
  }
  return by;
}

/** The offset in `text` of `line`:`column` (both 1-based), clamped to the text: where the editor puts the cursor. */
export function offsetOf(text: string, line: number, column: number): number {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', offset);
    if (nl < 0) return text.length;
    offset = nl + 1;
  }
  const end = text.indexOf('\n', offset);
  const lineEnd = end < 0 ? text.length : end;
  return Math.min(offset + Math.max(0, column - 1), lineEnd);
}
