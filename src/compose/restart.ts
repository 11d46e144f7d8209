/**
 * A service's `restart:` (Docker Compose's per-container policy) as a Flotilla restart policy,
 * mapped as `docker stack deploy` maps it when `deploy.restart_policy` is absent:
 * `always` and `unless-stopped` → condition `any` (Flotilla's default, so nothing is set and
 * nothing said), `on-failure[:N]` → `on-failure` (with `maxAttempts` N). `no` → `none`: the
 * container is not restarted, as it would not be under Compose (the docker CLI leaves Swarm's
 * default `any` here, which restarts what the file says must not be).
 */
export type RestartMapping =
  | { readonly kind: 'policy'; readonly condition?: 'none' | 'on-failure'; readonly maxAttempts?: number }
  | { readonly kind: 'invalid'; readonly message: string };

/** Maps `restart:`'s value; `policy` without a condition means Flotilla's default (`any`). */
export function mapRestart(value: unknown): RestartMapping {
  if (typeof value !== 'string') return { kind: 'invalid', message: `expected a string, got ${JSON.stringify(value)}` };
  const [name = '', count, ...rest] = value.trim().split(':');
  const expected = 'expected "no", "always", "on-failure", "on-failure:N" or "unless-stopped"';
  if (rest.length > 0) return { kind: 'invalid', message: `invalid restart policy ${JSON.stringify(value)}: ${expected}` };
  if (count !== undefined && name !== 'on-failure') {
    return { kind: 'invalid', message: `invalid restart policy ${JSON.stringify(value)}: only "on-failure" takes a maximum retry count` };
  }
  switch (name) {
    case 'no':
    case '':
      return { kind: 'policy', condition: 'none' };
    case 'always':
    case 'unless-stopped':
      return { kind: 'policy' };
    case 'on-failure': {
      if (count === undefined) return { kind: 'policy', condition: 'on-failure' };
      if (!/^\d+$/.test(count)) return { kind: 'invalid', message: `invalid restart policy ${JSON.stringify(value)}: the maximum retry count must be a whole number` };
      const n = Number(count);
      return n === 0 ? { kind: 'policy', condition: 'on-failure' } : { kind: 'policy', condition: 'on-failure', maxAttempts: n };
    }
    default:
      return { kind: 'invalid', message: `invalid restart policy ${JSON.stringify(value)}: ${expected}` };
  }
}
