import { formatBytes, formatCpus } from '../reasons.ts';
import type { DynamicFilter } from './filter.ts';

/** The node has the reserved CPUs and memory still free (CPUs are told first when both lack). */
export const resourcesFilter: DynamicFilter = {
  name: 'resources',
  appliesTo: (demand) => demand.nanoCpus > 0 || demand.memoryBytes > 0,
  check: (table, i, demand) =>
    !(demand.nanoCpus > 0 && (table.freeCpu[i] as number) < demand.nanoCpus) &&
    !(demand.memoryBytes > 0 && (table.freeMem[i] as number) < demand.memoryBytes),
  explain: (table, i, demand) => {
    if (demand.nanoCpus > 0 && (table.freeCpu[i] as number) < demand.nanoCpus) {
      const cpus = formatCpus(demand.nanoCpus);
      return { key: 'cpu', one: `node lacks ${cpus}`, many: `nodes lack ${cpus}` };
    }
    const mem = formatBytes(demand.memoryBytes);
    return { key: 'memory', one: `node lacks ${mem} of memory`, many: `nodes lack ${mem} of memory` };
  },
};
