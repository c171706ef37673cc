import type { FastifyInstance } from 'fastify';
import { validateDefinitionText } from '../../definitions/validate.js';
import { definitionDetailOf, findDefinition } from '../../client/lookup.js';
import { NotFoundError } from '../../errors.js';
import type { DefinitionRow } from '../../store/definitions.js';
import { definitionSummary, validateResult, versionDetail, versionSummary } from '../../views/definitions.js';
import type { ServerDeps } from '../deps.js';
import { decodeCursor, isNonNegativeInt, isStringPair, PAGE_QUERY, toPage, type PageQuery } from '../pagination.js';
import { DefinitionDetail, DefinitionSummary, Page, ValidateResult, VersionDetail, VersionSummary } from '../../views/shapes.js';
import { API, responses } from './common.js';

const tags = ['workflows'];
const envQuery = { env: { type: 'string', minLength: 1, description: 'Environment (needed when the id exists in several).' } } as const;
const idParams = { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 128 } }, required: ['id'] } as const;

/** Definitions are read-only over the API: they change through Git (a sync of the checkout). */
export function workflowRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const { station } = deps;

  const find = (id: string, env: string | undefined): DefinitionRow => findDefinition(station.definitions, id, env, '?env=');

  app.get<{ Querystring: PageQuery & { env?: string; status?: string } }>(
    `${API}/workflows`,
    {
      config: { auth: 'viewer' },
      schema: {
        tags,
        summary: 'List definitions with their status and active version, by environment and id.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...envQuery, status: { type: 'string', enum: ['active', 'disabled', 'invalid'] }, ...PAGE_QUERY },
        },
        response: responses({ 200: Page(DefinitionSummary) }),
      },
    },
    (req) => {
      const after = decodeCursor(req.query.cursor, isStringPair);
      const rows = station.definitions
        .listDefinitions({ environment: req.query.env, status: req.query.status })
        .filter((r) => !after || r.environment > after[0] || (r.environment === after[0] && r.workflow_id > after[1]));
      return toPage(rows.slice(0, req.query.limit + 1), req.query.limit, (r) => [r.environment, r.workflow_id], definitionSummary);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { env?: string; version?: number } }>(
    `${API}/workflows/:id`,
    {
      config: { auth: 'viewer' },
      schema: {
        tags,
        summary: 'A definition with its active version (or ?version=N): normalized spec and the file as written.',
        params: idParams,
        querystring: { type: 'object', additionalProperties: false, properties: { ...envQuery, version: { type: 'integer', minimum: 1 } } },
        response: responses({ 200: DefinitionDetail }),
      },
    },
    (req) => definitionDetailOf(station.definitions, find(req.params.id, req.query.env), req.query.version),
  );

  app.get<{ Params: { id: string }; Querystring: PageQuery & { env?: string } }>(
    `${API}/workflows/:id/versions`,
    {
      config: { auth: 'viewer' },
      schema: {
        tags,
        summary: 'Every version of a definition, oldest first.',
        params: idParams,
        querystring: { type: 'object', additionalProperties: false, properties: { ...envQuery, ...PAGE_QUERY } },
        response: responses({ 200: Page(VersionSummary) }),
      },
    },
    (req) => {
      const d = find(req.params.id, req.query.env);
      const after = decodeCursor(req.query.cursor, isNonNegativeInt) ?? 0;
      const rows = station.definitions.versions(d.environment, d.workflow_id).filter((v) => v.version > after);
      return toPage(rows.slice(0, req.query.limit + 1), req.query.limit, (v) => v.version, (v) => versionSummary(v, d.active_version));
    },
  );

  app.get<{ Params: { id: string; n: number }; Querystring: { env?: string } }>(
    `${API}/workflows/:id/versions/:n`,
    {
      config: { auth: 'viewer' },
      schema: {
        tags,
        summary: 'One version of a definition.',
        params: { type: 'object', properties: { id: idParams.properties.id, n: { type: 'integer', minimum: 1 } }, required: ['id', 'n'] },
        querystring: { type: 'object', additionalProperties: false, properties: envQuery },
        response: responses({ 200: VersionDetail }),
      },
    },
    (req) => {
      const d = find(req.params.id, req.query.env);
      const v = station.definitions.version(d.environment, d.workflow_id, req.params.n);
      if (!v) throw new NotFoundError(`workflow "${d.workflow_id}" in "${d.environment}" has no version ${req.params.n}`);
      return versionDetail(v);
    },
  );

  app.post<{ Body: { content: string; path?: string } }>(
    `${API}/workflows/validate`,
    {
      config: { auth: 'viewer' },
      schema: {
        tags,
        summary: 'Validate a definition without storing it (the checks of `stn validate`).',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['content'],
          properties: {
            content: { type: 'string', description: 'The file text (YAML or JSON).' },
            path: { type: 'string', maxLength: 1024, description: 'File name shown in diagnostics (default request.workflow.yaml).' },
          },
        },
        response: responses({ 200: ValidateResult }),
      },
    },
    (req) => {
      return validateResult(validateDefinitionText(req.body.content, req.body.path ?? 'request.workflow.yaml'));
    },
  );
}
