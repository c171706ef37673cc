import type { FastifyInstance } from 'fastify';
import { mustGetRun } from '../../client/lookup.js';
import { waitForRunEnd } from '../../client/run-tail.js';
import type { JsonValue } from '../../definitions/types.js';
import { RUN_STATUSES, RUN_TRIGGERS } from '../../store/runs.js';
import { eventJson, runDetailJson, runSummaryJson } from '../../views/runs.js';
import { actorOf, allows } from '../auth.js';
import type { ServerDeps } from '../deps.js';
import { decodeCursor, isNonNegativeInt, isString, PAGE_QUERY, toPage, type PageQuery } from '../pagination.js';
import { Page, RunDetail, RunEventShape, RunSummary } from '../../views/shapes.js';
import { resumeSeq, streamRun } from '../sse.js';
import { API, idParam, responses } from './common.js';

const tags = ['runs'];
/** The longest `?wait=` a caller may ask for, in seconds. */
export const MAX_WAIT_SECONDS = 600;
const runParams = idParam('id', 'Run id');

interface StartBody {
  workflowId: string;
  environment?: string;
  input?: JsonValue;
  version?: number;
  idempotencyKey?: string;
}

/** Runs: start (optionally waiting for the end), list, show, events, SSE stream, pause/resume/cancel, signals. */
export function runRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const { station } = deps;
  const detail = (id: string) => runDetailJson(mustGetRun(station.runStore, id), station.runStore.steps(id));

  app.post<{ Body: StartBody; Querystring: { wait?: number } }>(
    `${API}/workflow-runs`,
    {
      config: { auth: 'operator' },
      schema: {
        tags,
        summary: 'Start a run of the active version (or `version`); 201 with the run, 200 with the earlier run for a repeated idempotencyKey.',
        description:
          'With ?wait=<seconds> the answer comes when the run ends or the wait runs out (whichever is first), for synchronous callers; ' +
          'the run keeps going after a wait runs out. Invalid input: 422 STN_E_INPUT_INVALID with every violation in details.errors.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { wait: { type: 'number', minimum: 0, maximum: MAX_WAIT_SECONDS, description: `Seconds to wait for the run to end (max ${MAX_WAIT_SECONDS}).` } },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['workflowId'],
          properties: {
            workflowId: { type: 'string', minLength: 1, maxLength: 128 },
            environment: { type: 'string', minLength: 1, maxLength: 128 },
            input: { description: "Run input, validated against the workflow's inputSchema (default {})." },
            version: {
              type: 'integer',
              minimum: 1,
              description: 'Run this version instead of the active one: needs the admin role (403 STN_E_VERSION_PIN_FORBIDDEN), audited as run:version_pinned.',
            },
            idempotencyKey: { type: 'string', minLength: 1, maxLength: 256, description: 'A repeated key returns the first run.' },
          },
        },
        response: responses({ 200: RunDetail, 201: RunDetail }, [409, 422]),
      },
    },
    async (req, reply) => {
      const b = req.body;
      const by = actorOf(req.principal);
      // Only an admin may pin a version other than the active one (the service refuses it otherwise).
      const admin = req.principal !== null && allows(req.principal, 'admin');
      const { run, created, pinned } = station.runs.start({
        workflowId: b.workflowId,
        environment: b.environment,
        input: b.input,
        version: b.version,
        pinnedBy: admin ? (by ?? undefined) : undefined,
        idempotencyKey: b.idempotencyKey,
        trigger: { type: 'manual', via: 'api' },
        initiator: by ?? undefined,
      });
      if (created) req.log.info({ run_id: run.id, workflow_id: run.workflow_id, env: run.environment, by }, 'run started via API');
      if (pinned) {
        req.log.warn({ run_id: run.id, workflow_id: run.workflow_id, env: run.environment, version: run.version, by }, 'run pinned to a version that is not the active one');
      }
      const wait = req.query.wait ?? 0;
      if (wait > 0) {
        // A caller that goes away, or a daemon that shuts down, ends the wait (never the run).
        // The response's 'close' (not the request's: that one fires as soon as the body has been read) says the
        // connection went away before we answered.
        const aborted = new AbortController();
        // A wait may be longer than server.limits.idleTimeoutSeconds: nothing is written until it ends.
        if (typeof req.raw.socket.setTimeout === 'function') req.raw.socket.setTimeout(0);
        reply.raw.once('close', () => aborted.abort());
        const forget = deps.streams.add(() => aborted.abort());
        try {
          await waitForRunEnd(station, run.id, wait * 1000, aborted.signal);
        } finally {
          forget();
        }
      }
      return reply.code(created ? 201 : 200).send(detail(run.id));
    },
  );

  app.get<{ Querystring: PageQuery & { workflowId?: string; environment?: string; status?: string; trigger?: string; since?: string; until?: string } }>(
    `${API}/workflow-runs`,
    {
      config: { auth: 'viewer' },
      schema: {
        tags,
        summary: 'List runs, newest first.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            workflowId: { type: 'string', minLength: 1 },
            environment: { type: 'string', minLength: 1 },
            status: { type: 'string', enum: [...RUN_STATUSES] },
            trigger: { type: 'string', enum: [...RUN_TRIGGERS], description: 'How the runs were started.' },
            since: { type: 'string', format: 'date-time', description: 'Runs created at or after this time.' },
            until: { type: 'string', format: 'date-time', description: 'Runs created before this time.' },
            ...PAGE_QUERY,
          },
        },
        response: responses({ 200: Page(RunSummary) }),
      },
    },
    (req) => {
      const q = req.query;
      const before = decodeCursor(q.cursor, isString);
      const { workflowId, environment, status, trigger, since, until } = q;
      const rows = station.runStore.listRuns({ workflowId, environment, status, trigger, since, until, before, limit: q.limit + 1 });
      return toPage(rows, q.limit, (r) => r.id, runSummaryJson);
    },
  );

  app.get<{ Params: { id: string } }>(
    `${API}/workflow-runs/:id`,
    {
      config: { auth: 'viewer' },
      schema: { tags, summary: 'A run with its steps in order (input, output, error, attempts).', params: runParams, response: responses({ 200: RunDetail }) },
    },
    (req) => detail(req.params.id),
  );

  app.get<{ Params: { id: string }; Querystring: PageQuery & { stepId?: string } }>(
    `${API}/workflow-runs/:id/events`,
    {
      config: { auth: 'viewer' },
      schema: {
        tags,
        summary: "A run's event log in sequence order; `stepId` keeps the events of one step (an agent step's transcript: its agent:turn and agent:tool events).",
        params: runParams,
        querystring: { type: 'object', additionalProperties: false, properties: { ...PAGE_QUERY, stepId: { type: 'string', minLength: 1, maxLength: 200 } } },
        response: responses({ 200: Page(RunEventShape) }),
      },
    },
    (req) => {
      mustGetRun(station.runStore, req.params.id);
      const after = decodeCursor(req.query.cursor, isNonNegativeInt) ?? 0;
      const stepId = req.query.stepId;
      const rows = stepId !== undefined
        ? station.runStore.eventsOfStep(req.params.id, stepId, after, req.query.limit + 1)
        : station.runStore.events(req.params.id, after, req.query.limit + 1);
      return toPage(rows, req.query.limit, (e) => e.seq, eventJson);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { lastEventId?: string } }>(
    `${API}/workflow-runs/:id/stream`,
    {
      config: { auth: 'viewer' },
      schema: {
        tags,
        summary: 'Server-Sent Events: every run event as it is committed (`id:` = event seq); ends after the terminal event.',
        description:
          'Resume with the Last-Event-ID header (or ?lastEventId=). Each `data:` line is one event as JSON (the items of /events). ' +
          'A reconnect after the run ended gets 204.',
        params: runParams,
        querystring: { type: 'object', additionalProperties: false, properties: { lastEventId: { type: 'string' } } },
        produces: ['text/event-stream'],
        response: { 200: { description: 'text/event-stream', type: 'string' }, 204: { description: 'The run ended and nothing is left to send.', type: 'null' } },
      },
    },
    (req, reply) => {
      streamRun(station, deps.streams, req, reply, req.params.id, resumeSeq(req, req.query.lastEventId));
    },
  );

  const control = (verb: 'pause' | 'resume', summary: string) =>
    app.post<{ Params: { id: string } }>(
      `${API}/workflow-runs/:id/${verb}`,
      { config: { auth: 'operator' }, schema: { tags, summary, params: runParams, response: responses({ 200: RunSummary }, [409]) } },
      (req) => {
        const by = actorOf(req.principal);
        const run = verb === 'pause' ? station.runs.pause(req.params.id, by) : station.runs.resume(req.params.id, by);
        req.log.info({ run_id: run.id, by }, `run ${verb}d via API`);
        return runSummaryJson(run);
      },
    );
  control('pause', 'Pause: no new steps start; a running step finishes. 409 if the run already ended.');
  control('resume', 'Resume a paused run. 409 if the run already ended.');

  app.post<{ Params: { id: string }; Body: { compensate?: boolean } | undefined }>(
    `${API}/workflow-runs/:id/cancel`,
    {
      config: { auth: 'operator' },
      schema: {
        tags,
        summary: 'Cancel: running steps are stopped (processes killed) and the run ends CANCELLED; 202 (it happens asynchronously).',
        params: runParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { compensate: { type: 'boolean', description: 'Run the compensations of succeeded steps first.' } },
        },
        response: responses({ 202: RunSummary }, [409]),
      },
    },
    (req, reply) => {
      const by = actorOf(req.principal);
      const run = station.runs.cancel(req.params.id, req.body?.compensate ?? false, by);
      req.log.info({ run_id: run.id, by, compensate: req.body?.compensate ?? false }, 'run cancel requested via API');
      return reply.code(202).send(runSummaryJson(run));
    },
  );

  app.post<{ Params: { id: string }; Body: { name: string; payload?: JsonValue } }>(
    `${API}/workflow-runs/:id/signals`,
    {
      config: { auth: 'operator' },
      schema: {
        tags,
        summary: "Send a signal: the run's signal.wait step of that name gets the payload as its output (kept until one waits).",
        params: runParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 200 }, payload: { description: 'Any JSON value.' } },
        },
        response: responses({ 202: { type: 'object', properties: { signalId: { type: 'integer' } } } }, [409]),
      },
    },
    (req, reply) => {
      const { signalId } = station.runs.signal(req.params.id, req.body.name, req.body.payload);
      return reply.code(202).send({ signalId });
    },
  );
}
