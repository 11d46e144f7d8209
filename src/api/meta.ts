import { Type, type Static } from '@sinclair/typebox';

/**
 * Fields every stored object carries. `version` is the store revision of the object's last
 * write: a write that names a stale version is refused (optimistic concurrency, HTTP 409).
 */
export const Meta = Type.Object({
  id: Type.String({ description: 'Unique id, 25 lowercase base-36 characters.' }),
  version: Type.Integer({ minimum: 0, description: 'Store revision of the last write.' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type Meta = Static<typeof Meta>;

export const Labels = Type.Record(Type.String(), Type.String(), {
  description: 'Free-form key/value metadata.',
});
export type Labels = Static<typeof Labels>;

/** Names of services, stacks and the like: what Docker accepts for a container name. */
export const NAME_PATTERN = '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$';
/** `NAME_PATTERN` in words, for error messages. */
export const NAME_RULE = 'expected a name of letters, digits, "_", "." and "-", starting with a letter or digit, at most 63 characters';

/** The response of a route that answers 204 with no body. */
export const NoContent = Type.Null({ description: 'no content' });
