import type { FastifyInstance } from 'fastify';
import type { ServerDeps } from '../deps.js';

/** `GET /metrics`: Prometheus text format. Needs a viewer token when tokens are configured (it describes the runs). */
export function metricsRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.get(
    '/metrics',
    { config: { auth: 'viewer' }, schema: { tags: ['health'], summary: 'Prometheus metrics (runs by status, step durations, queue depth, syncs, webhooks, agent model and tool calls).' } },
    async (_req, reply) => reply.header('content-type', deps.metrics.contentType).send(await deps.metrics.text()),
  );
}
