import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { ErrorBody } from '../../api/error-body.ts';
import { ClusterEventSchema } from '../../api/event.ts';
import { Info } from '../../api/info.ts';
import { TaskLogLine } from '../../api/log-line.ts';
import { Network, NetworkSpec } from '../../api/network.ts';
import { Node, NodeUpdate } from '../../api/node.ts';
import { Config, Secret } from '../../api/secret.ts';
import { Service, ServiceSpec } from '../../api/service.ts';
import { Stack, StackSpec } from '../../api/stack.ts';
import { Task } from '../../api/task.ts';

declare module 'fastify' {
  /** Route documentation the OpenAPI document carries (as @fastify/swagger spells it). */
  interface FastifySchema {
    summary?: string;
    description?: string;
    tags?: string[];
  }
  interface FastifyContextConfig {
    /** Leave the route out of the OpenAPI document. */
    hidden?: boolean;
  }
}

/**
 * Schemas published under `components.schemas` and referenced by `$ref` wherever they occur.
 * Every schema here and in the routes is a TypeBox object of `src/api`: the document is built
 * from the same objects that validate requests.
 */
const COMPONENTS: ReadonlyArray<readonly [string, TSchema]> = [
  ['Service', Service],
  ['ServiceSpec', ServiceSpec],
  ['Task', Task],
  ['Node', Node],
  ['NodeUpdate', NodeUpdate],
  ['TaskLogLine', TaskLogLine],
  ['ClusterEvent', ClusterEventSchema],
  ['Secret', Secret],
  ['Config', Config],
  ['Network', Network],
  ['NetworkSpec', NetworkSpec],
  ['Stack', Stack],
  ['StackSpec', StackSpec],
  ['Info', Info],
  ['Error', ErrorBody],
];

interface RouteSchema {
  summary?: string;
  description?: string;
  tags?: string[];
  params?: TSchema;
  querystring?: TSchema;
  body?: TSchema;
  response?: Record<string, TSchema>;
}

/** Collects routes as they are registered; `document()` builds the OpenAPI 3.1 document from them. */
export class OpenApiCollector {
  #routes: RouteOptions[] = [];

  attach(app: FastifyInstance): void {
    app.addHook('onRoute', (route) => {
      if (route.schema && !(route.config as { hidden?: boolean } | undefined)?.hidden) this.#routes.push(route);
    });
  }

  document(version: string): Record<string, unknown> {
    const byRef = new Map<TSchema, string>(COMPONENTS.map(([name, s]) => [s, name]));
    const ref = (s: TSchema, top = true): unknown => toJson(s, byRef, top);
    const paths: Record<string, Record<string, unknown>> = {};
    for (const route of this.#routes) {
      const schema = route.schema as RouteSchema;
      const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const methods = (Array.isArray(route.method) ? route.method : [route.method]).map((m) => m.toLowerCase());
      const op: Record<string, unknown> = {};
      if (schema.summary) op['summary'] = schema.summary;
      if (schema.description) op['description'] = schema.description;
      if (schema.tags) op['tags'] = schema.tags;
      const parameters = [...parametersOf(schema.params, 'path', byRef), ...parametersOf(schema.querystring, 'query', byRef)];
      if (parameters.length) op['parameters'] = parameters;
      if (schema.body) op['requestBody'] = { required: true, content: { 'application/json': { schema: ref(schema.body) } } };
      op['responses'] = responsesOf(route.url, schema.response ?? {}, ref);
      for (const m of methods) {
        if (m === 'head') continue;
        (paths[path] ??= {})[m] = op;
      }
    }
    const schemas: Record<string, unknown> = {};
    for (const [name, s] of COMPONENTS) schemas[name] = toJson(s, byRef, false);
    return {
      openapi: '3.1.0',
      info: { title: 'Flotilla API', version, description: 'Errors are `{error: {code, message, details}}` with the status of their code.' },
      paths,
      components: { schemas },
    };
  }
}

function responsesOf(url: string, response: Record<string, TSchema>, ref: (s: TSchema) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const mediaType = url.endsWith('/events') ? 'text/event-stream' : url.endsWith('/logs') ? 'application/x-ndjson' : 'application/json';
  for (const [status, s] of Object.entries(response)) {
    const isError = Number(status) >= 400;
    const description = isError ? 'error' : 'success';
    if (status === '204') out[status] = { description: 'no content' };
    else out[status] = { description, content: { [isError ? 'application/json' : mediaType]: { schema: ref(s) } } };
  }
  return out;
}

function parametersOf(schema: TSchema | undefined, where: 'path' | 'query', byRef: Map<TSchema, string>): unknown[] {
  if (!schema) return [];
  const props = (schema['properties'] ?? {}) as Record<string, TSchema>;
  const required = new Set<string>((schema['required'] as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, s]) => {
    const { description, ...rest } = toJson(s, byRef, true) as Record<string, unknown>;
    return { name, in: where, required: where === 'path' || required.has(name), ...(description ? { description } : {}), schema: rest };
  });
}

/**
 * A TypeBox schema as plain JSON Schema: symbol keys (TypeBox's `Kind`) dropped, and known
 * component schemas replaced by `$ref` below the top level of the component itself.
 */
function toJson(schema: unknown, byRef: Map<TSchema, string>, top: boolean): unknown {
  if (Array.isArray(schema)) return schema.map((s) => toJson(s, byRef, true));
  if (typeof schema !== 'object' || schema === null) return schema;
  const name = byRef.get(schema as TSchema);
  if (name !== undefined && top) return { $ref: `#/components/schemas/${name}` };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = toJson(v, byRef, true);
  return out;
}
