import { TaskTemplate, type ContainerSpec } from '../../api/service.ts';
import { decode } from '../../api/validate.ts';
import type { DriverTask } from './driver.ts';

/**
 * Driver-neutral task behaviours the conformance suite asks for; each driver's test maps them
 * to what it runs (a shell script for `docker` and `exec`, knobs for `fake`).
 */
export type TaskBehaviour =
  /** Exits at once with `code`. */
  | { readonly kind: 'exit'; readonly code: number }
  /** Prints `ready`, then runs until signalled: SIGTERM → exit 42, SIGUSR1 → exit 43. */
  | { readonly kind: 'serve' }
  /** Prints `ready`, then ignores SIGTERM: only the kill after the grace period stops it. */
  | { readonly kind: 'ignore-stop' }
  /** Prints `out-1` and `out-2` on stdout and `err-1` on stderr, then exits 0. */
  | { readonly kind: 'print' }
  /** Prints `tick-0` … `tick-<count-1>` about every 100 ms, then exits 0; count 0 = forever. */
  | { readonly kind: 'tick'; readonly count: number }
  /** Cannot be prepared: a missing image (docker), a missing program (exec). */
  | { readonly kind: 'bad' };

/** Exit codes `serve` uses for the signals it traps. */
export const TRAPPED_EXIT = { SIGTERM: 42, SIGUSR1: 43 } as const;

/** A POSIX sh script with the behaviour (for drivers that run `sh -c SCRIPT`). */
export function shellScript(b: TaskBehaviour): string {
  switch (b.kind) {
    case 'exit':
      return `exit ${b.code}`;
    case 'serve':
      // `sleep & wait`: a trapped signal interrupts `wait` at once, not after sleep ends.
      return `trap 'exit ${TRAPPED_EXIT.SIGTERM}' TERM; trap 'exit ${TRAPPED_EXIT.SIGUSR1}' USR1; echo ready; sleep 100000 & wait`;
    case 'ignore-stop':
      return `trap '' TERM; echo ready; sleep 100000`;
    case 'print':
      return 'echo out-1; echo err-1 >&2; echo out-2';
    case 'tick': {
      const cond = b.count > 0 ? `[ $i -lt ${b.count} ]` : 'true';
      return `i=0; while ${cond}; do echo tick-$i; i=$((i+1)); sleep 0.1; done`;
    }
    case 'bad':
      return 'exit 0';
  }
}

/** Options of `driverTask`. */
export interface DriverTaskInit {
  readonly id: string;
  readonly nodeId: string;
  readonly serviceName?: string;
  readonly serviceId?: string;
  readonly slot?: number;
  readonly driver?: TaskTemplate['driver'];
  /** Fields of the container spec; the rest take the API defaults. */
  readonly container?: Partial<ContainerSpec>;
  readonly resources?: TaskTemplate['resources'];
  readonly ports?: DriverTask['ports'];
}

/** A `DriverTask` with API defaults filled in, for tests and simulations. */
export function driverTask(init: DriverTaskInit): DriverTask {
  return {
    id: init.id,
    serviceId: init.serviceId ?? `svc-${init.serviceName ?? 'conformance'}`,
    serviceName: init.serviceName ?? 'conformance',
    nodeId: init.nodeId,
    slot: init.slot ?? 1,
    // Defaults come from the schema itself, so new spec fields need no change here.
    spec: decode(
      TaskTemplate,
      {
        driver: init.driver ?? 'docker',
        container: init.container ?? {},
        resources: init.resources ?? {},
        restartPolicy: { condition: 'none', delayMs: 0 },
      },
      'sample task',
    ),
    ports: init.ports ?? [],
  };
}
