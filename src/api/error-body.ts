import { Type, type Static } from '@sinclair/typebox';
import { API_ERRORS } from './errors.ts';

// Apart from errors.ts, which the client (and so every CLI command) loads: the schema needs TypeBox.

/** The body of every error response (and the `data:` of an `event: error` stream frame). */
export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.Union(Object.keys(API_ERRORS).map((c) => Type.Literal(c))),
    message: Type.String(),
    details: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
  }),
});
export type ErrorBody = Static<typeof ErrorBody>;
