import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type Node as YamlNode } from 'yaml';
import type { ParseBudget } from './budget.ts';

/** What every alias of a document refers to, and whether expanding them would cross the budget. */
export interface AliasIndex {
  /** Alias → the node it refers to. */
  readonly targets: Map<YamlNode, YamlNode>;
  /** Where the alias is whose expansion crosses `maxExpandedNodes`, if one does. */
  readonly overflowAt: number | undefined;
}

/**
 * One pass over the source, without recursion: resolves every alias to the last node before
 * it (in document order) with its anchor — the library's own `Alias.resolve` walks the whole
 * document for each alias, which makes a file of many `<<: *common` quadratic — and adds up
 * what expanding them will build, before anything is built: each alias counts its target's
 * nodes with every alias inside expanded (memoized per anchor, so nine levels of nine aliases
 * cost 81 steps, not 9^9), a merge source as its nodes plus the keys copied from it (what the
 * build adds: a source of 100 nodes and 7 top-level keys counts 107, not 200). A
 * billion laughs or nested `<<: [*a, *a]` is refused here in microseconds; the walk that
 * builds the values counts again, as a safety net.
 */
export function indexAliases(doc: Document, budget: ParseBudget): AliasIndex {
  const limit = budget.maxExpandedNodes;
  const targets = new Map<YamlNode, YamlNode>();
  const anchors = new Map<string, YamlNode>();
  const sizes = new Map<YamlNode, number>();
  const inProgress = new Set<YamlNode>();
  const keyCounts = new Map<YamlNode, number>();
  const countingKeys = new Set<YamlNode>();

  /** Nodes `node` expands to, capped at limit + 1. Depth-capped: deeper is the walk's nesting error. */
  const size = (node: unknown, depth: number): number => {
    if (depth > budget.maxDepth) return 0;
    if (isAlias(node)) {
      const t = targets.get(node);
      return t ? size(t, depth + 1) : 0;
    }
    if (isScalar(node)) return 1;
    if (!isMap(node) && !isSeq(node)) return 0;
    const known = sizes.get(node);
    if (known !== undefined) return known;
    // An alias inside its own anchor: left to the walk, which reports it as too deep.
    if (inProgress.has(node)) return 0;
    inProgress.add(node);
    let n = 1;
    if (isSeq(node)) {
      for (const item of node.items) if ((n += size(item, depth + 1)) > limit) break;
    } else {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const v = size(pair.value, depth + 1);
        n += size(pair.key, depth + 1) + v + (isMergeKey(pair.key) ? keys(pair.value, depth + 1) : 0);
        if (n > limit) break;
      }
    }
    inProgress.delete(node);
    const capped = Math.min(n, limit + 1);
    sizes.set(node, capped);
    return capped;
  };

  /**
   * Keys a `<<` merge copies from `node` (a mapping, or a list of them): its own keys and those
   * it merges in turn, capped at limit + 1. A key the target has already is skipped by the
   * build, so this is at most what it does.
   */
  const keys = (node: unknown, depth: number): number => {
    if (depth > budget.maxDepth) return 0;
    if (isAlias(node)) {
      const t = targets.get(node);
      return t ? keys(t, depth + 1) : 0;
    }
    if (!isMap(node) && !isSeq(node)) return 0;
    const known = keyCounts.get(node);
    if (known !== undefined) return known;
    if (countingKeys.has(node)) return 0;
    countingKeys.add(node);
    let n = 0;
    if (isSeq(node)) {
      for (const item of node.items) if ((n += keys(item, depth + 1)) > limit) break;
    } else {
      for (const pair of node.items) {
        if (isPair(pair) && (n += isMergeKey(pair.key) ? keys(pair.value, depth + 1) : 1) > limit) break;
      }
    }
    countingKeys.delete(node);
    const capped = Math.min(n, limit + 1);
    keyCounts.set(node, capped);
    return capped;
  };

  let total = 0;
  let overflowAt: number | undefined;
  const stack: { node: unknown; merge: boolean }[] = [{ node: doc.contents, merge: false }];
  while (stack.length > 0) {
    const { node, merge } = stack.pop() as { node: unknown; merge: boolean };
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (!target) continue;
      targets.set(node, target);
      total += size(target, 1) + (merge ? keys(target, 1) : 0);
      if (total > limit && overflowAt === undefined) overflowAt = node.range?.[0];
      continue;
    }
    if (!isScalar(node) && !isMap(node) && !isSeq(node)) continue;
    if (node.anchor) anchors.set(node.anchor, node);
    if (isMap(node)) {
      for (let i = node.items.length - 1; i >= 0; i--) {
        const pair = node.items[i];
        if (!isPair(pair)) continue;
        const m = isMergeKey(pair.key);
        // `<<: [*a, *b]`: the aliases in the list are merge sources too.
        if (m && isSeq(pair.value)) {
          if (pair.value.anchor) anchors.set(pair.value.anchor, pair.value);
          for (let j = pair.value.items.length - 1; j >= 0; j--) stack.push({ node: pair.value.items[j], merge: true });
        } else stack.push({ node: pair.value, merge: m });
        stack.push({ node: pair.key, merge: false });
      }
    } else if (isSeq(node)) {
      for (let i = node.items.length - 1; i >= 0; i--) stack.push({ node: node.items[i], merge: false });
    }
  }
  return { targets, overflowAt };
}

function isMergeKey(key: unknown): boolean {
  return isScalar(key) && key.source === '<<';
}
