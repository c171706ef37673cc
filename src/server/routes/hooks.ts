import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerDeps } from '../deps.js';
import { errorBody } from '../errors.js';
import { webhookOutcome } from '../metrics.js';
import { API } from './common.js';

interface HookParams {
  env: string;
  workflowId: string;
  trigger: string;
}

/**
 * `POST /api/v1/hooks/<env>/<workflowId>/<trigger>` (DESIGN §6): no bearer token; the trigger's HMAC signature over
 * the raw body authenticates the sender (src/triggers/webhook.ts). Registered with the raw-body parser; bodies over
 * server.maxBodyBytes are refused with 413 before the handler runs.
 */
export function hookRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.addHook('onError', async (req: FastifyRequest, _reply, err: { statusCode?: number }) => {
    if (err.statusCode === 413 && req.routeOptions.url?.startsWith(`${API}/hooks/`)) deps.metrics.webhookDelivery('too_large');
  });

  app.post<{ Params: HookParams; Body: Buffer | undefined }>(
    `${API}/hooks/:env/:workflowId/:trigger`,
    {
      config: { auth: 'hmac' },
      schema: {
        tags: ['triggers'],
        summary: 'Webhook trigger: HMAC-SHA256 of the raw body (X-Hub-Signature-256 or X-Signature) with the secret of the trigger\'s secretEnv.',
        description:
          '202 {runId}; 200 {runId, duplicate: true} for a repeated delivery id; 401 bad signature; 404 unknown or disabled; ' +
          '413 body too large; 422 invalid input.',
        security: [],
        params: {
          type: 'object',
          properties: { env: { type: 'string' }, workflowId: { type: 'string' }, trigger: { type: 'string' } },
          required: ['env', 'workflowId', 'trigger'],
        },
      },
    },
    (req, reply) => {
      if (!deps.webhooks) return reply.code(404).send(errorBody('STN_E_NOT_FOUND', 'webhook triggers are not served by this process'));
      const res = deps.webhooks.handle({
        environment: req.params.env,
        workflowId: req.params.workflowId,
        trigger: req.params.trigger,
        rawBody: req.body ?? Buffer.alloc(0),
        headers: req.headers,
        query: req.query as Record<string, string | string[] | undefined>,
      });
      deps.metrics.webhookDelivery(res.outcome ?? webhookOutcome(res.status));
      return reply.code(res.status).send(res.body);
    },
  );
}
