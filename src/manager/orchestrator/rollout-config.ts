import type { Service, UpdateConfig } from '../../api/service.ts';

/**
 * The config a service's rollout runs with: its `updateConfig`, or — while rolling back — the
 * `rollbackConfig` of the spec being left (`previousSpec` once spec and previous swapped), so
 * the rollback settings given with an update are the ones its rollback uses. Pure.
 */
export function rolloutConfig(service: Service): UpdateConfig {
  const rollingBack = service.updateStatus?.state.startsWith('rollback') === true;
  if (!rollingBack) return service.spec.updateConfig;
  return service.previousSpec?.rollbackConfig ?? service.spec.rollbackConfig;
}
