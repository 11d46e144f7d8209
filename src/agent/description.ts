import { arch, availableParallelism, hostname, platform, totalmem } from 'node:os';
import type { NodeDescription } from '../api/node.ts';
import type { DriverSet } from './worker.ts';

/** Parts of the node description a caller may fix (simulated nodes, tests). */
export type DescriptionOverrides = Partial<NodeDescription>;

/**
 * What this machine offers: host name, platform, CPUs and memory, and the drivers that
 * fingerprint as available (with the first engine found).
 */
export async function describeNode(drivers: DriverSet, overrides: DescriptionOverrides = {}): Promise<NodeDescription> {
  const available: string[] = [];
  let engine: NodeDescription['engine'];
  for (const [name, d] of drivers) {
    const fp = await d.fingerprint().catch(() => ({ available: false as const, engine: undefined }));
    if (!fp.available) continue;
    available.push(name);
    engine ??= fp.engine;
  }
  const description: NodeDescription = {
    hostname: hostname(),
    platform: { os: platform(), arch: arch() },
    resources: { nanoCpus: availableParallelism() * 1_000_000_000, memoryBytes: totalmem() },
    drivers: available,
    ...(engine ? { engine: { name: engine.name, version: engine.version } } : {}),
  };
  return { ...description, ...overrides };
}
