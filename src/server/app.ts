import swagger from '@fastify/swagger';
import type { ValidateFunction } from 'ajv';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import pkg from '../../package.json' with { type: 'json' };
import { requestValidator } from '../json-schema.js';
import type { ServerDeps } from './deps.js';
import { installErrorHandlers } from './errors.js';
import { RequestGuards } from './guards.js';
import { installJsonBodyParser } from './json-body.js';
import { limitConnections, serverOptions } from './limits.js';
import { agentRoutes } from './routes/agents.js';
import { approvalRoutes } from './routes/approvals.js';
import { gitRoutes } from './routes/git.js';
import { healthRoutes } from './routes/health.js';
import { hookRoutes } from './routes/hooks.js';
import { metricsRoutes } from './routes/metrics.js';
import { openapiRoutes } from './routes/openapi.js';
import { runRoutes } from './routes/runs.js';
import { slackRoutes } from './routes/slack.js';
import { syncRoutes } from './routes/sync.js';
import { workflowRoutes } from './routes/workflows.js';

/**
 * Request validation: query strings and path parameters arrive as text, so they are coerced to the schema's types
 * (`?limit=5`); JSON bodies are not, so `{"workflowId": 5}` or `{"dryRun": "true"}` is refused naming the field
 * instead of being silently turned into another value.
 */
function validatorCompiler(): (route: { schema: object; httpPart?: string }) => ValidateFunction {
  const body = requestValidator('body');
  const text = requestValidator('text');
  return ({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema);
}

/** A file of routes: registers them on `app` with the daemon's services. */
export type RouteModule = (app: FastifyInstance, deps: ServerDeps) => void;

interface RouteEntry {
  routes: RouteModule;
  /**
   * The routes get the body as a Buffer of the exact bytes received, whatever its content type (HMAC verification:
   * webhooks, the Git push webhook, Slack's /slack/events).
   */
  rawBody?: boolean;
}

/**
 * Every route of the server, in one list: adding a feature's routes is one line here. Each route declares its access
 * in `config.auth` (src/server/auth.ts); one that does not is admin-only.
 */
const ROUTES: RouteEntry[] = [
  { routes: healthRoutes },
  { routes: metricsRoutes },
  { routes: openapiRoutes },
  { routes: workflowRoutes },
  { routes: agentRoutes },
  { routes: runRoutes },
  { routes: syncRoutes },
  { routes: hookRoutes, rawBody: true },
  { routes: gitRoutes, rawBody: true },
  { routes: approvalRoutes },
  { routes: slackRoutes, rawBody: true },
];

/** Builds the HTTP server (not listening yet): tests call `inject()` on it, the daemon `listen()`. */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.station.logger.child({ component: 'http' }) as FastifyBaseLogger,
    // One debug line per request from the onResponse hook below instead of Fastify's two info lines.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.station.config.server.maxBodyBytes,
    // SSE streams are long-lived: the server ends them itself on close (preClose below).
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Timeouts, trustProxy and 408s in the API's error shape (server.limits, docs/security.md).
    ...serverOptions(deps.station.config, deps.station.logger),
  });
  limitConnections(app.server, deps.station.config, deps.station.logger);
  app.setValidatorCompiler(validatorCompiler());
  installErrorHandlers(app);
  installJsonBodyParser(app);
  // Host/Origin check, per-client body cap and rate limits: before authentication.
  new RequestGuards(deps.auth, deps.station.config).install(app);
  deps.auth.install(app);
  app.addHook('onResponse', async (req, reply) => {
    const fields = { method: req.method, url: req.routeOptions.url ?? req.url, status: reply.statusCode, duration_ms: Math.round(reply.elapsedTime), token: req.principal?.name };
    if (reply.statusCode >= 500) req.log.warn(fields, 'request failed');
    else req.log.debug(fields, 'request');
  });
  app.addHook('preClose', async () => deps.streams.endAll());

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Station API',
        version: pkg.version,
        description: 'Station: GitOps workflow daemon. Errors are {error: {code, message, details}}; lists are paginated with ?limit= and ?cursor= (nextCursor).',
      },
      servers: deps.station.config.server.publicUrl ? [{ url: deps.station.config.server.publicUrl }] : [],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token of server.tokens in station.yaml.' } } },
      security: [{ bearer: [] }],
    },
  });

  for (const entry of ROUTES) {
    if (!entry.rawBody) {
      entry.routes(app, deps);
      continue;
    }
    await app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
      entry.routes(scope, deps);
    });
  }
  await app.ready();
  return app;
}
