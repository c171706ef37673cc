import type { FastifyInstance } from 'fastify';
import { StationError } from '../../errors.js';
import { summarize } from '../../sync/sync.js';
import type { ServerDeps } from '../deps.js';
import { errorBody } from '../errors.js';
import { API } from './common.js';

/**
 * `POST /api/v1/git/webhook`: a push notification (GitHub style or generic) that only triggers a refresh: fetch +
 * fast-forward now, then a sync when HEAD moved. Authenticated by HMAC with the secret in the variable named by
 * `git.webhookSecretEnv`; the body is not otherwise trusted or used.
 */
export function gitRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.post<{ Body: Buffer | undefined }>(
    `${API}/git/webhook`,
    {
      config: { auth: 'hmac' },
      schema: {
        tags: ['sync'],
        summary: 'Git push webhook: verify the HMAC, fetch + fast-forward the checkout, sync if HEAD moved.',
        description: '200 {updated, head, reason?, sync}; 401 bad signature; 404 when git.webhookSecretEnv is not configured or its variable is unset.',
        security: [],
      },
    },
    async (req, reply) => {
      const name = deps.station.config.git.webhookSecretEnv;
      const secret = name ? deps.env[name] : undefined;
      const verify = deps.verifySignature;
      if (!name || !secret || !verify) {
        return reply
          .code(404)
          .send(errorBody('STN_E_NOT_FOUND', name ? `the git webhook secret variable ${name} is not set` : 'the git push webhook is not configured (git.webhookSecretEnv)'));
      }
      const body = req.body ?? Buffer.alloc(0);
      if (!verify(body, req.headers, secret)) {
        req.log.warn({ remote: req.ip }, 'git webhook with a missing or wrong signature');
        throw new StationError('STN_E_WEBHOOK_SIGNATURE', 'the signature (X-Hub-Signature-256 or X-Signature) does not match the body');
      }
      if (req.headers['x-github-event'] === 'ping') return { updated: false, head: null, reason: 'ping', sync: null };
      if (!deps.git) return reply.code(404).send(errorBody('STN_E_NOT_FOUND', 'git polling is not available in this process'));
      const refreshed = await deps.git.refresh();
      req.log.info({ updated: refreshed.updated, head: refreshed.head, reason: refreshed.reason }, 'git webhook refresh');
      const report = refreshed.updated ? await deps.sync({ source: 'webhook' }) : null;
      return { ...refreshed, sync: report ? summarize(report) : null };
    },
  );
}
