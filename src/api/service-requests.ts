import { Type, type Static } from '@sinclair/typebox';
import { NAME_PATTERN } from './meta.ts';
import { Service, ServiceSpec } from './service.ts';
import { STACK_LABEL } from './stack.ts';

/**
 * The wire shapes of the service routes besides the service itself: path parameter, the
 * update and scale bodies, and the list filter (`GET /v1/services?stack=&label=`).
 */

/** Path parameter of `/v1/services/:idOrName`. */
export const ServiceRef = Type.Object({ idOrName: Type.String({ description: 'Service id, name or unique id prefix.' }) });
export type ServiceRef = Static<typeof ServiceRef>;

/** `GET /v1/services`. */
export const ServiceList = Type.Array(Service);

/** Body of `PUT /v1/services/:idOrName`: the full new spec and the version it was based on. */
export const ServiceUpdateBody = Type.Object(
  {
    version: Type.Integer({ minimum: 0, description: 'The service version the new spec was based on (409 if stale).' }),
    spec: ServiceSpec,
  },
  { additionalProperties: false },
);
export type ServiceUpdateBody = Static<typeof ServiceUpdateBody>;

/** Body of `POST /v1/services/:idOrName/scale`. */
export const ScaleBody = Type.Object(
  {
    replicas: Type.Integer({ minimum: 0 }),
    version: Type.Optional(Type.Integer({ minimum: 0, description: 'When given, 409 if the service changed since.' })),
  },
  { additionalProperties: false },
);
export type ScaleBody = Static<typeof ScaleBody>;

const LABEL_FILTER_RULE = 'expected KEY=VALUE (the label has this value) or KEY (the service has the label)';

/** `?label=` of the list routes: repeatable, all must match. */
export const LabelFilter = Type.Array(Type.String({ pattern: '^[^=]+(=.*)?$', errorMessage: LABEL_FILTER_RULE }), {
  description: 'KEY=VALUE: the label KEY has VALUE; KEY alone: the object has label KEY. Repeat for several (all must match).',
});

/** Query of `GET /v1/services`; filters combine with AND. */
export const ServiceFilter = Type.Object(
  {
    stack: Type.Optional(
      Type.String({
        pattern: NAME_PATTERN,
        errorMessage: 'expected a stack name (letters, digits, "_", "." and "-", starting with a letter or digit)',
        description: 'Only the services of this stack (label com.docker.stack.namespace).',
      }),
    ),
    label: Type.Optional(
      Type.Array(Type.String({ pattern: '^[^=]+(=.*)?$', errorMessage: LABEL_FILTER_RULE }), {
        description: 'KEY=VALUE: the service label KEY has VALUE; KEY alone: the service has label KEY. Repeat for several (all must match).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ServiceFilter = Static<typeof ServiceFilter>;

/** Whether a service passes a (validated) `ServiceFilter`. Pure. */
export function matchesServiceFilter(service: Service, filter: ServiceFilter): boolean {
  const labels = service.spec.labels as Readonly<Record<string, string>>;
  if (filter.stack !== undefined && labels[STACK_LABEL] !== filter.stack) return false;
  return matchesLabels(labels, filter.label ?? []);
}

/** Whether `labels` pass every label filter (`KEY=VALUE`: has this value; `KEY`: has the label). Pure. */
export function matchesLabels(labels: Readonly<Record<string, string>>, filters: readonly string[]): boolean {
  for (const l of filters) {
    const eq = l.indexOf('=');
    const key = eq < 0 ? l : l.slice(0, eq);
    if (!Object.hasOwn(labels, key)) return false;
    if (eq >= 0 && labels[key] !== l.slice(eq + 1)) return false;
  }
  return true;
}
