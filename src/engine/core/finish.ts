import { reservedContextPaths } from '../../definitions/context-paths.js';
import { ExpressionError, renderTemplate } from '../../expressions/index.js';
import { compileSchema, formatSchemaErrors } from '../../json-schema.js';
import { TERMINAL_RUN } from '../../store/runs.js';
import { previousOutput } from './previous.js';
import { compensationCandidates, failedCompensations, startCompensation } from './compensation.js';
import { cancelStep, requestCancel } from './frames.js';
import type { RunTx } from './run-tx.js';
import type { StepError } from './types.js';
import { objectColumn, runErrorOf } from '../../store/run-rows.js';

/** The statuses a run ends with. */
export type FinalStatus = 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT';

/** Starts a run: its top-level scope enters its first state (the run timeout is armed first). */
export function startRun(tx: RunTx): void {
  tx.run.status = 'RUNNING';
  tx.run.started_at = tx.nowIso;
  tx.unit.event('run:started', null, {});
  // A version stored before context paths were checked may still name __proto__ & co.: it never runs.
  const reserved = reservedContextPaths(tx.spec)[0];
  if (reserved) {
    runFailed(tx, { code: 'STN_E_CONTEXT_PATH', message: `state "${reserved.state}" ${reserved.field} "${reserved.value}" uses the reserved key "${reserved.key}"`, state: reserved.state });
    return;
  }
  if (tx.spec.timeoutSeconds) tx.unit.schedule('timeout', null, null, tx.nowMs + tx.spec.timeoutSeconds * 1000);
  const root = tx.unit.frame(0);
  tx.enterState(root, tx.scopeOf(root).start);
}

/** The run failed: its active steps stop (child runs rolled back) and its succeeded steps are compensated. */
export function runFailed(tx: RunTx, error: StepError): void {
  if (tx.run.phase === 'compensating' || TERMINAL_RUN.has(tx.run.status)) return;
  tx.run.error = JSON.stringify(error);
  for (const s of tx.unit.activeSteps()) cancelStep(tx, s, true);
  startCompensation(tx, 'failed', 'FAILED');
}

/**
 * Ends the run. COMPLETED renders the workflow's output first (a failure there fails the run instead). `by`: who
 * cancelled, when known in this transaction (else it is read from compensation:started).
 */
export function finishRun(tx: RunTx, status: FinalStatus, opts: { error?: StepError; by?: string | null } = {}): void {
  const run = tx.run;
  if (TERMINAL_RUN.has(run.status)) return;
  if (opts.error) run.error = JSON.stringify(opts.error);
  if (status === 'COMPLETED') {
    const root = tx.unit.frame(0);
    let output: unknown;
    try {
      if (tx.spec.output !== undefined) output = renderTemplate(tx.spec.output, tx.vars.of(root), { field: 'output' });
      // Station ended a run with its last step's output; Station-TS with the context.
      else output = tx.spec.compat === 'station' ? previousOutput(tx, root) : tx.d.scopes.scope(run, 0);
    } catch (err) {
      if (!(err instanceof ExpressionError)) throw err;
      runFailed(tx, { code: err.code, message: tx.d.secrets.scrub(`workflow output: ${err.message}`) });
      return;
    }
    if (tx.spec.outputSchema !== undefined) {
      const validate = compileSchema(tx.spec.outputSchema);
      if (!validate(output)) {
        const message = tx.d.secrets.scrub(`the run's output does not match outputSchema: ${formatSchemaErrors(validate.errors)}`);
        // Station never checked outputSchema: a Station workflow is told, not failed.
        if (tx.spec.compat === 'station') tx.unit.event('run:warning', null, { code: 'STN_E_OUTPUT_INVALID', message });
        else {
          runFailed(tx, { code: 'STN_E_OUTPUT_INVALID', message });
          return;
        }
      }
    }
    run.output = JSON.stringify(tx.d.secrets.scrub(output));
  }
  run.status = status;
  run.finished_at = tx.nowIso;
  tx.unit.dropRunTasks();
  const durationMs = run.started_at ? tx.nowMs - Date.parse(run.started_at) : 0;
  switch (status) {
    case 'COMPLETED':
      tx.unit.event('run:completed', null, { durationMs });
      break;
    case 'FAILED':
      tx.unit.event('run:failed', null, {
        error: runErrorOf(run),
        ...(run.compensated !== null ? { compensated: run.compensated } : {}),
      });
      break;
    case 'CANCELLED':
      tx.unit.event('run:cancelled', null, { compensate: run.cancel?.compensate === true, by: opts.by !== undefined ? opts.by : cancelledBy(tx) });
      break;
    case 'TIMED_OUT':
      tx.unit.event('run:timed_out', null, { timeoutSeconds: tx.spec.timeoutSeconds ?? null });
      break;
    default: {
      const never: never = status;
      throw new Error(`unknown final status ${String(never)}`);
    }
  }
  if (run.parent_run_id && run.parent_step_id) tx.unit.scheduleFor(run.parent_run_id, 'child', run.parent_step_id, { childRunId: run.id });
}

/** Who cancelled a run whose cancel compensated first: recorded in compensation:started. */
function cancelledBy(tx: RunTx): string | null {
  const started = tx.store.events(tx.run.id).find((e) => e.type === 'compensation:started');
  const data = objectColumn<{ by?: string | null }>(started?.data ?? null);
  return data.by ?? null;
}

/**
 * Cancel (docs/runs.md "Pause, resume, cancel, signals, child runs"): stops every active step, then compensates if
 * asked, and ends CANCELLED.
 */
export function cancelRun(tx: RunTx, compensate: boolean, by: string | null): void {
  const run = tx.run;
  if (TERMINAL_RUN.has(run.status)) return;
  const rollBack = compensate && run.phase !== 'compensating';
  for (const s of tx.unit.activeSteps()) cancelStep(tx, s, rollBack);
  for (const child of tx.store.childRuns(run.id)) requestCancel(tx, child.id, rollBack);
  tx.unit.dropRunTasks();
  run.paused = false;
  if (run.phase === 'compensating') {
    // Cancelling during compensation stops it: the run ends with what was compensated so far, and records what was
    // not (the compensations that failed or were cut off, then those never started), closing the saga's timeline.
    const failures = [...failedCompensations(tx), ...compensationCandidates(tx).map((s) => s.state_name)];
    run.compensated = false;
    run.compensation_errors = JSON.stringify(failures);
    tx.unit.event('compensation:finished', null, { compensated: false, failures });
    finishRun(tx, 'CANCELLED');
    return;
  }
  if (compensate) startCompensation(tx, 'cancelled', 'CANCELLED', by);
  else finishRun(tx, 'CANCELLED', { by });
}

/** The whole-run timeout: active steps stop and the run ends TIMED_OUT. */
export function timeoutRun(tx: RunTx): void {
  // A run that already failed (or was cancelled with --compensate) has its end decided: the run timeout does not
  // cut its saga short; each compensation step has its own timeout and retries, and a cancel still stops it.
  if (TERMINAL_RUN.has(tx.run.status) || tx.run.phase === 'compensating') return;
  for (const s of tx.unit.activeSteps()) cancelStep(tx, s, false);
  for (const child of tx.store.childRuns(tx.run.id)) requestCancel(tx, child.id, false);
  finishRun(tx, 'TIMED_OUT', {
    error: { code: 'STN_E_RUN_TIMEOUT', message: `the run exceeded its timeout of ${tx.spec.timeoutSeconds ?? '?'} s` },
  });
}
