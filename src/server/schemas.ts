/**
 * JSON Schemas of the API's answers. Fastify serializes responses with them and @fastify/swagger turns them into
 * the OpenAPI document, so they are the one description of each shape (keep them in step with views.ts).
 */

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;
const nullable = (t: 'string' | 'integer' | 'boolean' | 'number') => ({ type: [t, 'null'] }) as const;
/** Any JSON value (run input, output, step results, event data). */
const any = {} as const;

export const errorSchema = {
  type: 'object',
  description: 'Every error answer: a stable code (docs/errors.md), a message, and details or null.',
  properties: {
    error: {
      type: 'object',
      properties: { code: str, message: str, details: { type: ['object', 'null'], additionalProperties: true } },
      required: ['code', 'message', 'details'],
    },
  },
  required: ['error'],
} as const;

export const runSummarySchema = {
  type: 'object',
  properties: {
    id: str,
    workflowId: str,
    environment: str,
    version: int,
    status: str,
    trigger: any,
    initiator: nullable('string'),
    idempotencyKey: nullable('string'),
    parentRunId: nullable('string'),
    paused: bool,
    cancelRequested: bool,
    createdAt: str,
    startedAt: nullable('string'),
    finishedAt: nullable('string'),
    durationMs: nullable('integer'),
    error: any,
  },
} as const;

export const stepSchema = {
  type: 'object',
  properties: {
    id: str,
    path: str,
    state: str,
    type: str,
    action: nullable('string'),
    status: str,
    attempt: int,
    deliveries: int,
    input: any,
    output: any,
    error: any,
    startedAt: nullable('string'),
    finishedAt: nullable('string'),
    durationMs: nullable('integer'),
  },
} as const;

export const runDetailSchema = {
  type: 'object',
  properties: {
    id: str,
    status: str,
    output: any,
    error: any,
    workflowId: str,
    environment: str,
    version: int,
    input: any,
    trigger: any,
    initiator: nullable('string'),
    parentRunId: nullable('string'),
    compensated: nullable('boolean'),
    createdAt: str,
    startedAt: nullable('string'),
    finishedAt: nullable('string'),
    durationMs: nullable('integer'),
    steps: { type: 'array', items: stepSchema },
  },
} as const;

export const eventSchema = {
  type: 'object',
  properties: { runId: str, seq: int, type: str, stepId: nullable('string'), data: any, at: str },
} as const;

const diagnosticSchema = {
  type: 'object',
  properties: { line: int, col: int, code: str, message: str },
} as const;

export const definitionSummarySchema = {
  type: 'object',
  properties: {
    environment: str,
    id: str,
    status: { type: 'string', enum: ['active', 'disabled', 'invalid'] },
    version: nullable('integer'),
    label: nullable('string'),
    name: nullable('string'),
    commit: nullable('string'),
    path: str,
    bundle: nullable('string'),
    error: { type: ['string', 'null'], description: 'The first error of the file, as file:line:col: CODE: message.' },
  },
} as const;

export const versionSummarySchema = {
  type: 'object',
  properties: {
    version: int,
    label: str,
    active: bool,
    commit: nullable('string'),
    dirty: nullable('boolean'),
    untracked: nullable('boolean'),
    contentHash: str,
    path: str,
    createdAt: str,
  },
} as const;

export const versionDetailSchema = {
  type: 'object',
  properties: {
    version: int,
    label: str,
    name: str,
    commit: nullable('string'),
    dirty: nullable('boolean'),
    untracked: nullable('boolean'),
    contentHash: str,
    path: str,
    createdAt: str,
    spec: { type: 'object', additionalProperties: true, description: 'The normalized definition.' },
    raw: { type: 'string', description: 'The file as written.' },
  },
} as const;

export const definitionDetailSchema = {
  type: 'object',
  properties: {
    environment: str,
    id: str,
    status: str,
    activeVersion: nullable('integer'),
    latestVersion: int,
    path: str,
    bundle: nullable('string'),
    errors: { type: 'array', items: diagnosticSchema },
    version: { anyOf: [versionDetailSchema, { type: 'null' }] },
  },
} as const;

export const validateResultSchema = {
  type: 'object',
  properties: {
    path: str,
    id: nullable('string'),
    valid: bool,
    errors: { type: 'array', items: diagnosticSchema },
    warnings: { type: 'array', items: diagnosticSchema },
    notes: { type: 'array', items: diagnosticSchema },
  },
} as const;

export const syncReportSchema = {
  type: 'object',
  description: 'The shape of `stn sync --json`.',
  properties: {
    commit: nullable('string'),
    dryRun: bool,
    syncRunId: nullable('integer'),
    environments: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: str,
          added: { type: 'array', items: str },
          updated: { type: 'array', items: str },
          disabled: { type: 'array', items: str },
          reenabled: { type: 'array', items: str },
          unchanged: { type: 'array', items: str },
          invalid: {
            type: 'array',
            items: {
              type: 'object',
              properties: { path: str, id: nullable('string'), activeVersion: nullable('integer'), errors: { type: 'array', items: diagnosticSchema } },
            },
          },
          warnings: {
            type: 'array',
            items: { type: 'object', properties: { path: str, id: nullable('string'), warnings: { type: 'array', items: diagnosticSchema } } },
          },
          versions: { type: 'object', additionalProperties: int },
          error: { anyOf: [{ type: 'object', properties: { code: str, message: str } }, { type: 'null' }] },
        },
      },
    },
  },
} as const;

/** `{items, nextCursor}` around an item schema. */
export function pageOf(items: object) {
  return {
    type: 'object',
    properties: {
      items: { type: 'array', items },
      nextCursor: { type: ['string', 'null'], description: 'Pass as ?cursor= for the next page; null on the last page.' },
    },
    required: ['items', 'nextCursor'],
  } as const;
}

/** Error answers documented on every route (4xx/5xx share one shape). */
export const errorResponses = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  500: errorSchema,
} as const;
