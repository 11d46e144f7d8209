import type { DynamicFilter } from './filter.ts';

/** None of the task's published host ports is bound on the node already. */
export const hostPortsFilter: DynamicFilter = {
  name: 'host-ports',
  appliesTo: (demand) => demand.hostPortKeys.length > 0,
  check: (table, i, demand) => {
    const used = table.portsInUse(i);
    if (used) for (const p of demand.hostPortKeys) if (used.has(p)) return false;
    return true;
  },
  explain: (table, i, demand) => {
    const used = table.portsInUse(i);
    const port = demand.hostPortKeys.find((p) => used?.has(p)) ?? demand.hostPortKeys[0] ?? '';
    return { key: `port:${port}`, one: `node has port ${port} in use`, many: `nodes have port ${port} in use` };
  },
};
