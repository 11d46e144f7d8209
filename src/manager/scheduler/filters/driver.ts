import type { StaticFilter } from './filter.ts';

/** The node has the task's driver (docker, exec, fake). */
export const driverFilter: StaticFilter = {
  name: 'driver',
  cacheKey: (demand) => demand.driver,
  check: (node, demand) => node.description.drivers.includes(demand.driver),
  explain: (_node, { driver }) => ({ key: `driver:${driver}`, one: `node lacks driver ${driver}`, many: `nodes lack driver ${driver}` }),
};
