import type { Constraint } from '../../api/constraints.ts';

/** A network the tasks of a group join, as placement sees it. */
export interface DemandNetwork {
  readonly id: string;
  readonly name: string;
  /** Traffic between nodes is encrypted: only nodes that can encrypt take the task. */
  readonly encrypted: boolean;
  /**
   * No address range (slice) is left for another node: only the nodes holding one can take
   * the task. `holders` are the nodes that hold a slice.
   */
  readonly full: boolean;
  readonly holders: ReadonlySet<string>;
}

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
  /** The networks the task joins (`task.networks`); empty for a task on none. */
  readonly networks: readonly DemandNetwork[];
}
