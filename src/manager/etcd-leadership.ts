import { EtcdBackend } from '../store/etcd/etcd-backend.ts';
import { EtcdElection } from '../store/etcd/election.ts';
import type { LeadershipFactory } from './manager.ts';

/**
 * The leadership of managers sharing an etcd (`flotilla server --store etcd://…`): an
 * `EtcdElection` on the backend's own etcd client, under the store's root prefix. Its writes
 * are fenced (`fence()`): the manager hands the leader loops `store.fenced(…)`. Loaded only
 * with an etcd store (the etcd client is not loaded otherwise).
 */
export const etcdLeadership: LeadershipFactory = async ({ backend, self, clock, logger }) => {
  if (!(backend instanceof EtcdBackend)) throw new Error(`the etcd leadership needs the etcd store backend, not ${backend.name}`);
  return EtcdElection.open(backend.client, { root: backend.root, self, clock, logger });
};
