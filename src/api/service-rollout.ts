import { isDeepStrictEqual } from 'node:util';
import { isJobMode } from './job.ts';
import type { Service, ServiceSpec } from './service.ts';

/**
 * The two writes that start a rollout of a service, as pure functions of the stored service:
 * a new spec (`PUT /v1/services/:id`) and a rollback (`POST /v1/services/:id/rollback`, or the
 * orchestrator when an update fails with `failureAction: rollback`). The control API and the
 * orchestrator both use them, so a manual and an automatic rollback write the same thing.
 */

/**
 * The rule for when `specVersion` bumps: only when a new spec changes what the service's tasks
 * run (`taskTemplate`, `endpoint`, `mode`; for a job also its counts, since a new run is a new
 * specVersion). Tasks record the specVersion they were created from, so bumping it for a
 * replica count, a label or a rename would make the orchestrator replace every task for nothing.
 */
export function changesTasks(before: ServiceSpec, after: ServiceSpec): boolean {
  return (
    !isDeepStrictEqual(before.taskTemplate, after.taskTemplate) ||
    !isDeepStrictEqual(before.endpoint, after.endpoint) ||
    before.mode !== after.mode ||
    (isJobMode(after.mode) && (before.replicas !== after.replicas || !isDeepStrictEqual(before.job, after.job)))
  );
}

/**
 * The write of every spec change (`PUT /v1/services/:id`, `scale`, a stack deploy): the
 * service with `spec` as its spec, a rollout exactly when {@link changesTasks} says so.
 */
export function withUpdatedSpec(service: Service, spec: ServiceSpec, now: number): Service {
  return withNewSpec(service, spec, changesTasks(service.spec, spec), now);
}

/**
 * The service with `spec` as its new spec. When what tasks run changes (`changesTasks`), the
 * old spec becomes `previousSpec`, `specVersion` moves to a new number and the update starts
 * (`updateStatus` `updating`); otherwise only the spec is replaced.
 */
export function withNewSpec(service: Service, spec: ServiceSpec, changesTasks: boolean, now: number): Service {
  if (!changesTasks) return { ...service, spec };
  return {
    ...service,
    spec,
    specVersion: service.specVersion + 1,
    previousSpec: service.spec,
    previousSpecVersion: service.specVersion,
    updateStatus: { state: 'updating', startedAt: new Date(now).toISOString(), message: 'update in progress' },
  };
}

/**
 * The service rolled back: `spec` and `previousSpec` swap, `specVersion` moves to a new number
 * (so every task of the spec being left is outdated) and `previousSpecVersion` is the version
 * being left, so a second rollback returns to it. The name and the replica count stay as they
 * are: renaming and scaling are not rollouts. Undefined when there is no previous spec.
 */
export function rolledBack(service: Service, message: string, now: number): Service | undefined {
  const previous = service.previousSpec;
  if (previous === undefined) return undefined;
  return {
    ...service,
    spec: { ...previous, name: service.spec.name, replicas: service.spec.replicas },
    specVersion: service.specVersion + 1,
    previousSpec: service.spec,
    previousSpecVersion: service.specVersion,
    updateStatus: { state: 'rollback_started', startedAt: new Date(now).toISOString(), message },
  };
}
