import type { FastifyInstance } from 'fastify';
import { agentDetailOf, findAgent } from '../../client/lookup.js';
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

/** Agents are read-only over the API: they change through Git, like workflow definitions. */
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
}
