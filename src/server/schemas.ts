/**
 * The error answers every route documents. The answer schemas themselves are the TypeBox shapes of
 * src/views/shapes.ts, which routes use directly: Fastify serializes with them, @fastify/swagger publishes them, and
 * their Static types are what the view functions return, so a schema and its view cannot drift apart.
 */
import { ErrorShape } from '../views/shapes.js';

/** Error answers documented on every route (4xx/5xx share one shape). */
export const errorResponses = {
  400: ErrorShape,
  401: ErrorShape,
  403: ErrorShape,
  404: ErrorShape,
  500: ErrorShape,
} as const;
