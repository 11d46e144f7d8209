import type { HealthState } from '../drivers/driver.ts';

/** A driver call that failed, as `flotilla_agent_driver_errors_total` labels it. */
export type DriverOperation = 'prepare' | 'start' | 'wait' | 'stop' | 'remove';

/** How a health check probes: the agent's own probes (the driver's own judgement is not probed here). */
export type ProbeKind = 'http' | 'tcp' | 'command';

/**
 * What the task runners tell a metrics recorder (the agent's `/metrics`, `agent/metrics.ts`).
 * Absent from the deps: nothing is recorded.
 */
export interface ExecutorMetrics {
  /** A task reached `running`, `seconds` after it was accepted (image pull and hooks included). */
  taskStarted(driver: string, seconds: number): void;
  /** A driver call failed (a prepare or start that rejected the task, a lost wait, a stop or remove retried). */
  driverError(driver: string, operation: DriverOperation): void;
  /** One probe of an agent-side health check passed or failed. */
  healthProbe(kind: ProbeKind, ok: boolean): void;
  /** A running task's health changed (what is reported to the manager). */
  healthChanged(health: HealthState): void;
}
