/**
 * What one compose file may cost to parse. A file over any of these is refused with one located
 * error (`FILE:LINE:COL: …: the limit is N`) as soon as the parser crosses the limit, so a
 * hostile file (a "billion laughs" of nested aliases, `<<: [*a, *a]` merge keys nested forty
 * deep, ten thousand nested `[`) costs milliseconds and a few megabytes, never the process.
 *
 * The limits are far beyond real files. For scale: the largest files of the public collections
 * we know (Sentry's self-hosted stack, mailcow) are about 24 KB, 6–8 levels deep, and their `x-`
 * anchors expand to a few thousand nodes; a generated file of 2,600 services is 1 MiB and about
 * 60,000 nodes. Docker Compose (compose-go, parsing with go-yaml v3) has no node cap: go-yaml
 * refuses a document only when alias expansion is too large a share of its decode steps (more
 * than 99% of them up to 400,000 steps, falling to 10% at 4,000,000; `allowedAliasRatio` in
 * its decode.go). So Docker Compose loads some files these budgets refuse — over 100,000 nodes
 * of text, or aliases expanding past 100,000 in a larger file — none of them a real file we
 * know of. `bench/hostile-compose.ts` prints what the hostile files and the largest file under
 * budget cost.
 */
export interface ParseBudget {
  /** Bytes of UTF-8 text in one file. Checked before parsing. */
  readonly maxBytes: number;
  /** Nodes in the source text: scalars, aliases and flow collections, counted as they are lexed. */
  readonly maxNodes: number;
  /**
   * Nodes the loader builds by expanding aliases (`<<: *a` merge sources included), counting
   * every use: `*a` where `&a` has 50 nodes counts 50 each time it appears (a merge source
   * its nodes plus the keys copied from it), and an alias inside `&a` counts again each time `*a`
   * is expanded. This is what a billion-laughs file blows up. Added up before anything is built
   * (`aliases.ts`), so crossing it costs next to nothing; counted again while building.
   */
  readonly maxExpandedNodes: number;
  /** Nesting of mappings and lists, in the text and after expanding aliases. */
  readonly maxDepth: number;
  /** Nesting of `${VAR:-${VAR:-…}}` defaults inside one interpolated string. */
  readonly maxInterpolationDepth: number;
  /** Services in one `extends` chain (a service extending one that extends another …). */
  readonly maxExtendsDepth: number;
}

/** The budget every load uses, `flotilla stack config` and the manager's `POST /v1/stacks` alike. */
export const PARSE_BUDGET: ParseBudget = {
  maxBytes: 4 * 1024 * 1024,
  maxNodes: 100_000,
  maxExpandedNodes: 100_000,
  maxDepth: 100,
  maxInterpolationDepth: 50,
  maxExtendsDepth: 100,
};
