/**
 * A constant of `src/api/stack.ts`, repeated here because that module's schemas pull in Node
 * modules (`node:crypto`, through the build schemas) that the browser bundle cannot load. The
 * unit test checks it stays equal. (`STACK_LABEL` is repeated once, in `../usage.ts`.)
 */

/** `STACK_WARNING_PATH`: the detail path of a warning among a refused stack's problems. */
export const STACK_WARNING_PATH = '(warning)';
