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
    wait: any,
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
    paused: bool,
    cancelRequested: bool,
    compensated: nullable('boolean'),
    compensationErrors: nullable('string'),
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
          held: {
            description: 'Definitions whose files vanished, held until files stop vanishing (then judged with the whole environment).',
            anyOf: [{ type: 'object', properties: { ids: { type: 'array', items: str }, until: str } }, { type: 'null' }],
          },
          superseded: { type: 'array', items: str, description: 'Files that changed again during the sync: left for the next one.' },
          error: { anyOf: [{ type: 'object', properties: { code: str, message: str } }, { type: 'null' }] },
        },
      },
    },
    git: {
      description: 'The checkout against its remote-tracking branch as last fetched (null outside a Git checkout).',
      anyOf: [
        { type: 'object', properties: { gitMissing: bool, upstream: nullable('string'), ahead: int, behind: int, diverged: bool } },
        { type: 'null' },
      ],
    },
  },
} as const;

const actorSchema = {
  type: 'object',
  properties: { source: { type: 'string', enum: ['slack', 'api', 'cli', 'timeout'] }, id: str, name: str },
} as const;

/** The step result of a decided approval (src/approvals/types.ts `Decision`). */
const decisionSchema = {
  type: 'object',
  properties: {
    approved: bool,
    decision: { type: 'string', enum: ['approved', 'rejected', 'timed_out'] },
    by: actorSchema,
    comment: nullable('string'),
    decidedAt: str,
    approvals: {
      type: 'array',
      description: 'Every approve vote counted toward requiredApprovals, in order.',
      items: { type: 'object', properties: { source: str, id: str, name: nullable('string'), comment: nullable('string'), at: str } },
    },
    timedOut: { type: 'boolean', description: 'Present (true) when the timeout decided.' },
  },
} as const;

/** One approval, as `stn approvals list --json` shows it (src/approvals/types.ts `approvalJson`). */
export const approvalSchema = {
  type: 'object',
  properties: {
    id: str,
    runId: str,
    stepId: str,
    attempt: int,
    environment: str,
    workflowId: str,
    state: { type: 'string', description: 'The human.approval state of the workflow.' },
    status: { type: 'string', enum: ['PENDING', 'APPROVED', 'REJECTED', 'TIMED_OUT', 'CANCELLED'] },
    message: str,
    summary: { description: 'The value at summaryPath, or null.' },
    approvers: { type: 'array', items: str },
    requiredApprovals: int,
    allowSelfApproval: bool,
    initiator: nullable('string'),
    onTimeout: { type: 'string', enum: ['reject', 'approve', 'fail'] },
    timeoutAt: nullable('string'),
    votes: {
      type: 'array',
      items: {
        type: 'object',
        properties: { source: str, id: str, name: nullable('string'), vote: { type: 'string', enum: ['approve', 'reject'] }, comment: nullable('string'), at: str },
      },
    },
    decision: { anyOf: [decisionSchema, { type: 'null' }] },
    decidedAt: nullable('string'),
    createdAt: str,
    slack: {
      anyOf: [
        { type: 'object', properties: { channel: str, ts: nullable('string'), delivered: bool, error: nullable('string') } },
        { type: 'null' },
      ],
      description: 'The Slack message of the request; null when the approval has no channel.',
    },
  },
} as const;

/** The answer of approve and reject, and of `stn approve|reject --json`. */
export const decideResultSchema = {
  type: 'object',
  properties: {
    outcome: { type: 'string', enum: ['decided', 'recorded'], description: '`recorded`: an approve vote counted, more are needed.' },
    remaining: { type: 'integer', description: 'Approve votes still needed (0 once decided).' },
    by: { ...actorSchema, description: 'Who this vote was recorded as (the API token name).' },
    approval: approvalSchema,
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
