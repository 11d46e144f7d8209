import type { ServiceSpec } from '../../api/service.ts';
import { formatBytes, formatCpus } from './usage.ts';

/** One readable line of a spec: a term and its value (what is at a default is left out). */
export type SpecFact = readonly [term: string, value: string];

/**
 * A service spec as a person reads it: what runs, with what, where, and how it rolls out —
 * one line per field that says something, defaults left out. Pure (the spec view draws it,
 * beside the raw JSON).
 */
export function specFacts(spec: ServiceSpec): SpecFact[] {
  const t = spec.taskTemplate;
  const c = t.container;
  const out: [string, string][] = [];
  const add = (term: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') out.push([term, value]);
  };
  add('mode', spec.mode === 'replicated' || spec.mode === 'replicated-job' ? `${spec.mode}, ${spec.replicas} replica${spec.replicas === 1 ? '' : 's'}` : spec.mode);
  add('driver', t.driver);
  add('image', c.image);
  add('command', c.command?.join(' '));
  add('args', c.args?.join(' '));
  add('environment', (c.env ?? []).join('\n'));
  add('workdir', c.workdir);
  add('user', c.user);
  add('hostname', c.hostname);
  add('mounts', (c.mounts ?? []).map((m) => `${m.type} ${m.source ?? ''}${m.source ? ' → ' : ''}${m.target}${m.readOnly ? ' (read-only)' : ''}`).join('\n'));
  add('secrets', (c.secrets ?? []).map((r) => `${r.name}${r.target ? ` → ${r.target}` : ''}`).join(', '));
  add('configs', (c.configs ?? []).map((r) => `${r.name}${r.target ? ` → ${r.target}` : ''}`).join(', '));
  const hc = c.healthcheck;
  if (hc && hc.test?.[0] !== 'NONE') {
    const probe = hc.test ? hc.test.join(' ') : hc.http ? `GET :${hc.http.port}${hc.http.path}` : hc.tcp ? `tcp :${hc.tcp.port}` : '';
    add('health check', `${probe} every ${hc.intervalMs / 1000}s, ${hc.retries} retries`);
  }
  const res = t.resources;
  add('reserves', amounts(res.reservations));
  add('limits', amounts(res.limits));
  const p = t.placement;
  add('constraints', p.constraints.join(', '));
  add('preferences', (p.preferences ?? []).map((x) => `spread ${x.spread}`).join(', '));
  if (p.maxReplicasPerNode > 0) add('max per node', String(p.maxReplicasPerNode));
  add('networks', t.networks.map((n) => n.target + (n.aliases.length > 0 ? ` (${n.aliases.join(', ')})` : '')).join(', '));
  add('ports', spec.endpoint.ports.map((x) => `${x.published}→${x.target}/${x.protocol}${x.mode === 'host' ? ' (host)' : ''}`).join(', '));
  if (spec.endpoint.mode !== 'vip') add('endpoint', spec.endpoint.mode);
  const r = t.restartPolicy;
  add('restart', `${r.condition}${r.maxAttempts > 0 ? `, at most ${r.maxAttempts} times` : ''}, ${r.delayMs / 1000}s apart`);
  const u = spec.updateConfig;
  add('update', `${u.parallelism === 0 ? 'all' : u.parallelism} at a time, ${u.order}, on failure ${u.failureAction}${u.delayMs > 0 ? `, ${u.delayMs / 1000}s apart` : ''}`);
  add('depends on', (spec.dependsOn ?? []).map((d) => `${d.service} (${d.condition})`).join(', '));
  add('labels', Object.entries(spec.labels).map(([k, v]) => `${k}=${v}`).join('\n'));
  return out;
}

function amounts(a: { nanoCpus: number; memoryBytes: number }): string {
  return [a.nanoCpus > 0 ? formatCpus(a.nanoCpus) : '', a.memoryBytes > 0 ? formatBytes(a.memoryBytes) : ''].filter(Boolean).join(', ');
}
