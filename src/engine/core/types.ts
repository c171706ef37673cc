import type { JsonValue } from '../../definitions/types.js';
import type { ApprovalRequest } from '../../approvals/types.js';
import type { WaitSpec } from '../../executors/types.js';
import { readPayload, writePayload } from '../../store/payloads.js';
import type { RunRow, RunStore, StepRow } from '../../store/runs.js';
import type { RunCache } from '../run-cache.js';
import type { Scopes } from '../scopes.js';
import type { JsonCache } from '../../store/json-cache.js';
import type { Secrets } from '../secrets.js';
import type { LoadedSpec } from '../specs.js';
import type { LeaseClock } from '../lease.js';

/** What the core needs from the engine around it (the host): the store, the clocks and the services it calls. */
export interface InterpreterDeps {
  store: RunStore;
  scopes: Scopes;
  /** What the engine knows of each run's steps and frames between transactions. */
  runCache: RunCache;
  secrets: Secrets;
  now(): number;
  random(): number;
  /** Loads the pinned definition of a run (cached). */
  spec(run: RunRow): LoadedSpec;
  /** Creates a child run inside the current transaction (workflow.run); returns its id or throws ExecError-like. */
  createChildRun(parent: RunRow, step: StepRow, wait: Extract<WaitSpec, { type: 'child' }>): string;
  /** human.approval: records and decides approvals inside the current transaction (absent: approvals unavailable). */
  approvals?: ApprovalHooks | undefined;
  /** The lease holder of this engine process: chained tasks are leased to it directly. */
  owner: string;
  leaseMs: number;
  /** The lease clock (monotonic, shared by the processes of one boot; see lease.ts). */
  lease: LeaseClock;
  /** Parsed large JSON columns, kept across transactions. */
  json: JsonCache;
}

/** What the engine needs from the approval service; every call joins the engine's transaction. */
export interface ApprovalHooks {
  create(run: RunRow, step: StepRow, request: ApprovalRequest, summary: JsonValue | undefined, nowMs: number): { id: string; channel: string | null };
  /** Compare-and-set to TIMED_OUT; undefined when it was decided first. */
  timeout(approvalId: string, nowMs: number): { decision: { approved: boolean }; onTimeout: 'reject' | 'approve' | 'fail' } | undefined;
  outcome(approvalId: string): { status: string; decision: { by: { name: string; source: string }; comment: string | null } | undefined } | undefined;
  /** The step stopped waiting (cancel, failure elsewhere, step timeout): the approval closes. */
  close(approvalId: string, nowMs: number): void;
}

export type { StepError } from '../events.js';

export { WAKE_REASONS, type WakeReason } from '../../model/run.js';

/**
 * A step's wait as stored: the executor's wait spec, except that a child wait holds the child's run id and an
 * approval wait the approval's id once the step waits.
 */
export type StoredWait =
  | Exclude<WaitSpec, { type: 'child' } | { type: 'approval' }>
  | { type: 'child'; runId?: string }
  | { type: 'approval'; approvalId?: string; timeoutAt?: number | null };

/** A step's wait, read with its version (see readPayload); undefined when the step does not wait. */
export function storedWait(step: StepRow): StoredWait | undefined {
  return step.wait ? (readPayload('step wait', step.wait) as StoredWait) : undefined;
}

/** Stores what a step waits for, with the payload version. */
export function setWait(step: StepRow, wait: StoredWait): void {
  step.wait = writePayload(wait);
}

export type Obj = Record<string, unknown>;

/** A failure of a state that is not an operation (switch without match, foreach without a list). */
export class StateError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
