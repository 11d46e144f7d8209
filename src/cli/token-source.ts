import { readFile } from 'node:fs/promises';
import { UsageError } from './parse.ts';

/** The environment variable `flotilla join`'s token (usually a worker token) may come from, kept out of `ps`. */
export const JOIN_TOKEN_ENV = 'FLOTILLA_JOIN_TOKEN';

/**
 * The environment variable `flotilla server`'s manager token may come from. Not
 * `FLOTILLA_JOIN_TOKEN`: a worker token exported for `join` must not turn a plain
 * `flotilla server` into a manager join.
 */
export const MANAGER_TOKEN_ENV = 'FLOTILLA_MANAGER_TOKEN';

/** A join token and where it came from, for messages (`--join-token`, `--join-token-file FILE`, `FLOTILLA_MANAGER_TOKEN`). */
export interface JoinTokenSource {
  readonly token: string;
  readonly from: string;
}

/** The two flags of one command that may carry a join token. */
export interface JoinTokenFlags {
  /** `--join-token` (`server`) or `--token` (`join`). */
  readonly flag: string;
  /** `--join-token-file` or `--token-file`. */
  readonly fileFlag: string;
  /** `MANAGER_TOKEN_ENV` (`server`) or `JOIN_TOKEN_ENV` (`join`). */
  readonly envVar: string;
}

/**
 * The join token of a command: from its token flag (visible in `ps`), its file flag (FILE's
 * text, trimmed), or else its environment variable (an empty value counts as unset).
 * Both flags at once, a file that cannot be read, and an empty file are usage errors; no token
 * at all is undefined.
 */
export async function resolveJoinToken(
  names: JoinTokenFlags,
  given: { readonly token?: string | undefined; readonly file?: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
): Promise<JoinTokenSource | undefined> {
  if (given.token !== undefined && given.file !== undefined) {
    throw new UsageError(`${names.flag} and ${names.fileFlag} both give the join token: use one (${names.fileFlag} keeps it out of the process list)`);
  }
  if (given.token !== undefined) return { token: given.token.trim(), from: names.flag };
  if (given.file !== undefined) {
    let text: string;
    try {
      text = await readFile(given.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
      throw new UsageError(`cannot read ${names.fileFlag} ${given.file}: ${why}`, { cause: err });
    }
    const token = text.trim();
    if (token === '') throw new UsageError(`${names.fileFlag} ${given.file} is empty: it should hold the join token (\`flotilla token worker|manager -q\` prints it)`);
    return { token, from: `${names.fileFlag} ${given.file}` };
  }
  const fromEnv = env[names.envVar]?.trim();
  return fromEnv === undefined || fromEnv === '' ? undefined : { token: fromEnv, from: names.envVar };
}
