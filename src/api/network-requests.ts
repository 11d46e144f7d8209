import { Type, type Static } from '@sinclair/typebox';
import type { Network } from './network.ts';
import { LabelFilter, matchesLabels } from './service-requests.ts';

/** Query of `GET /v1/networks`. */
export const NetworkFilter = Type.Object({ label: Type.Optional(LabelFilter) }, { additionalProperties: false });
export type NetworkFilter = Static<typeof NetworkFilter>;

/** Whether a network passes a (validated) `NetworkFilter`. Pure. */
export function matchesNetworkFilter(network: Network, filter: NetworkFilter): boolean {
  return matchesLabels(network.spec.labels as Readonly<Record<string, string>>, filter.label ?? []);
}
