import type { Station } from '../context.js';
import type { RunEvent } from '../engine/events.js';
import { NotFoundError } from '../errors.js';
import type { EventRow, RunRow, StepRow } from '../store/runs.js';

/** Run statuses that end a run; `stn run` exits 0 only on COMPLETED. */
export const TERMINAL_EVENTS: ReadonlySet<string> = new Set(['run:completed', 'run:failed', 'run:cancelled', 'run:timed_out']);

/** Exit code of a foreground run (README "Running workflows"). */
export function runExitCode(status: string): number {
  return status === 'COMPLETED' ? 0 : 1;
}

/** A JSON column as its value (they are stored as JSON text; inputs are already redacted). */
export function parseColumn(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function durationOf(start: string | null, end: string | null): number | null {
  if (!start || !end) return null;
  return Date.parse(end) - Date.parse(start);
}

/** One run in lists and after cancel/pause/resume (`stn runs list --json`). */
export function runSummaryJson(run: RunRow) {
  return {
    id: run.id,
    workflowId: run.workflow_id,
    environment: run.environment,
    version: run.version,
    status: run.status,
    trigger: parseColumn(run.trigger),
    initiator: run.initiator,
    idempotencyKey: run.idempotency_key,
    parentRunId: run.parent_run_id,
    paused: run.paused,
    cancelRequested: run.cancel !== null,
    createdAt: run.created_at,
    startedAt: run.started_at,
    finishedAt: run.finished_at,
    durationMs: durationOf(run.started_at, run.finished_at),
    error: parseColumn(run.error),
  };
}

/** One step as `stn run --json` and `stn runs show --json` print it. */
export function stepJson(step: StepRow) {
  return {
    id: step.id,
    path: step.path,
    state: step.state_name,
    type: step.type,
    action: step.action,
    status: step.status,
    attempt: step.attempt,
    deliveries: step.deliveries,
    input: parseColumn(step.input),
    output: parseColumn(step.output),
    error: parseColumn(step.error),
    startedAt: step.started_at,
    finishedAt: step.finished_at,
    durationMs: step.duration_ms,
  };
}

/** A run with its steps in order: `stn run --json` and `stn runs show --json`. */
export function runDetailJson(run: RunRow, steps: StepRow[]) {
  return {
    id: run.id,
    status: run.status,
    output: parseColumn(run.output),
    error: parseColumn(run.error),
    workflowId: run.workflow_id,
    environment: run.environment,
    version: run.version,
    input: parseColumn(run.input),
    trigger: parseColumn(run.trigger),
    initiator: run.initiator,
    parentRunId: run.parent_run_id,
    compensated: run.compensated,
    createdAt: run.created_at,
    startedAt: run.started_at,
    finishedAt: run.finished_at,
    durationMs: durationOf(run.started_at, run.finished_at),
    steps: steps.map(stepJson),
  };
}

export function mustGetRun(station: Station, id: string): RunRow {
  const run = station.runStore.run(id);
  if (!run) throw new NotFoundError(`no run "${id}"`);
  return run;
}

/** `120 ms`, `4.2 s`, `3m 05s`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

/** Cuts long text, saying how much was left out. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** A value on one line, for timelines. */
export function oneLine(value: unknown, max = 200): string {
  return truncate(typeof value === 'string' ? value : JSON.stringify(value) ?? 'null', max);
}

/** `CODE: message` of a stored error object. */
export function errorText(error: unknown): string {
  if (error === null || error === undefined) return '-';
  if (typeof error !== 'object') return String(error);
  const e = error as { code?: unknown; message?: unknown };
  if (typeof e.message === 'string') return typeof e.code === 'string' ? `${e.code}: ${e.message}` : e.message;
  return JSON.stringify(error);
}

/** `manual via cli by alice`, `cron nightly`, `workflow (parent r…)`. */
export function triggerText(run: RunRow): string {
  const t = parseColumn(run.trigger) as Record<string, unknown> | null;
  const parts = [typeof t?.type === 'string' ? t.type : 'unknown'];
  if (typeof t?.via === 'string') parts.push(`via ${t.via}`);
  if (typeof t?.name === 'string') parts.push(t.name);
  if (run.initiator) parts.push(`by ${run.initiator}`);
  if (run.parent_run_id) parts.push(`(parent ${run.parent_run_id})`);
  return parts.join(' ');
}

const MARKERS: Record<string, string> = {
  'step:succeeded': 'ok',
  'step:failed': 'FAIL',
  'step:retrying': 'retry',
  'step:waiting': 'wait',
};

/** The event types `stn run` prints a progress line for. */
export const PROGRESS_EVENTS: ReadonlySet<string> = new Set(Object.keys(MARKERS));

function waitText(wait: unknown): string {
  const w = (wait ?? {}) as { type?: string; until?: number; name?: string; runId?: string };
  switch (w.type) {
    case 'timer':
      return `until ${new Date(w.until ?? 0).toISOString()}`;
    case 'signal':
      return `for signal "${w.name ?? '?'}"`;
    case 'child':
      return `for child run ${w.runId ?? '?'}`;
    default:
      return 'WAITING';
  }
}

/**
 * One progress line of a foreground run: `  ok    diagnostics/disk  shell.exec  attempt 1  120 ms  SUCCEEDED`.
 * `step` is the step row read after the event committed (for its action and type); `prefix` names a child run.
 */
export function progressLine(e: RunEvent, step: StepRow | undefined, prefix = ''): string | undefined {
  const marker = MARKERS[e.type];
  if (marker === undefined) return undefined;
  const d = e.data as { path?: string; attempt?: number; durationMs?: number | null; delayMs?: number; error?: unknown; wait?: unknown; handledBy?: string };
  const what = step?.action ?? step?.type ?? '-';
  const kind = step?.type === 'compensation' ? ' (compensation)' : '';
  const head = `  ${marker.padEnd(5)} ${prefix}${d.path ?? step?.path ?? '?'}${kind}  ${what}`;
  switch (e.type) {
    case 'step:succeeded':
      return `${head}  attempt ${d.attempt ?? 1}  ${formatDuration(d.durationMs ?? step?.duration_ms)}  SUCCEEDED`;
    case 'step:failed':
      return `${head}  attempt ${d.attempt ?? 1}  ${formatDuration(step?.duration_ms)}  ${step?.status ?? 'FAILED'}: ${oneLine(errorText(d.error))}${
        d.handledBy ? `  (handled by ${d.handledBy})` : ''
      }`;
    case 'step:retrying':
      return `${head}  attempt ${(d.attempt ?? 2) - 1}  failed: ${oneLine(errorText(d.error))}; attempt ${d.attempt ?? 2} in ${formatDuration(d.delayMs)}`;
    case 'step:waiting':
      return `${head}  attempt ${step?.attempt ?? 1}  waiting ${waitText(d.wait)}`;
    default:
      return undefined;
  }
}

/** `seq  time  type  step-path/state  key=data …`: one line per event (`stn runs events`). */
export function eventLine(e: EventRow): string {
  const data = (parseColumn(e.data) ?? {}) as Record<string, unknown>;
  const where = typeof data.path === 'string' ? data.path : typeof data.state === 'string' ? data.state : '-';
  const rest = Object.entries(data)
    .filter(([k]) => k !== 'path' && k !== 'state')
    .map(([k, v]) => `${k}=${oneLine(v, 160)}`)
    .join(' ');
  return `${String(e.seq).padStart(4)}  ${e.created_at}  ${e.type.padEnd(20)}  ${where}${rest ? `  ${rest}` : ''}`;
}

/** An event row as JSON: the same shape as the in-process RunEvent. */
export function eventJson(e: EventRow) {
  return { runId: e.run_id, seq: e.seq, type: e.type, stepId: e.step_id, data: parseColumn(e.data), at: e.created_at };
}
