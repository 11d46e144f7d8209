import type { Node } from './node.ts';

/** A parsed placement constraint: `node.labels.zone == eu`. */
export interface Constraint {
  /** `node.id`, `node.hostname`, `node.role`, `node.platform.os`, `node.platform.arch` or `node.labels.KEY`. */
  readonly key: string;
  readonly op: '==' | '!=';
  readonly value: string;
  /** The constraint as written, for messages. */
  readonly text: string;
}

const FIXED_KEYS = ['node.id', 'node.hostname', 'node.role', 'node.platform.os', 'node.platform.arch'];
const LABEL_PREFIX = 'node.labels.';

/** Parses one constraint; returns an error message saying what is wrong instead of throwing. */
export function parseConstraint(text: string): Constraint | { error: string } {
  const m = /^\s*([^=!\s]+)\s*(==|!=)\s*(.*?)\s*$/.exec(text);
  if (!m) {
    return { error: `malformed constraint "${text}": expected KEY==VALUE or KEY!=VALUE, e.g. node.labels.zone==east` };
  }
  const [, key = '', op = '==', value = ''] = m;
  if (!FIXED_KEYS.includes(key) && !(key.startsWith(LABEL_PREFIX) && key.length > LABEL_PREFIX.length)) {
    return {
      error: `unknown constraint key "${key}" in "${text}": expected one of ${FIXED_KEYS.join(', ')} or node.labels.KEY`,
    };
  }
  if (value === '') return { error: `constraint "${text}" has no value after ${op}` };
  return { key, op: op as '==' | '!=', value, text };
}

/** The node's value for a constraint key; undefined when the node has no such label. */
export function nodeValue(node: Node, key: string): string | undefined {
  switch (key) {
    case 'node.id':
      return node.id;
    case 'node.hostname':
      return node.description.hostname;
    case 'node.role':
      return node.spec.role;
    case 'node.platform.os':
      return node.description.platform.os;
    case 'node.platform.arch':
      return node.description.platform.arch;
    default:
      return node.spec.labels[key.slice(LABEL_PREFIX.length)];
  }
}

/** Whether a node satisfies a constraint. Values compare case-sensitively, as in Swarm. */
export function matchConstraint(node: Node, c: Constraint): boolean {
  const v = nodeValue(node, c.key);
  return c.op === '==' ? v === c.value : v !== c.value;
}
