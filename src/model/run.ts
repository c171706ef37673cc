/**
 * The run model: the statuses of runs and steps, which of them are final, and the shapes of the JSON payloads the
 * engine stores (task payloads, step waits). Below the store and the engine; holds no SQL and parses nothing (the
 * store maps rows to these shapes, see src/store/payloads.ts).
 */
import type { ErrorCode } from '../errors.js';

/** Every run status (docs/runs.md "Statuses"), in lifecycle order. */
export const RUN_STATUSES = [
  'PENDING', 'RUNNING', 'WAITING_APPROVAL', 'WAITING_SIGNAL', 'PAUSED', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** How a run was started (`trigger.type` of a run): by hand (CLI, API, Slack), a cron slot, a webhook, a parent run. */
export const RUN_TRIGGERS = ['manual', 'cron', 'webhook', 'workflow'] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

/** The statuses a run ends with. */
export const TERMINAL_RUN_STATUSES = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT'] as const satisfies readonly RunStatus[];
export type TerminalRunStatus = (typeof TERMINAL_RUN_STATUSES)[number];

/** Every step status, in lifecycle order. */
export const STEP_STATUSES = [
  'PENDING', 'RUNNING', 'WAITING_APPROVAL', 'WAITING_SIGNAL', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT',
] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** The statuses a step ends with. */
export const TERMINAL_STEP_STATUSES = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'] as const satisfies readonly StepStatus[];
export type TerminalStepStatus = (typeof TERMINAL_STEP_STATUSES)[number];

/** Membership tests take any string (a filter from the command line, a status read back from a view). */
export const TERMINAL_RUN: ReadonlySet<string> = new Set<string>(TERMINAL_RUN_STATUSES);
export const TERMINAL_STEP: ReadonlySet<string> = new Set<string>(TERMINAL_STEP_STATUSES);

export function isTerminalRun(status: RunStatus): status is TerminalRunStatus {
  return TERMINAL_RUN.has(status);
}

export function isTerminalStep(status: StepStatus): status is TerminalStepStatus {
  return TERMINAL_STEP.has(status);
}

/** Whether a run is going forward or running the compensations of its succeeded steps (docs/runs.md "Compensation"). */
export type RunPhase = 'forward' | 'compensating';

/** A cancel asked of a run and not yet applied: with or without compensating first. */
export interface CancelRequest {
  compensate: boolean;
}

/** Why a `wake` task wakes a waiting step (or, `enter`, continues a deferred inline cascade). */
export const WAKE_REASONS = ['timer', 'signal-timeout', 'step-timeout', 'approval', 'approval-timeout', 'enter'] as const;
export type WakeReason = (typeof WAKE_REASONS)[number];

/** The versions of the stored JSON payloads this release reads; a payload without a `v` field is version 1. */
export const PAYLOAD_VERSIONS = [1] as const;
export type PayloadVersion = (typeof PAYLOAD_VERSIONS)[number];
/** The version this release writes into every stored payload (`v`). */
export const PAYLOAD_VERSION: PayloadVersion = 1;

export const TASK_KINDS = ['start', 'exec', 'wake', 'signal', 'child', 'cancel', 'timeout'] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

/** Why a wake task wakes its step, with what that reason needs. */
export type WakePayload =
  | { reason: 'enter'; visits: Record<string, number> }
  | { reason: 'timer' | 'signal-timeout' }
  | { reason: 'step-timeout'; attempt: number }
  | { reason: 'approval' | 'approval-timeout'; approvalId: string };

/** What a task of each kind carries (stored as a JSON object with its payload version `v`; none: no payload). */
export interface TaskPayloads {
  start: null;
  exec: null;
  timeout: null;
  wake: WakePayload;
  signal: { signalId: number };
  child: { childRunId: string };
  cancel: { compensate: boolean; by: string | null };
}

/** A task's kind with its payload, discriminated by `kind` (a switch on it narrows the payload). */
export type TaskWork = { [K in TaskKind]: { kind: K; payload: TaskPayloads[K] } }[TaskKind];

/**
 * The code of a step's (or a scope's, or the run's) error: one of Station's codes (src/errors.ts), or the code a
 * workflow names itself: a `fail` step's `input.code`, which a child run's failure carries up to its parent. So it is
 * not a closed union; the known codes are listed for the reader and the editor.
 */
export type StepErrorCode = ErrorCode | (string & {});

/** An error that ends a step (or a scope, or the run), as stored, shown and carried by events. */
export interface StepError {
  code: StepErrorCode;
  message: string;
  state?: string;
  path?: string;
  action?: string | null;
  attempt?: number;
  details?: unknown;
}
