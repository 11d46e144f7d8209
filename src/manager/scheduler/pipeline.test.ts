import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeNode } from '../../testing/fixtures.ts';
import type { Demand } from './demand.ts';
import { DYNAMIC_FILTERS, dynamicFiltersFor, STATIC_FILTERS, staticFailure } from './pipeline.ts';

const demand: Demand = { driver: 'docker', constraints: [], nanoCpus: 0, memoryBytes: 0, hostPortKeys: [], maxPerNode: 0, networks: [] };

void test('the pipeline lists each filter once, static before dynamic, in a fixed order', () => {
  assert.deepEqual(STATIC_FILTERS.map((f) => f.name), ['ready', 'availability', 'driver', 'network', 'constraints']);
  assert.deepEqual(DYNAMIC_FILTERS.map((f) => f.name), ['resources', 'host-ports', 'max-replicas']);
});

void test('a node is counted under the first static filter it fails', () => {
  const down = makeNode({ status: { state: 'down' }, spec: { availability: 'drain' } });
  assert.equal(staticFailure(down, { ...demand, driver: 'nope' })?.key, 'not-ready');
  const drained = makeNode({ spec: { availability: 'drain' } });
  assert.equal(staticFailure(drained, { ...demand, driver: 'nope' })?.key, 'drained');
  assert.equal(staticFailure(makeNode(), { ...demand, driver: 'nope' })?.one, 'node lacks driver nope');
});

void test('only the dynamic filters a demand needs are run', () => {
  assert.deepEqual(dynamicFiltersFor(demand), []);
  assert.deepEqual(dynamicFiltersFor({ ...demand, memoryBytes: 1, maxPerNode: 2 }).map((f) => f.name), ['resources', 'max-replicas']);
  assert.deepEqual(dynamicFiltersFor({ ...demand, hostPortKeys: ['80/tcp'] }).map((f) => f.name), ['host-ports']);
});
