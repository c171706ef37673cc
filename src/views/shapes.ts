/**
 * The shapes of the API's answers (and of the CLI's `--json` output, which is the same), defined once with TypeBox:
 * each is a JSON Schema that Fastify serializes with and @fastify/swagger publishes in the OpenAPI document, and its
 * `Static` type is the return type of the view function that builds it. A field a view returns must be declared here,
 * or the compiler refuses the view (and Fastify would drop the field from the answer).
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';

type Options = { description?: string };

const str = Type.String();
const int = Type.Integer();
const bool = Type.Boolean();
/** Any JSON value (run input, output, step results, event data). */
const any = Type.Unknown();

/** `{type: [t, 'null']}`: one schema, not an anyOf, so the serializer stays fast and the document reads as before. */
const nullable = <T extends 'string' | 'integer' | 'boolean'>(type: T, options: Options = {}) =>
  Type.Unsafe<(T extends 'string' ? string : T extends 'boolean' ? boolean : number) | null>({ type: [type, 'null'], ...options });

/** `{type: 'string', enum: [...]}`, typed as the union of its values. */
const oneOf = <const T extends readonly string[]>(values: T, options: Options = {}) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });

const orNull = <T extends TSchema>(schema: T, options: Options = {}) => Type.Union([schema, Type.Null()], options);

const list = <T extends TSchema>(items: T, options: Options = {}) => Type.Array(items, options);

export const ErrorShape = Type.Object(
  {
    error: Type.Object({
      code: str,
      message: str,
      details: Type.Unsafe<Record<string, unknown> | null>({ type: ['object', 'null'], additionalProperties: true }),
    }),
  },
  { description: 'Every error answer: a stable code (docs/errors.md), a message, and details or null.' },
);

/** One run in lists and after cancel/pause/resume (`stn runs list --json`). */
export const RunSummary = Type.Object({
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
});
export type RunSummary = Static<typeof RunSummary>;

/** One step as `stn run --json` and `stn runs show --json` print it. */
export const Step = Type.Object({
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
  wait: Type.Unknown({ description: 'What a waiting step waits for (null when it does not wait).' }),
  startedAt: nullable('string'),
  finishedAt: nullable('string'),
  durationMs: nullable('integer'),
});
export type Step = Static<typeof Step>;

/** A run with its steps in order: `stn run --json` and `stn runs show --json`. */
export const RunDetail = Type.Object({
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
  compensationErrors: nullable('string', { description: 'What went wrong in the compensations, as stored (null when they all succeeded or none ran).' }),
  createdAt: str,
  startedAt: nullable('string'),
  finishedAt: nullable('string'),
  durationMs: nullable('integer'),
  steps: list(Step),
});
export type RunDetail = Static<typeof RunDetail>;

/** A run event: the same shape as the in-process RunEvent. */
export const RunEventShape = Type.Object({ runId: str, seq: int, type: str, stepId: nullable('string'), data: any, at: str });
export type RunEventShape = Static<typeof RunEventShape>;

export const DiagnosticShape = Type.Object({ line: int, col: int, code: str, message: str });
export type DiagnosticShape = Static<typeof DiagnosticShape>;

export const DefinitionSummary = Type.Object({
  environment: str,
  id: str,
  status: oneOf(['active', 'disabled', 'invalid']),
  version: nullable('integer'),
  label: nullable('string'),
  name: nullable('string'),
  commit: nullable('string'),
  path: str,
  bundle: nullable('string'),
  error: nullable('string', { description: 'The first error of the file, as file:line:col: CODE: message.' }),
});
export type DefinitionSummary = Static<typeof DefinitionSummary>;

/** Where a version came from: the fields both version shapes share. */
const versionOrigin = {
  commit: nullable('string'),
  dirty: nullable('boolean'),
  untracked: nullable('boolean'),
  contentHash: str,
  path: str,
  createdAt: str,
};

export const VersionSummary = Type.Object({ version: int, label: str, active: bool, ...versionOrigin });
export type VersionSummary = Static<typeof VersionSummary>;

export const VersionDetail = Type.Object({
  version: int,
  label: str,
  name: str,
  ...versionOrigin,
  spec: Type.Unsafe<unknown>({ type: 'object', additionalProperties: true, description: 'The normalized definition.' }),
  raw: Type.String({ description: 'The file as written.' }),
});
export type VersionDetail = Static<typeof VersionDetail>;

export const DefinitionDetail = Type.Object({
  environment: str,
  id: str,
  status: str,
  activeVersion: nullable('integer'),
  latestVersion: int,
  path: str,
  bundle: nullable('string'),
  errors: list(DiagnosticShape),
  version: orNull(VersionDetail),
  variables: orNull(
    Type.Object({
      revision: int,
      commit: nullable('string'),
      dirty: nullable('boolean'),
      syncedAt: str,
      vars: Type.Unsafe<Record<string, unknown>>({ type: 'object', additionalProperties: true }),
      sources: Type.Unsafe<Record<string, string>>({ type: 'object', additionalProperties: { type: 'string' } }),
    }),
    { description: 'The variables a run of this workflow starts with now: the environment revision sync pinned (null before the first sync).' },
  ),
});
export type DefinitionDetail = Static<typeof DefinitionDetail>;

