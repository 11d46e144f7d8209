import type { Constraint } from '../../api/constraints.ts';

/** What the tasks of one group (same service and template) ask of a node. */
export interface Demand {
  readonly driver: string;
  readonly constraints: readonly Constraint[];
  readonly nanoCpus: number;
  readonly memoryBytes: number;
  /** The task's published host ports as `8080/tcp` keys (see `hostPortKeys`). */
  readonly hostPortKeys: readonly string[];
  /** 0 = unlimited. */
  readonly maxPerNode: number;
}
