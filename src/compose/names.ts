/** How a stack names and labels its objects, as `docker stack deploy` does. */

/** The label every object of a stack carries (Docker's). */
export const STACK_NAMESPACE_LABEL = 'com.docker.stack.namespace';

/** An object's name inside a stack: `STACK_name`. */
export function scopedName(stack: string, name: string): string {
  return `${stack}_${name}`;
}

/**
 * The name a top-level network, volume, secret or config gets on the cluster: the `name:` it
 * gives (used as is, as Compose does), else the compose key as is when `external`, else
 * `STACK_key`.
 */
export function resourceName(stack: string, key: string, config: Record<string, unknown> | undefined): string {
  const given = typeof config?.['name'] === 'string' ? config['name'] : undefined;
  if (given !== undefined) return given;
  return config?.['external'] === true ? key : scopedName(stack, key);
}
