import type { Failure } from '../reasons.ts';
import type { StaticFilter } from './filter.ts';

const PAUSED: Failure = { key: 'paused', one: 'node paused', many: 'nodes paused' };
const DRAINED: Failure = { key: 'drained', one: 'node drained', many: 'nodes drained' };

/** The node takes new tasks: availability `active` (not paused, not drained). */
export const availabilityFilter: StaticFilter = {
  name: 'availability',
  cacheKey: () => '',
  check: (node) => node.spec.availability === 'active',
  explain: (node) => (node.spec.availability === 'drain' ? DRAINED : PAUSED),
};
