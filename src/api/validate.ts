import type { TSchema, Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { DefaultErrorFunction, SetErrorFunction } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { parseConstraint } from './constraints.ts';
import { ApiError, type ErrorDetail } from './errors.ts';
import { ServiceSpec } from './service.ts';

/**
 * Fills a schema's defaults into a copy of `input` and checks it. Throws `invalid_argument`
 * listing every problem with its field path; the input is never modified.
 */
/**
 * Ports the routing mesh may not take: an ingress port is caught on every local address of
 * every node, the bridges' gateways included, so these would hijack what the nodes themselves
 * serve there.
 */
export const RESERVED_INGRESS_PORTS: ReadonlyArray<{ readonly port: number; readonly protocol: 'tcp' | 'udp'; readonly use: string }> = [
  { port: 53, protocol: 'udp', use: 'the DNS server tasks ask' },
  { port: 53, protocol: 'tcp', use: 'the DNS server tasks ask' },
  { port: 4789, protocol: 'udp', use: 'the overlay networks (VXLAN)' },
  { port: 4280, protocol: 'tcp', use: 'the manager API and agent sessions' },
];

export function decode<T extends TSchema>(schema: T, input: unknown, what: string): Static<T> {
  const value: unknown = Value.Default(schema, Value.Clone(input));
  const checker = checkerOf(schema);
  if (checker.Check(value)) return value;
  const details: ErrorDetail[] = [];
  for (const e of checker.Errors(value)) {
    details.push({ path: pointerToPath(e.path), message: describeError(e.message, e.value) });
    if (details.length >= 10) break;
  }
  throw invalid(what, details);
}

// A schema may carry `errorMessage` to say in plain words what it expects.
SetErrorFunction((param) => {
  const custom = (param.schema as { errorMessage?: unknown }).errorMessage;
  return typeof custom === 'string' ? custom : DefaultErrorFunction(param);
});

interface Checker {
  Check(value: unknown): boolean;
  Errors(value: unknown): Iterable<{ path: string; message: string; value: unknown }>;
}

/**
 * Checks of a schema before it is compiled: compiling `ServiceSpec` costs tens of milliseconds,
 * more than interpreting a few checks (a CLI command such as `stack config` makes a handful);
 * a server checking on and on gets the compiled checker. Both give the same answers and errors.
 */
const COMPILE_AFTER = 8;
const checkers = new WeakMap<TSchema, Checker>();
const uses = new WeakMap<TSchema, number>();
function checkerOf(schema: TSchema): Checker {
  const known = checkers.get(schema);
  if (known) return known;
  const n = (uses.get(schema) ?? 0) + 1;
  uses.set(schema, n);
  if (n < COMPILE_AFTER) return { Check: (v) => Value.Check(schema, v), Errors: (v) => Value.Errors(schema, v) };
  const c = TypeCompiler.Compile(schema);
  checkers.set(schema, c);
  return c;
}

function invalid(what: string, details: ErrorDetail[]): ApiError {
  const first = details[0];
  const summary = first ? `${first.path ? `${first.path}: ` : ''}${first.message}` : 'invalid';
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  return new ApiError('invalid_argument', `invalid ${what}: ${summary}${more}`, { details });
}

/** `/taskTemplate/placement/constraints/0` → `taskTemplate.placement.constraints[0]`. */
export function pointerToPath(pointer: string): string {
  return pointer
    .split('/')
    .filter(Boolean)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}

function describeError(message: string, value: unknown): string {
  if (value === undefined) return message.replace(/^Expected/, 'required:');
  const shown = JSON.stringify(value);
  return `${message}, got ${shown && shown.length > 60 ? `${shown.slice(0, 57)}...` : shown}`;
}

/**
 * Validates a service spec and fills its defaults. Beyond the schema it checks what a schema
 * cannot say: constraints parse, the driver has what it needs, published ports are unique,
 * reservations fit within limits.
 */
export function validateServiceSpec(input: unknown): ServiceSpec {
  const spec = decode(ServiceSpec, input, 'service spec');
  const details: ErrorDetail[] = [];
  const t = spec.taskTemplate;
  t.placement.constraints.forEach((text, i) => {
    const c = parseConstraint(text);
    if ('error' in c) details.push({ path: `taskTemplate.placement.constraints[${i}]`, message: c.error });
  });
  if (t.driver === 'docker' && !t.container.image) {
    details.push({ path: 'taskTemplate.container.image', message: 'the docker driver needs an image' });
  }
  if (t.driver === 'exec' && !(t.container.command?.length ?? 0)) {
    details.push({ path: 'taskTemplate.container.command', message: 'the exec driver needs a command to run' });
  }
  t.container.env.forEach((e, i) => {
    if (!/^[^=]+=/.test(e)) {
      details.push({ path: `taskTemplate.container.env[${i}]`, message: `expected KEY=VALUE, got "${e}"` });
    }
  });
  const seen = new Set<string>();
  spec.endpoint.ports.forEach((p, i) => {
    const key = `${p.published}/${p.protocol}`;
    if (seen.has(key)) details.push({ path: `endpoint.ports[${i}]`, message: `port ${key} is published twice` });
    seen.add(key);
    const reserved = p.mode === 'ingress' ? RESERVED_INGRESS_PORTS.find((r) => r.port === p.published && r.protocol === p.protocol) : undefined;
    if (reserved) {
      details.push({ path: `endpoint.ports[${i}].published`, message: `port ${key} cannot be published in ingress mode: every node uses it for ${reserved.use} (publish it in host mode, or choose another port)` });
    }
    if (p.mode === 'ingress' && spec.endpoint.mode === 'dnsrr') {
      details.push({ path: `endpoint.ports[${i}].mode`, message: 'ports published in ingress mode need endpoint mode vip (or publish in host mode)' });
    }
  });
  const { limits, reservations } = t.resources;
  if (limits.nanoCpus > 0 && reservations.nanoCpus > limits.nanoCpus) {
    details.push({ path: 'taskTemplate.resources.reservations.nanoCpus', message: 'CPU reservation exceeds the CPU limit' });
  }
  if (limits.memoryBytes > 0 && reservations.memoryBytes > limits.memoryBytes) {
    details.push({
      path: 'taskTemplate.resources.reservations.memoryBytes',
      message: 'memory reservation exceeds the memory limit',
    });
  }
  if (limits.memoryBytes > 0 && limits.memoryBytes < 6 * 1024 * 1024 && t.driver === 'docker') {
    details.push({ path: 'taskTemplate.resources.limits.memoryBytes', message: 'Docker needs a memory limit of at least 6MiB' });
  }
  const hc = t.container.healthcheck;
  if (hc) {
    const probes = [hc.test, hc.http, hc.tcp].filter((p) => p !== undefined).length;
    if (probes !== 1) {
      details.push({ path: 'taskTemplate.container.healthcheck', message: 'give exactly one of test, http or tcp' });
    }
    const kind = hc.test?.[0];
    if (kind !== undefined && !['CMD', 'CMD-SHELL', 'NONE'].includes(kind)) {
      details.push({
        path: 'taskTemplate.container.healthcheck.test[0]',
        message: `expected CMD, CMD-SHELL or NONE, got "${kind}"`,
      });
    }
  }
  t.container.mounts.forEach((m, i) => {
    if (m.type === 'bind' && !m.source?.startsWith('/')) {
      details.push({ path: `taskTemplate.container.mounts[${i}].source`, message: 'a bind mount needs an absolute host path' });
    }
    if (m.type === 'tmpfs' && m.source !== undefined) {
      details.push({ path: `taskTemplate.container.mounts[${i}].source`, message: 'a tmpfs mount has no source' });
    }
  });
  t.container.extraHosts.forEach((h, i) => {
    if (!/^[^:\s]+:\S+$/.test(h)) details.push({ path: `taskTemplate.container.extraHosts[${i}]`, message: `expected HOST:IP, got "${h}"` });
  });
  if (spec.job !== undefined && spec.mode !== 'replicated-job') {
    details.push({ path: 'job', message: `job options apply to mode replicated-job, not ${spec.mode}` });
  }
  spec.dependsOn.forEach((d, i) => {
    if (d.service === spec.name) details.push({ path: `dependsOn[${i}].service`, message: 'a service cannot depend on itself' });
  });
  if (spec.rollbackConfig.failureAction === 'rollback') {
    details.push({ path: 'rollbackConfig.failureAction', message: 'a rollback cannot roll back: use pause or continue' });
  }
  if (details.length > 0) throw invalid('service spec', details);
  return spec;
}
