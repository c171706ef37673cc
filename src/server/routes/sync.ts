import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../errors.js';
import { checkoutState, syncJson } from '../../views/sync.js';
import { Auth } from '../auth.js';
import type { ServerDeps } from '../deps.js';
import { SyncReportShape } from '../../views/shapes.js';
import { API, responses } from './common.js';

const tags = ['sync'];

/** `POST /api/v1/sync` (sync now) and `GET /api/v1/sync/status` (last syncs, Git state, per-environment commits). */
export function syncRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const { station } = deps;

  app.post<{ Body: { environment?: string; dryRun?: boolean; allowEmpty?: boolean } | undefined }>(
    `${API}/sync`,
    {
      config: { auth: 'operator' },
      schema: {
        tags,
        summary: 'Sync definitions from the checkout now (the report of `stn sync --json`). allowEmpty needs the admin role.',
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            environment: { type: 'string', minLength: 1 },
            dryRun: { type: 'boolean' },
            allowEmpty: { type: 'boolean', description: 'Allow disabling every definition of an environment (admin).' },
          },
        },
        response: responses({ 200: SyncReportShape }),
      },
    },
    async (req) => {
      const b = req.body ?? {};
      if (b.allowEmpty) Auth.require(req, 'admin', 'a sync with allowEmpty');
      if (b.environment !== undefined && !station.definitions.environment(b.environment) && !envOnDisk(deps, b.environment)) {
        throw new NotFoundError(`environment "${b.environment}" is not in environments/`);
      }
      const report = await deps.sync({ environment: b.environment, dryRun: b.dryRun, allowEmpty: b.allowEmpty, source: 'api' });
      const { remote, branch } = station.config.git;
      return syncJson(report, await checkoutState(station.git, remote, branch));
    },
  );

  app.get(
    `${API}/sync/status`,
    { config: { auth: 'viewer' }, schema: { tags, summary: 'The last syncs, the Git checkout (branch, HEAD, dirty, diverged, last fetch), per-environment commits, cron triggers.' } },
    async () => ({
      watching: deps.state().watching,
      git: (await deps.git?.status()) ?? null,
      environments: station.definitions.environments().map((e) => ({
        name: e.name,
        lastSyncedCommit: e.last_synced_commit,
        lastSyncedAt: e.last_synced_at,
        lastAttemptedCommit: e.last_attempted_commit,
        lastAttemptedAt: e.last_attempted_at,
        lastSyncStatus: e.last_sync_status,
        lastSyncError: e.last_sync_error,
      })),
      syncs: station.definitions.syncRuns(10).map((r) => ({
        id: r.id,
        source: r.source,
        status: r.status,
        startedAt: r.started_at,
        finishedAt: r.finished_at,
        commit: r.git_commit,
        environments: JSON.parse(r.environments) as unknown,
        summary: r.summary === null ? null : (JSON.parse(r.summary) as unknown),
        error: r.error,
      })),
      cron: deps.cron?.list() ?? [],
    }),
  );
}

/** An environment folder in the checkout (the name is checked first: it must not walk out of environments/). */
function envOnDisk(deps: ServerDeps, name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) && fs.existsSync(path.join(deps.station.config.repo, 'environments', name));
}
