import type { Failure } from '../reasons.ts';
import type { StaticFilter } from './filter.ts';

const NOT_READY: Failure = { key: 'not-ready', one: 'node not ready', many: 'nodes not ready' };

/** The node's agent is connected and heartbeating. */
export const readyFilter: StaticFilter = {
  name: 'ready',
  cacheKey: () => '',
  check: (node) => node.status.state === 'ready',
  explain: () => NOT_READY,
};
