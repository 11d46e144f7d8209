import { resolve } from 'node:path';
import { PARSE_BUDGET } from './budget.ts';
import { ComposeError, fail } from './errors.ts';
import { mergeServices } from './merge.ts';
import type { ComposeModel, ServiceConfig } from './model.ts';
import { copyPositions, posOf, posOfKey } from './source.ts';

/** Loads another compose file (for `extends: {file}`) through the per-file pipeline, with paths relative to its own directory. */
export type LoadModel = (absPath: string) => ComposeModel;

/**
 * Resolves `extends` in every service of `model` (whose files live in `dir`): the base
 * service — from the same model or from `extends.file`, itself resolved first — is merged
 * under the local definition with the override-file rules. `depends_on` and `volumes_from`
 * are not inherited (dependencies are always declared where they apply, as Compose
 * documents). A chain that comes back to a service it passed through is an error naming the
 * whole cycle.
 */
export function resolveExtends(model: ComposeModel, file: string, loadModel: LoadModel): ComposeModel {
  const cache = new Map<string, ComposeModel>();
  const resolved = new Map<string, ServiceConfig>();
  const load = (path: string): ComposeModel => {
    let m = cache.get(path);
    if (!m) cache.set(path, (m = loadModel(path)));
    return m;
  };
  const resolveOne = (m: ComposeModel, mFile: string, name: string, chain: string[]): ServiceConfig => {
    const id = `${mFile}#${name}`;
    const done = resolved.get(id);
    if (done) return done;
    const svc = m.services[name];
    if (!svc) throw new Error(`internal: service ${name} missing`);
    if (!svc.extends) return svc;
    const ext = svc.extends;
    const where = posOf(ext) ?? posOfKey(svc, 'extends')?.value;
    const path = `services.${name}.extends`;
    const baseFile = ext.file === undefined ? mFile : resolve(mFile, '..', ext.file);
    const baseId = `${baseFile}#${ext.service}`;
    const nextChain = [...chain, id];
    // Resolved by recursion, one level per link: a chain longer than any real one is refused.
    if (nextChain.length > PARSE_BUDGET.maxExtendsDepth) fail('limit', where, path, `extends chain longer than ${PARSE_BUDGET.maxExtendsDepth} services; the limit is ${PARSE_BUDGET.maxExtendsDepth}`);
    if (nextChain.includes(baseId)) {
      const names = [...nextChain.slice(nextChain.indexOf(baseId)), baseId].map((i) => i.split('#')[1] ?? i);
      fail('cycle', where, path, `extends cycle: ${names.join(' -> ')}`);
    }
    let baseModel = m;
    if (ext.file !== undefined) {
      try {
        baseModel = load(baseFile);
      } catch (err) {
        if (err instanceof ComposeError && err.problems.some((p) => p.code === 'missing_file' && p.pos === undefined)) {
          fail('missing_file', where, `${path}.file`, `cannot read ${JSON.stringify(ext.file)} (${baseFile})`);
        }
        throw err;
      }
    }
    if (!Object.hasOwn(baseModel.services, ext.service)) {
      const known = Object.keys(baseModel.services);
      fail('reference', where, `${path}.service`, `service "${ext.service}" not found in ${baseFile}${known.length > 0 ? ` (services: ${known.join(', ')})` : ''}`);
    }
    const resolvedBase = resolveOne(baseModel, baseFile, ext.service, nextChain);
    const base = { ...resolvedBase };
    copyPositions(resolvedBase, base);
    delete base.depends_on;
    delete base.extends;
    if (base.other && Object.hasOwn(base.other, 'volumes_from')) {
      base.other = { ...base.other };
      delete base.other['volumes_from'];
    }
    const local = { ...svc };
    copyPositions(svc, local);
    delete local.extends;
    const merged = mergeServices(base, local);
    resolved.set(id, merged);
    return merged;
  };
  const services: Record<string, ServiceConfig> = {};
  for (const name of Object.keys(model.services)) services[name] = resolveOne(model, file, name, []);
  return { ...model, services };
}
