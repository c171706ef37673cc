import type { FastifyInstance } from 'fastify';
import { storageHealth } from '../../store/health.js';
import type { ServerDeps } from '../deps.js';

const probeSchema = { tags: ['health'], security: [] } as const;

/** `GET /healthz` (the process answers), `GET /readyz` (database reachable, first sync done, not shutting down). */
export function healthRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.get('/healthz', { config: { auth: 'public' }, schema: { ...probeSchema, summary: 'Liveness: the daemon answers.' } }, () => ({
    status: 'ok',
  }));

  app.get(
    '/readyz',
    {
      config: { auth: 'public' },
      schema: {
        ...probeSchema,
        summary: 'Readiness: the database answers, the first sync has run and the daemon is not shutting down.',
        description: 'A failed last sync is reported but does not make the daemon unready: it keeps serving the last good definitions.',
      },
    },
    (_req, reply) => {
      const state = deps.state();
      let database = 'ok';
      try {
        deps.stats.ping();
      } catch (err) {
        database = (err as Error).message;
      }
      // Reads may still work while writes fail (a full disk, a read-only or deleted file): the store's health knows.
      const problem = storageHealth(deps.station.db).problem();
      if (database === 'ok' && problem) database = problem.code;
      let lastSync: Record<string, unknown> | null = null;
      if (database === 'ok') {
        const row = deps.station.definitions.syncRuns(1)[0];
        if (row) lastSync = { id: row.id, source: row.source, status: row.status, startedAt: row.started_at, finishedAt: row.finished_at, error: row.error };
      }
      const ready = database === 'ok' && state.initialSyncDone && !state.shuttingDown;
      return reply.code(ready ? 200 : 503).send({
        status: ready ? 'ready' : 'not ready',
        checks: { database, initialSync: state.initialSyncDone ? 'done' : 'pending', shuttingDown: state.shuttingDown, lastSync },
      });
    },
  );
}
