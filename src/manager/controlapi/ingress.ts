import { INGRESS_NETWORK, INGRESS_SUBNET, type Network, type NetworkSpec } from '../../api/network.ts';
import { chooseRange } from '../../api/network-ranges.ts';
import { newId } from '../../lib/ids.ts';
import type { Logger } from '../../lib/logger.ts';
import { isStoreError } from '../../store/errors.ts';
import type { Store } from '../../store/store.ts';
import type { NewObject } from '../../store/tables.ts';

/**
 * The built-in `ingress` network (the routing mesh's): created by every manager on start when
 * it is missing, never removed. `INGRESS_SUBNET`, the lowest free VNI, `ingress: true`.
 */

/** What to do about the ingress network, given the networks that exist. Pure. */
export type IngressPlan =
  | { readonly kind: 'exists'; readonly network: Network }
  | { readonly kind: 'create'; readonly network: NewObject<Network> }
  /** Its range is taken (a network created before the built-in one overlaps it). */
  | { readonly kind: 'blocked'; readonly reason: string };

export function planIngress(existing: readonly Network[], id: string): IngressPlan {
  const found = existing.find((n) => n.ingress) ?? existing.find((n) => n.spec.name === INGRESS_NETWORK);
  if (found) return { kind: 'exists', network: found };
  const spec: NetworkSpec = { name: INGRESS_NETWORK, labels: {}, driver: 'overlay', internal: false, attachable: false, encrypted: false, subnet: INGRESS_SUBNET };
  const range = chooseRange(spec, existing);
  if (!range.ok) return { kind: 'blocked', reason: range.reason };
  return { kind: 'create', network: { id, spec, subnet: range.subnet, vni: range.vni, ingress: true, slices: [] } };
}

/**
 * Creates the ingress network when it is missing; idempotent. Managers starting together may
 * race: the store's unique name lets one win, and the others find it. A range taken by another
 * network is logged, not fatal: the manager runs without the routing mesh.
 */
export async function ensureIngressNetwork(store: Store, logger: Logger): Promise<void> {
  try {
    const plan = await store.update((tx) => {
      const p = planIngress(tx.table('network').all(), newId());
      if (p.kind === 'create') tx.table('network').create(p.network);
      return p;
    });
    if (plan.kind === 'create') logger.info({ networkId: plan.network.id, subnet: plan.network.subnet, vni: plan.network.vni }, 'created the ingress network');
    if (plan.kind === 'blocked') logger.error({ reason: plan.reason }, 'cannot create the ingress network: ports published in ingress mode will not work');
    if (plan.kind === 'exists' && !plan.network.ingress) {
      logger.error({ networkId: plan.network.id }, `a network named ${INGRESS_NETWORK} exists that is not the built-in one: ports published in ingress mode will not work`);
    }
  } catch (err) {
    // Another manager created it between our read and our write.
    if (isStoreError(err) && err.code === 'already_exists') return;
    throw err;
  }
}
