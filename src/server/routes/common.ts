import { errorResponses } from '../schemas.js';

/** Prefix of every API route. */
export const API = '/api/v1';

/** The response part of a route schema: the success answers plus the shared error answers. */
export function responses(ok: Record<number, object>, extra: number[] = []) {
  const errors: Record<number, object> = { ...errorResponses };
  for (const code of extra) errors[code] = errorResponses[400];
  return { ...ok, ...errors };
}

export const idParam = (name: string, description: string) =>
  ({ type: 'object', properties: { [name]: { type: 'string', minLength: 1, maxLength: 200, description } }, required: [name] }) as const;
