import type { FastifyInstance } from 'fastify';
import { storageHealth } from '../../store/health.js';
import type { ServerDeps } from '../deps.js';

const probeSchema = { tags: ['health'], security: [] } as const;

/** The reason code of a sync's status, shown by /readyz instead of the error text. */
const SYNC_REASONS: Record<string, string> = { error: 'sync_failed', refused: 'sync_refused', invalid: 'invalid_definitions' };
/** Last-sync statuses that make a ready daemon "degraded": nothing of that sync was applied. */
const DEGRADING = new Set(['error', 'refused']);

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
        description:
          'A daemon that serves but may serve stale definitions answers 200 with status "degraded" and reason codes in ' +
          'reasons (git_missing, git_diverged, git_fetch_failed, sync_failed, sync_refused) and checks.lastSync.reason: it keeps ' +
          'serving the last good definitions. The error text is shown only with a valid bearer token; GET /api/v1/sync/status has it too.',
      },
    },
    (req, reply) => {
      const state = deps.state();
      let database = 'ok';
      try {
        deps.stats.ping();
      } catch (err) {
        // The message may name files: logged, not shown on this public endpoint.
        req.log.warn({ err }, 'readiness: the database does not answer');
        database = 'unavailable';
      }
      // Reads may still work while writes fail (a full disk, a read-only or deleted file): the store's health knows.
      const problem = storageHealth(deps.station.db).problem();
      if (database === 'ok' && problem) database = problem.code;
      const trusted = req.server.guards.optionalPrincipal(req) !== null;
      let lastSync: Record<string, unknown> | null = null;
      if (database === 'ok') {
        const row = deps.station.definitions.syncRuns(1)[0];
        if (row) {
          lastSync = {
            id: row.id,
            source: row.source,
            status: row.status,
            startedAt: row.started_at,
            finishedAt: row.finished_at,
            reason: SYNC_REASONS[row.status] ?? null,
            ...(trusted ? { error: row.error } : {}),
          };
        }
      }
      const ready = database === 'ok' && state.initialSyncDone && !state.shuttingDown;
      const reasons = ready
        ? [...new Set([...state.degraded, ...(lastSync !== null && DEGRADING.has(String(lastSync.status)) ? [String(lastSync.reason)] : [])])].sort()
        : [database === 'ok' ? [] : [problem?.code ?? 'database_unavailable'], state.initialSyncDone ? [] : ['starting'], state.shuttingDown ? ['shutting_down'] : []].flat();
      return reply.code(ready ? 200 : 503).send({
        status: ready ? (reasons.length > 0 ? 'degraded' : 'ready') : 'not ready',
        reasons,
        checks: { database, initialSync: state.initialSyncDone ? 'done' : 'pending', shuttingDown: state.shuttingDown, lastSync },
      });
    },
  );
}
