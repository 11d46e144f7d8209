import { SealingKey } from '../manager/secrets/sealing-key.ts';

/**
 * A fresh secrets sealing key held in memory only: it seals and opens as a manager's does,
 * for tests of the components that take a sealer (control API, dispatcher, CLI).
 */
export function testSealingKey(): SealingKey {
  return SealingKey.random();
}
