import { CodedError, errorGuard } from '../lib/coded-error.ts';

/** A place in a file; line and column count from 1. */
export interface Pos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** What kind of problem a compose file has; tests and callers branch on it, never on messages. */
export type ComposeErrorCode =
  | 'syntax'
  | 'type'
  | 'unknown_key'
  | 'variable'
  | 'missing_file'
  | 'reference'
  | 'cycle'
  | 'invalid_value'
  /** A budget of `budget.ts` exceeded: the file is too big, too deep or expands too far. */
  | 'limit';

/** One problem in one place: `FILE:LINE:COL: services.web.deploy.replicas: expected an integer, got "three"`. */
export interface ComposeProblem {
  readonly code: ComposeErrorCode;
  /** Where the problem is; absent only when no file position is known (e.g. a file that cannot be read). */
  readonly pos: Pos | undefined;
  /** Field path, `services.web.ports[0]`; empty for the whole file. */
  readonly path: string;
  readonly message: string;
}

/** The one line a problem prints as. */
export function formatProblem(p: ComposeProblem): string {
  const where = p.pos ? `${p.pos.file}:${p.pos.line}:${p.pos.col}: ` : '';
  // A path is made of the file's keys, which a hostile file makes as long as it likes.
  const path = p.path.length > MAX_PATH ? `${p.path.slice(0, MAX_PATH)}…` : p.path;
  return `${where}${path === '' ? '' : `${path}: `}${p.message}`;
}

const MAX_PATH = 200;
/** The longest string value a message quotes (`got "…"`). */
const MAX_QUOTED = 40;

/**
 * The compose loader's one error type: one or more problems, each with file, line, column and
 * field path. Loading stops at the first stage that finds problems and reports all of that
 * stage's problems at once.
 */
export class ComposeError extends CodedError<ComposeErrorCode> {
  override readonly name = 'ComposeError';
  readonly problems: readonly ComposeProblem[];
  /** What the load found before it failed (unset variables, obsolete keys), to print before the problems. */
  readonly warnings: readonly string[];

  /** `code` is the code of the first problem. */
  constructor(problems: readonly ComposeProblem[], options?: { cause?: unknown; warnings?: readonly string[] }) {
    super(problems[0]?.code ?? 'invalid_value', problems.map(formatProblem).join('\n'), options);
    this.problems = problems;
    this.warnings = options?.warnings ?? [];
  }
}

/** `err` with `warnings` added (in front of its own), when it is a ComposeError; any other error unchanged. */
export function withWarnings(err: unknown, warnings: readonly string[]): unknown {
  if (!(err instanceof ComposeError) || warnings.length === 0) return err;
  return new ComposeError(err.problems, { cause: err.cause, warnings: [...warnings, ...err.warnings.filter((w) => !warnings.includes(w))] });
}

export const isComposeError = errorGuard(ComposeError);

/** Shorthand: throws a ComposeError with one problem. */
export function fail(code: ComposeErrorCode, pos: Pos | undefined, path: string, message: string): never {
  throw new ComposeError([{ code, pos, path, message }]);
}

/** How a found value reads in a message: `"three"`, `3`, `a mapping`, `a list`, `null`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > MAX_QUOTED ? `${v.slice(0, MAX_QUOTED)}…` : v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}
