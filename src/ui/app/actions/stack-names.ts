/**
 * Two constants of `src/api/stack.ts`, repeated here because that module's schemas pull in Node
 * modules (`node:crypto`, through the build schemas) that the browser bundle cannot load. The
 * unit test checks they stay equal.
 */

/** `STACK_LABEL`: the label every object of a stack carries, valued with the stack's name. */
export const STACK_LABEL = 'com.docker.stack.namespace';

/** `STACK_WARNING_PATH`: the detail path of a warning among a refused stack's problems. */
export const STACK_WARNING_PATH = '(warning)';
