import type { DynamicFilter } from './filter.ts';

/** The node runs fewer than `maxReplicasPerNode` tasks of the service (0 = unlimited). */
export const maxReplicasFilter: DynamicFilter = {
  name: 'max-replicas',
  appliesTo: (demand) => demand.maxPerNode > 0,
  check: (_table, _i, demand, serviceCount) => serviceCount < demand.maxPerNode,
  explain: (_table, _i, { maxPerNode }) => ({
    key: 'max-replicas',
    one: `node already runs the max of ${maxPerNode} per node`,
    many: `nodes already run the max of ${maxPerNode} per node`,
  }),
};
