import type { EventRow, RunRow, StepRow } from '../store/runs.js';
import type { EventView, RunDetailView, RunSummaryView, StepView } from './types.js';
import { columnValue } from '../store/run-rows.js';

/** Run event types that end a run. */
export const TERMINAL_EVENTS: ReadonlySet<string> = new Set(['run:completed', 'run:failed', 'run:cancelled', 'run:timed_out']);

/** Exit code of a foreground run (README "Running workflows"): 0 only on COMPLETED. */
export function runExitCode(status: string): number {
  return status === 'COMPLETED' ? 0 : 1;
}

function durationOf(start: string | null, end: string | null): number | null {
  if (!start || !end) return null;
  return Date.parse(end) - Date.parse(start);
}

/** One run in lists and after cancel/pause/resume (`stn runs list --json`). */
export function runSummaryJson(run: RunRow): RunSummaryView {
  return {
    id: run.id,
    workflowId: run.workflow_id,
    environment: run.environment,
    version: run.version,
    status: run.status,
    trigger: columnValue(run.trigger),
    initiator: run.initiator,
    idempotencyKey: run.idempotency_key,
    parentRunId: run.parent_run_id,
    paused: run.paused,
    cancelRequested: run.cancel !== null,
    createdAt: run.created_at,
    startedAt: run.started_at,
    finishedAt: run.finished_at,
    durationMs: durationOf(run.started_at, run.finished_at),
    error: columnValue(run.error),
  };
}

/** One step as `stn run --json` and `stn runs show --json` print it. */
export function stepJson(step: StepRow): StepView {
  return {
    id: step.id,
    path: step.path,
    state: step.state_name,
    type: step.type,
    action: step.action,
    status: step.status,
    attempt: step.attempt,
    deliveries: step.deliveries,
    input: columnValue(step.input),
    output: columnValue(step.output),
    error: columnValue(step.error),
    wait: columnValue(step.wait),
    startedAt: step.started_at,
    finishedAt: step.finished_at,
    durationMs: step.duration_ms,
  };
}

/** A run with its steps in order: `stn run --json` and `stn runs show --json`. */
export function runDetailJson(run: RunRow, steps: StepRow[]): RunDetailView {
  return {
    id: run.id,
    status: run.status,
    output: columnValue(run.output),
    error: columnValue(run.error),
    workflowId: run.workflow_id,
    environment: run.environment,
    version: run.version,
    input: columnValue(run.input),
    trigger: columnValue(run.trigger),
    initiator: run.initiator,
    parentRunId: run.parent_run_id,
    paused: run.paused,
    cancelRequested: run.cancel !== null,
    compensated: run.compensated,
    compensationErrors: run.compensation_errors,
    createdAt: run.created_at,
    startedAt: run.started_at,
    finishedAt: run.finished_at,
    durationMs: durationOf(run.started_at, run.finished_at),
    steps: steps.map(stepJson),
  };
}

/** An event row as JSON: the same shape as the in-process RunEvent. */
export function eventJson(e: EventRow): EventView {
  return { runId: e.run_id, seq: e.seq, type: e.type, stepId: e.step_id, data: columnValue(e.data), at: e.created_at };
}

/**
 * How a run was started, for people: `manual via cli by alice`, `cron nightly`, `workflow (parent r…)`. The CLI's
 * `runs show` and the Slack thread of a run both say it this way.
 */
export function triggerText(run: Pick<RunSummaryView, 'trigger' | 'initiator' | 'parentRunId'>): string {
  const t = (run.trigger !== null && typeof run.trigger === 'object' ? run.trigger : null) as Record<string, unknown> | null;
  const parts = [typeof t?.type === 'string' ? t.type : 'unknown'];
  if (typeof t?.via === 'string') parts.push(`via ${t.via}`);
  if (typeof t?.name === 'string') parts.push(t.name);
  if (run.initiator) parts.push(`by ${run.initiator}`);
  if (run.parentRunId) parts.push(`(parent ${run.parentRunId})`);
  return parts.join(' ');
}
