/**
 * The base of every boundary's error type (STYLE rule 7): a `code` callers switch on, the
 * message, readonly fields the subclass adds, and a `cause`. Each boundary declares its own
 * subclass with its own code union and `name`, and checks errors with a type guard, never by
 * matching message text:
 *
 * ```ts
 * export type StoreErrorCode = 'conflict' | 'not_found';
 * export class StoreError extends CodedError<StoreErrorCode> {
 *   override readonly name = 'StoreError';
 * }
 * export const isStoreError = errorGuard(StoreError);
 * ```
 */
export class CodedError<C extends string> extends Error {
  readonly code: C;

  /** `cause` is set only when given (an absent cause leaves no `cause` property). */
  constructor(code: C, message: string, options?: { readonly cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** Whether `e` is a coded error of any boundary. */
export function isCodedError(e: unknown): e is CodedError<string> {
  return e instanceof CodedError;
}

/**
 * The type guard of one error class: `errorGuard(StoreError)(e)` is `e instanceof StoreError`.
 * The guard takes exactly one argument, so it is safe to pass to `filter` and the like.
 */
export function errorGuard<E extends Error>(type: abstract new (...args: never[]) => E): (e: unknown) => e is E {
  return (e: unknown): e is E => e instanceof type;
}
