import type { ApprovalJson } from '../approvals/types.js';

/**
 * The shapes the API answers with and `stn ... --json` prints, whichever client produced them. Named here, in one
 * file, so that they can later come from the API's response schemas without touching the view functions.
 */

/** One diagnostic of a definition file. */
export interface DiagnosticView {
  line: number;
  col: number;
  code: string;
  message: string;
}

/** One run in lists and after cancel/pause/resume. */
export interface RunSummaryView {
  id: string;
  workflowId: string;
  environment: string;
  version: number;
  status: string;
  trigger: unknown;
  initiator: string | null;
  idempotencyKey: string | null;
  parentRunId: string | null;
  paused: boolean;
  cancelRequested: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  error: unknown;
}

/** One step of a run. `wait` is what a waiting step waits for (null when it does not wait). */
export interface StepView {
  id: string;
  path: string;
  state: string;
  type: string;
  action: string | null;
  status: string;
  attempt: number;
  deliveries: number;
  input: unknown;
  output: unknown;
  error: unknown;
  wait: unknown;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

/** A run with its steps in order. */
export interface RunDetailView {
  id: string;
  status: string;
  output: unknown;
  error: unknown;
  workflowId: string;
  environment: string;
  version: number;
  input: unknown;
  trigger: unknown;
  initiator: string | null;
  parentRunId: string | null;
  paused: boolean;
  cancelRequested: boolean;
  compensated: boolean | null;
  /** What went wrong in the compensations, as stored (null when they all succeeded or none ran). */
  compensationErrors: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  steps: StepView[];
}

/** One entry of a run's event log. */
export interface EventView {
  runId: string;
  seq: number;
  type: string;
  stepId: string | null;
  data: unknown;
  at: string;
}

export interface DefinitionSummaryView {
  environment: string;
  id: string;
  status: string;
  version: number | null;
  label: string | null;
  name: string | null;
  commit: string | null;
  path: string;
  bundle: string | null;
  /** The first diagnostic of an invalid file, as `path:line:col: CODE: message`. */
  error: string | null;
}

export interface VersionSummaryView {
  version: number;
  label: string;
  active: boolean;
  commit: string | null;
  dirty: boolean | null;
  untracked: boolean | null;
  contentHash: string;
  path: string;
  createdAt: string;
}

export interface VersionDetailView {
  version: number;
  label: string;
  name: string;
  commit: string | null;
  dirty: boolean | null;
  untracked: boolean | null;
  contentHash: string;
  path: string;
  createdAt: string;
  spec: unknown;
  raw: string;
}

export interface DefinitionDetailView {
  environment: string;
  id: string;
  status: string;
  activeVersion: number | null;
  latestVersion: number;
  path: string;
  bundle: string | null;
  errors: DiagnosticView[];
  version: VersionDetailView | null;
}

export interface ValidateResultView {
  path: string;
  id: string | null;
  valid: boolean;
  errors: DiagnosticView[];
  warnings: DiagnosticView[];
  notes: DiagnosticView[];
}

/** How the checkout compares with its remote-tracking branch as last fetched, and whether git could be run. */
export interface CheckoutStateView {
  gitMissing: boolean;
  upstream: string | null;
  ahead: number;
  behind: number;
  /** HEAD has commits the remote lacks: a rewritten remote history (force push) or local commits. */
  diverged: boolean;
}

export interface SyncEnvironmentView {
  name: string;
  added: string[];
  updated: string[];
  disabled: string[];
  reenabled: string[];
  unchanged: string[];
  invalid: Array<{ path: string; id: string | null; activeVersion: number | null; errors: DiagnosticView[] }>;
  warnings: Array<{ path: string; id: string | null; warnings: DiagnosticView[] }>;
  versions: Record<string, number>;
  held: { ids: string[]; until: string } | null;
  superseded: string[];
  error: { code: string; message: string } | null;
}

/** The report of a sync (`stn sync --json`, `POST /api/v1/sync`); `git` is null outside a Git checkout. */
export interface SyncReportView {
  commit: string | null;
  dryRun: boolean;
  syncRunId: number | null;
  environments: SyncEnvironmentView[];
  git: CheckoutStateView | null;
}

export type ApprovalView = ApprovalJson;

/** What approve and reject answer: `by` is who the vote was recorded as. */
export interface DecisionView {
  outcome: 'decided' | 'recorded';
  remaining: number;
  by: { source: string; id: string; name: string };
  approval: ApprovalView;
}
