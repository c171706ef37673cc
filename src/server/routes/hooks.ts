import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerDeps } from '../deps.js';
import { errorBody } from '../errors.js';
import { webhookOutcome } from '../metrics.js';
import { ErrorShape } from '../../views/shapes.js';
import { API } from './common.js';

/** The answers of a webhook trigger (README "Webhooks"), so the OpenAPI document lists them. */
const hookResponses = {
  202: { description: 'The run was created; it runs asynchronously.', type: 'object', properties: { runId: { type: 'string' } }, required: ['runId'] },
  200: {
    description: 'A repeated delivery id: the first run, nothing started.',
    type: 'object',
    properties: { runId: { type: 'string' }, duplicate: { type: 'boolean' } },
    required: ['runId', 'duplicate'],
  },
  400: { ...ErrorShape, description: 'The body claims to be JSON but is not or nests deeper than 64 levels (STN_E_BODY_TOO_DEEP), the delivery id is too long, or it is missing and the trigger requires one.' },
  401: { ...ErrorShape, description: 'A correctly signed X-Station-Signature whose timestamp is more than 5 minutes off (STN_E_WEBHOOK_STALE).' },
  404: {
    ...ErrorShape,
    description: 'No such environment, workflow or enabled webhook trigger, or the signature is missing or wrong (one answer for all, so the existence of a trigger is not revealed).',
  },
  409: { ...ErrorShape, description: 'The workflow has no runnable version.' },
  413: { ...ErrorShape, description: 'The body is larger than server.maxBodyBytes.' },
  422: { ...ErrorShape, description: 'The input fails inputSchema (details.errors) or the mapping fails.' },
  500: { ...ErrorShape, description: 'Internal error while starting the run.' },
} as const;

interface HookParams {
  env: string;
  workflowId: string;
  trigger: string;
}

/**
 * `POST /api/v1/hooks/<env>/<workflowId>/<trigger>` (docs/security.md "Webhooks"): no bearer token; the trigger's HMAC
 * signature over the raw body authenticates the sender (src/triggers/webhook.ts). Registered with the raw-body parser;
 * bodies over server.maxBodyBytes are refused with 413 before the handler runs.
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
        summary:
          'Webhook trigger: X-Station-Signature: t=<unix>,v1=<HMAC-SHA256 of "<t>.<path>.<body>">, or the body-only X-Hub-Signature-256 / X-Signature, ' +
          "with the secret of the trigger's secretEnv (or previousSecretEnv).",
        description:
          '202 {runId}; 200 {runId, duplicate: true} for a repeated delivery id or a replayed timestamped signature; 404 unknown, disabled, ' +
          'or signature missing or wrong; 401 timestamp more than 5 minutes off; 400 delivery id missing (requireDeliveryId); 413 body too large; 422 invalid input.',
        security: [],
        params: {
          type: 'object',
          properties: { env: { type: 'string' }, workflowId: { type: 'string' }, trigger: { type: 'string' } },
          required: ['env', 'workflowId', 'trigger'],
        },
        response: hookResponses,
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
        path: req.url,
        query: req.query as Record<string, string | string[] | undefined>,
      });
      deps.metrics.webhookDelivery(res.outcome ?? webhookOutcome(res.status));
      return reply.code(res.status).send(res.body);
    },
  );
}
