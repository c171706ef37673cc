import type { FastifyInstance } from 'fastify';
import { API } from './common.js';

/** `GET /api/v1/openapi.json`: the OpenAPI 3.1 document generated from the route schemas. */
export function openapiRoutes(app: FastifyInstance): void {
  app.get(`${API}/openapi.json`, { config: { auth: 'public' }, schema: { hide: true } }, () => app.swagger());
}
