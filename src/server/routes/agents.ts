import type { FastifyInstance } from 'fastify';
import { executeAgentTry, prepareAgentTry } from '../../client/agent-try.js';
import { agentDetailOf, findAgent } from '../../client/lookup.js';
import type { JsonObject } from '../../definitions/types.js';
import { toStationError } from '../../errors.js';
import { AgentStore } from '../../store/agents.js';
import { agentSummary, agentVersionSummary } from '../../views/agents.js';
import { AgentDetail, AgentSummary, AgentVersionSummary, Page } from '../../views/shapes.js';
import type { ServerDeps } from '../deps.js';
import { decodeCursor, isNonNegativeInt, PAGE_QUERY, toPage, type PageQuery } from '../pagination.js';
import { API, responses } from './common.js';

const tags = ['agents'];
const whichQuery = {
  env: { type: 'string', minLength: 1, description: 'Environment (needed when the agent exists in several).' },
  bundle: {
    type: 'string',
    maxLength: 128,
    description: "Bundle the agent comes from (needed when bundles of one environment share the name; empty: the environment's own).",
  },
} as const;
const nameParams = { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 128 } }, required: ['name'] } as const;
const isTriple = (v: unknown): v is [string, string, string] => Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'string');

/**
 * Agents are read-only over the API (they change through Git, like workflow definitions); an operator may try one
 * (`POST /agents/{name}/runs`: run once outside any workflow, nothing stored).
 */
export function agentRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const agents = new AgentStore(deps.station.db);
  const find = (name: string, q: { env?: string | undefined; bundle?: string | undefined }) =>
    findAgent(agents, name, q, { env: '?env=', bundle: '?bundle=' });

  app.get<{ Querystring: PageQuery & { env?: string; status?: string } }>(
    `${API}/agents`,
    {
      config: { auth: 'viewer' },
      schema: {
        tags,
        summary: 'List agents with their status and active version, by environment, bundle and name.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { env: whichQuery.env, status: { type: 'string', enum: ['active', 'disabled', 'invalid'] }, ...PAGE_QUERY },
        },
        response: responses({ 200: Page(AgentSummary) }),
      },
    },
    (req) => {
      const after = decodeCursor(req.query.cursor, isTriple);
      const key = (r: { environment: string; scope: string; name: string }): [string, string, string] => [r.environment, r.scope, r.name];
      const later = (k: [string, string, string], a: [string, string, string]) =>
        k[0] !== a[0] ? k[0] > a[0] : k[1] !== a[1] ? k[1] > a[1] : k[2] > a[2];
      const rows = agents.listAgents({ environment: req.query.env, status: req.query.status }).filter((r) => !after || later(key(r), after));
      return toPage(rows.slice(0, req.query.limit + 1), req.query.limit, key, agentSummary);
    },
  );

  app.get<{ Params: { name: string }; Querystring: { env?: string; bundle?: string; version?: number } }>(
    `${API}/agents/:name`,
    {
      config: { auth: 'viewer' },
      schema: {
        tags,
        summary: 'An agent with its active version (or ?version=N): the parsed spec and the file as written.',
        params: nameParams,
        querystring: { type: 'object', additionalProperties: false, properties: { ...whichQuery, version: { type: 'integer', minimum: 1 } } },
        response: responses({ 200: AgentDetail }),
      },
    },
    (req) => agentDetailOf(agents, find(req.params.name, req.query), req.query.version),
  );

  app.get<{ Params: { name: string }; Querystring: PageQuery & { env?: string; bundle?: string } }>(
    `${API}/agents/:name/versions`,
    {
      config: { auth: 'viewer' },
      schema: {
        tags,
        summary: 'Every version of an agent, oldest first.',
        params: nameParams,
        querystring: { type: 'object', additionalProperties: false, properties: { ...whichQuery, ...PAGE_QUERY } },
        response: responses({ 200: Page(AgentVersionSummary) }),
      },
    },
    (req) => {
      const a = find(req.params.name, req.query);
      const after = decodeCursor(req.query.cursor, isNonNegativeInt) ?? 0;
      const rows = agents.versions(a.environment, a.scope, a.name).filter((v) => v.version > after);
      return toPage(rows.slice(0, req.query.limit + 1), req.query.limit, (v) => v.version, (v) => agentVersionSummary(v, a.active_version));
    },
  );

  app.post<{ Params: { name: string }; Body: { task: string; variables?: JsonObject; environment?: string; bundle?: string } }>(
    `${API}/agents/:name/runs`,
    {
      config: { auth: 'operator' },
      schema: {
        tags,
        summary: "Try an agent: run its active version once, outside any workflow, with the daemon's model providers and MCP tools. Nothing is stored.",
        description:
          'Checks first (404 unknown agent, 400 ambiguous name, 422 STN_E_INPUT_INVALID variables that break the input schema), then ' +
          'answers 200 with NDJSON (application/x-ndjson), one JSON object a line, each written as it happens: ' +
          '`{"type":"turn",...}` for a model turn and `{"type":"tool",...}` for a tool call (AgentRunProgress), then ' +
          '`{"type":"result","result":{...}}` (AgentRunResult: status succeeded or failed, with the step output or the step error code). ' +
          'A server error after the stream started ends it with `{"type":"error","error":{"code","message"}}`. ' +
          "A client that disconnects aborts the agent (its in-flight model request and tool calls). Secrets are masked.",
        params: nameParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['task'],
          properties: {
            task: { type: 'string', maxLength: 1_000_000, description: 'The task (the prompt\'s userInput).' },
            variables: { type: 'object', additionalProperties: true, description: "The prompt's variables (checked against its input schema, defaults applied)." },
            environment: whichQuery.env,
            bundle: whichQuery.bundle,
          },
        },
        produces: ['application/x-ndjson'],
        response: responses({ 200: { description: 'application/x-ndjson: progress lines, then the result line.', type: 'string' } }, [422]),
      },
    },
    async (req, reply) => {
      const b = req.body;
      const prepared = prepareAgentTry(deps.station, req.params.name, { task: b.task, variables: b.variables, environment: b.environment, bundle: b.bundle }, { env: 'environment', bundle: 'bundle' });
      const who = req.principal?.name ?? null;
      const fields = { agent: prepared.version.name, env: prepared.version.environment, version: prepared.version.version, by: who };
      req.log.info(fields, 'agent try-out started via API');
      const aborted = new AbortController();
      reply.hijack();
      // One answer per connection (closed after it, so a shutdown never waits on it); an agent may think longer than server.limits.idleTimeoutSeconds between two lines.
      if (typeof req.raw.socket.setTimeout === 'function') req.raw.socket.setTimeout(0);
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no', connection: 'close' });
      res.flushHeaders();
      // The response's 'close' before its end: the client went away, so the agent stops.
      res.once('close', () => {
        if (res.writableFinished) return;
        aborted.abort(new Error('the client disconnected'));
        res.destroy();
      });
      const forget = deps.streams.add(() => aborted.abort(new Error('the server is shutting down')));
      const write = (line: object) => {
        if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify(line)}\n`);
      };
      try {
        const result = await executeAgentTry(deps.station, prepared, write, aborted.signal);
        write({ type: 'result', result });
        req.log.info({ ...fields, status: result.status, code: result.error?.code ?? null, turns: result.turns }, 'agent try-out ended');
      } catch (err) {
        const e = toStationError(err);
        req.log.error({ ...fields, err }, 'agent try-out failed');
        write({ type: 'error', error: { code: e.code, message: deps.station.secrets().scrub(e.message) } });
      } finally {
        forget();
        res.end();
      }
    },
  );
}
