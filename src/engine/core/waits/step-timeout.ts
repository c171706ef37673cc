import type { WaitSpec } from '../../../executors/types.js';
import type { StepRow } from '../../../store/runs.js';
import type { RunTx } from '../run-tx.js';
import type { StoredWait } from '../types.js';
import type { WakePayload } from '../../../model/run.js';

/**
 * A waiting action (sleep, signal.wait, workflow.run) suspends inside the engine, so its state's timeoutSeconds is a
 * durable wake at the attempt's deadline rather than an abort of a running executor.
 */
export function armStepTimeout(tx: RunTx, step: StepRow, wait: WaitSpec): void {
  const { timeoutSeconds } = tx.operationOf(step);
  if (timeoutSeconds === undefined || (wait.type === 'child' && !wait.wait)) return;
  const deadline = (step.attempt_started_ms ?? tx.nowMs) + timeoutSeconds * 1000;
  tx.unit.schedule('wake', step.id, { reason: 'step-timeout', attempt: step.attempt }, deadline);
}

/** The attempt's deadline passed while it waited: the wait is released and the attempt fails (and may retry). */
export function stepTimedOut(tx: RunTx, step: StepRow, wait: StoredWait, wake: Extract<WakePayload, { reason: 'step-timeout' }>): void {
  if (wake.attempt !== step.attempt) return; // the deadline of an earlier attempt
  tx.releaseWait(wait);
  tx.unit.dropStepTasks(step.id);
  const { timeoutSeconds } = tx.operationOf(step);
  tx.failAttempt(step, { code: 'STN_E_STEP_TIMEOUT', message: `state "${step.state_name}" did not finish within ${timeoutSeconds ?? '?'} s` });
}
