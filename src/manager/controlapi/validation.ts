import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ApiError } from '../../api/errors.ts';
import type { FastifySchemaCompiler } from 'fastify';
import { NodeUpdate } from '../../api/node.ts';
import { ServiceSpec } from '../../api/service.ts';
import { decode, validateServiceSpec } from '../../api/validate.ts';

const PART_NAMES: Record<string, string> = {
  body: 'request body',
  querystring: 'query parameters',
  params: 'path parameters',
  headers: 'request headers',
};

/**
 * Schemas validated by more than their shape: a service spec goes through
 * `validateServiceSpec` (constraints parse, ports unique, …) so its errors read "invalid
 * service spec: …" wherever it is posted.
 */
const CHECKS = new Map<TSchema, (input: unknown) => unknown>([
  [ServiceSpec, validateServiceSpec],
  [NodeUpdate, (input) => decode(NodeUpdate, input, 'node update')],
]);

/**
 * Fastify validator compiler: the TypeBox schemas from `src/api` validate requests through
 * `decode`, so the API fills the same defaults and reports the same `invalid_argument` errors
 * (with field paths) as every other boundary. Query strings and path parameters arrive as text,
 * so they are converted to the schema's types first (`?tail=10` → 10, `?follow` → true).
 */
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const part = httpPart ?? 'body';
  const what = PART_NAMES[part] ?? part;
  const check = CHECKS.get(schema) ?? ((input: unknown) => decode(schema, input, what));
  const convert = part !== 'body';
  return (data: unknown) => {
    try {
      let input = data === null && part !== 'body' ? {} : data;
      if (part === 'querystring') checkKnownParameters(schema, input);
      if (convert) input = Value.Convert(schema, normalizeFlags(schema, input));
      return { value: check(input) };
    } catch (error) {
      return { error: error as Error };
    }
  };
};

/** A query parameter the route does not take is named, with the ones it does. */
function checkKnownParameters(schema: TSchema, input: unknown): void {
  if (schema['additionalProperties'] !== false || typeof input !== 'object' || input === null) return;
  const known = Object.keys((schema as { properties?: Record<string, TSchema> }).properties ?? {});
  const unknown = Object.keys(input).filter((k) => !known.includes(k));
  if (unknown.length === 0) return;
  const details = unknown.map((k) => ({ path: k, message: `unknown parameter; expected ${known.length === 0 ? 'none' : known.join(', ')}` }));
  throw new ApiError('invalid_argument', `invalid query parameters: ${unknown[0]}: ${details[0]?.message ?? ''}`, { details });
}

/**
 * `?follow` (an empty value) means true for boolean query parameters, as in Docker's API; a
 * repeatable parameter (an array in the schema) given once is a list of one (`?label=a`).
 */
function normalizeFlags(schema: TSchema, input: unknown): unknown {
  if (typeof input !== 'object' || input === null) return input;
  const props = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
  const out: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  for (const [key, value] of Object.entries(out)) {
    const type = props[key]?.['type'];
    if (value === '' && type === 'boolean') out[key] = true;
    else if (type === 'array' && !Array.isArray(value)) out[key] = [value];
  }
  return out;
}
