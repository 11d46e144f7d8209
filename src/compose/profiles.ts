import type { ServiceConfig } from './model.ts';

/**
 * Splits services into active and disabled by profile: a service without `profiles` is always
 * active; one with profiles only when one of them is enabled (`*` enables every profile).
 */
export function applyProfiles(
  services: Record<string, ServiceConfig>,
  enabled: readonly string[],
): { active: Record<string, ServiceConfig>; disabled: Record<string, ServiceConfig> } {
  const all = enabled.includes('*');
  const active: Record<string, ServiceConfig> = {};
  const disabled: Record<string, ServiceConfig> = {};
  for (const [name, s] of Object.entries(services)) {
    const on = s.profiles === undefined || s.profiles.length === 0 || all || s.profiles.some((p) => enabled.includes(p));
    (on ? active : disabled)[name] = s;
  }
  return { active, disabled };
}

/** `--profile` flags plus `COMPOSE_PROFILES` (comma-separated), without blanks or repeats. */
export function enabledProfiles(flags: readonly string[], env: Readonly<Record<string, string | undefined>>): string[] {
  const fromEnv = (env['COMPOSE_PROFILES'] ?? '').split(',').map((p) => p.trim());
  return [...new Set([...flags, ...fromEnv].filter((p) => p !== ''))];
}