/** One agent file of an environment (`stn agents list --json`). */
export const AgentSummary = Type.Object({
  environment: str,
  name: str,
  bundle: nullable('string', { description: "The bundle the agent comes from (its workflows see it first); null: the environment's own." }),
  status: oneOf(['active', 'disabled', 'invalid']),
  version: nullable('integer'),
  model: nullable('string'),
  commit: nullable('string'),
  path: str,
  error: nullable('string', { description: 'The first error of the file, as file:line:col: CODE: message.' }),
});
export type AgentSummary = Static<typeof AgentSummary>;

export const AgentVersionSummary = Type.Object({
  id: Type.Integer({ description: 'The version id a run pins.' }),
  version: int,
  active: bool,
  ...versionOrigin,
});
export type AgentVersionSummary = Static<typeof AgentVersionSummary>;

export const AgentVersionDetail = Type.Object({
  id: int,
  version: int,
  ...versionOrigin,
  spec: Type.Unsafe<unknown>({ type: 'object', additionalProperties: true, description: 'The parsed agent (schemas expanded to JSON Schema).' }),
  raw: Type.String({ description: 'The file as written.' }),
});
export type AgentVersionDetail = Static<typeof AgentVersionDetail>;

/** An agent with its active version (`stn agents show --json`). */
export const AgentDetail = Type.Object({
  environment: str,
  name: str,
  bundle: nullable('string'),
  status: oneOf(['active', 'disabled', 'invalid']),
  activeVersion: nullable('integer'),
  latestVersion: int,
  path: str,
  errors: list(DiagnosticShape),
  version: orNull(AgentVersionDetail),
});
export type AgentDetail = Static<typeof AgentDetail>;

/** One step of `stn agents run` as it completes: a model turn or a tool call (a line of `POST /agents/{name}/runs`). */
export const AgentRunProgress = Type.Union([
  Type.Object({
    type: Type.Literal('turn'),
    turn: int,
    provider: str,
    model: str,
    inputTokens: int,
    outputTokens: int,
    latencyMs: int,
    toolCalls: list(str, { description: 'The tools the model asked for (its function names); empty: a final reply.' }),
  }),
  Type.Object({
    type: Type.Literal('tool'),
    turn: int,
    tool: Type.String({ description: '`server/tool`, or the name the model used when it named no known tool.' }),
    ok: bool,
    latencyMs: int,
    result: Type.String({ description: 'The start of the result given back to the model (at most 200 characters).' }),
  }),
]);
export type AgentRunProgress = Static<typeof AgentRunProgress>;

/** The end of `stn agents run` (its `--json` output): the agent's step output, or why it failed. */
export const AgentRunResult = Type.Object({
  environment: str,
  bundle: nullable('string'),
  name: str,
  version: Type.Integer({ description: 'The agent version that ran (the active one).' }),
  task: str,
  status: oneOf(['succeeded', 'failed']),
  output: Type.Unsafe<Record<string, unknown> | null>({
    type: ['object', 'null'],
    additionalProperties: true,
    description: 'What agent.run puts in the step output (null when the agent failed).',
  }),
  error: orNull(Type.Object({ code: str, message: str }), { description: 'Why the agent failed (a step error code of docs/errors.md).' }),
  turns: Type.Integer({ description: 'Model turns taken.' }),
  toolCalls: Type.Integer({ description: 'Tool calls made.' }),
  durationMs: int,
});
export type AgentRunResult = Static<typeof AgentRunResult>;

export const ValidateResult = Type.Object({
  path: str,
  id: nullable('string'),
  valid: bool,
  errors: list(DiagnosticShape),
  warnings: list(DiagnosticShape),
  notes: list(DiagnosticShape),
});
export type ValidateResult = Static<typeof ValidateResult>;

/** What a sync did with an environment's agent files (`name`, or `bundle/name` for a bundle's agent). */
export const AgentsSync = Type.Object({
  added: list(str),
  updated: list(str),
  disabled: list(str),
  reenabled: list(str),
  unchanged: list(str),
  invalid: list(Type.Object({ path: str, id: nullable('string'), activeVersion: nullable('integer'), errors: list(DiagnosticShape) })),
  warnings: list(Type.Object({ path: str, id: nullable('string'), warnings: list(DiagnosticShape) })),
  versions: Type.Unsafe<Record<string, number>>({ type: 'object', additionalProperties: int }),
});
export type AgentsSync = Static<typeof AgentsSync>;

