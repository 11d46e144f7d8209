/**
 * Network objects for tests: a complete `Network` with defaults a test overrides, and a
 * read-only table over a list of them (what the allocator's pure code reads).
 */
import type { Network } from '../api/network.ts';
import { newId } from '../lib/ids.ts';

const FIXTURE_TIME = '2026-01-01T00:00:00.000Z';

/** An overlay network `front` on `10.1.0.0/16`, VNI 0x100001, no slices. `spec` merges field by field. */
export function makeNetwork(overrides: Partial<Omit<Network, 'spec'>> & { spec?: Partial<Network['spec']> } = {}): Network {
  const { spec, ...rest } = overrides;
  return {
    id: newId(),
    version: 1,
    createdAt: FIXTURE_TIME,
    updatedAt: FIXTURE_TIME,
    subnet: '10.1.0.0/16',
    vni: 0x100001,
    ingress: false,
    slices: [],
    ...rest,
    spec: { name: 'front', labels: {}, driver: 'overlay', internal: false, attachable: false, encrypted: false, ...spec },
  };
}

/** The built-in `ingress` network (`10.255.0.0/16`). */
export function makeIngressNetwork(overrides: Partial<Omit<Network, 'spec'>> = {}): Network {
  return makeNetwork({ id: 'net-ingress', subnet: '10.255.0.0/16', vni: 0x100000, ingress: true, ...overrides, spec: { name: 'ingress' } });
}

/** A read-only networks table over `list`, indexed by name as the store's is. */
export function networksReader(list: readonly Network[]): {
  get(id: string): Network | undefined;
  by(index: string, value: string): Network[];
  all(): Network[];
  readonly size: number;
} {
  return {
    get: (id) => list.find((n) => n.id === id),
    by: (index, value) => (index === 'name' ? list.filter((n) => n.spec.name === value) : []),
    all: () => [...list],
    size: list.length,
  };
}
