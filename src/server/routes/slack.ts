import type { FastifyInstance } from 'fastify';
import type { ServerDeps } from '../deps.js';
import { errorBody } from '../errors.js';

/**
 * `POST /slack/events` (HTTP mode): Slack's interactivity and events. No bearer token: Slack's signature over the raw
 * body (and its 5-minute replay window) authenticates the request, checked in src/slack/receiver.ts. Registered with
 * the raw-body parser.
 */
export function slackRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.post<{ Body: Buffer | undefined }>(
    '/slack/events',
    {
      config: { auth: 'hmac' },
      schema: {
        tags: ['slack'],
        summary: "Slack interactivity (buttons, the Reject dialog) and events, signed with the app's signing secret.",
        security: [],
      },
    },
    async (req, reply) => {
      if (!deps.slack) return reply.code(404).send(errorBody('STN_E_NOT_FOUND', 'Slack is not configured (station.yaml has no slack section)'));
      const answer = await deps.slack.handleHttp(req.body ?? Buffer.alloc(0), req.headers);
      if (typeof answer.body === 'string') return reply.code(answer.status).type('text/plain').send(answer.body);
      return reply.code(answer.status).send(answer.body);
    },
  );
}
