import { matchConstraint } from '../../../api/constraints.ts';
import type { StaticFilter } from './filter.ts';

/** The node matches every placement constraint; a failing node is counted under the first it fails. */
export const constraintsFilter: StaticFilter = {
  name: 'constraints',
  cacheKey: (demand) => demand.constraints.map((c) => c.text).join('\n'),
  check: (node, demand) => {
    for (const c of demand.constraints) if (!matchConstraint(node, c)) return false;
    return true;
  },
  explain: (node, demand) => {
    const c = demand.constraints.find((x) => !matchConstraint(node, x));
    const text = c?.text ?? '';
    return { key: `constraint:${text}`, one: `node fails constraint ${text}`, many: `nodes fail constraint ${text}` };
  },
};