export const EnvironmentSync = Type.Object({
  name: str,
  added: list(str),
  updated: list(str),
  disabled: list(str),
  reenabled: list(str),
  unchanged: list(str),
  invalid: list(Type.Object({ path: str, id: nullable('string'), activeVersion: nullable('integer'), errors: list(DiagnosticShape) })),
  warnings: list(Type.Object({ path: str, id: nullable('string'), warnings: list(DiagnosticShape) })),
  versions: Type.Unsafe<Record<string, number>>({ type: 'object', additionalProperties: int }),
  held: orNull(Type.Object({ ids: list(str), until: str }), {
    description: 'Definitions whose files vanished, held until files stop vanishing (then judged with the whole environment).',
  }),
  superseded: list(str, { description: 'Files that changed again during the sync: left for the next one.' }),
  variables: orNull(
    Type.Object({
      revision: nullable('integer'),
      changed: bool,
      changes: list(
        Type.Object({
          scope: nullable('string'),
          name: str,
          change: oneOf(['added', 'changed', 'removed']),
          from: Type.Optional(any),
          to: Type.Optional(any),
        }),
      ),
    }),
    { description: 'The variables runs start with: their environment revision, and what this sync changed (null: not synced).' },
  ),
  agents: orNull(AgentsSync, { description: "The environment's agent files (null: the environment was not synced)." }),
  error: orNull(Type.Object({ code: str, message: str })),
});
export type EnvironmentSync = Static<typeof EnvironmentSync>;

/** How the checkout compares with its remote-tracking branch as last fetched, and whether git could be run. */
export const CheckoutState = Type.Object({
  gitMissing: bool,
  upstream: nullable('string'),
  ahead: int,
  behind: int,
  diverged: Type.Boolean({ description: 'HEAD has commits the remote lacks: a rewritten remote history (force push) or local commits.' }),
});
export type CheckoutState = Static<typeof CheckoutState>;

export const SyncReportShape = Type.Object(
  {
    commit: nullable('string'),
    dryRun: bool,
    syncRunId: nullable('integer'),
    environments: list(EnvironmentSync),
    git: orNull(CheckoutState, { description: 'The checkout against its remote-tracking branch as last fetched (null outside a Git checkout).' }),
  },
  { description: 'The shape of `stn sync --json`.' },
);
export type SyncReportShape = Static<typeof SyncReportShape>;

const ActorShape = (options: Options = {}) =>
  Type.Object({ source: oneOf(['slack', 'api', 'cli', 'timeout']), id: str, name: str }, options);

/** The step result of a decided approval (src/approvals/types.ts `Decision`). */
const DecisionShape = Type.Object({
  approved: bool,
  decision: oneOf(['approved', 'rejected', 'timed_out']),
  by: ActorShape(),
  comment: nullable('string'),
  decidedAt: str,
  approvals: list(Type.Object({ source: str, id: str, name: nullable('string'), comment: nullable('string'), at: str }), {
    description: 'Every approve vote counted toward requiredApprovals, in order.',
  }),
  timedOut: Type.Optional(Type.Boolean({ description: 'Present (true) when the timeout decided.' })),
});

/** One approval, as `stn approvals list --json` shows it (src/approvals/types.ts `approvalJson`). */
export const ApprovalShape = Type.Object({
  id: str,
  runId: str,
  stepId: str,
  attempt: int,
  environment: str,
  workflowId: str,
  state: Type.String({ description: 'The human.approval state of the workflow.' }),
  status: oneOf(['PENDING', 'APPROVED', 'REJECTED', 'TIMED_OUT', 'CANCELLED']),
  message: str,
  summary: Type.Unknown({ description: 'The value at summaryPath, or null.' }),
  approvers: list(str),
  requiredApprovals: int,
  allowSelfApproval: bool,
  initiator: nullable('string'),
  onTimeout: oneOf(['reject', 'approve', 'fail']),
  timeoutAt: nullable('string'),
  votes: list(
    Type.Object({ source: str, id: str, name: nullable('string'), vote: oneOf(['approve', 'reject']), comment: nullable('string'), at: str }),
  ),
  decision: orNull(DecisionShape),
  decidedAt: nullable('string'),
  createdAt: str,
  slack: orNull(Type.Object({ channel: str, ts: nullable('string'), delivered: bool, error: nullable('string') }), {
    description: 'The Slack message of the request; null when the approval has no channel.',
  }),
});
export type ApprovalShape = Static<typeof ApprovalShape>;

/** The answer of approve and reject, and of `stn approve|reject --json`. */
export const DecideResult = Type.Object({
  outcome: oneOf(['decided', 'recorded'], { description: '`recorded`: an approve vote counted, more are needed.' }),
  remaining: Type.Integer({ description: 'Approve votes still needed (0 once decided).' }),
  by: ActorShape({ description: 'Who this vote was recorded as (the API token name).' }),
  approval: ApprovalShape,
});
export type DecideResult = Static<typeof DecideResult>;

/** `{items, nextCursor}` around an item shape. */
export const Page = <T extends TSchema>(items: T) =>
  Type.Object({
    items: Type.Array(items),
    nextCursor: nullable('string', { description: 'Pass as ?cursor= for the next page; null on the last page.' }),
  });
