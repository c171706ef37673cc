import type { JsonValue } from '../../../definitions/types.js';
import type { WaitSpec } from '../../../executors/types.js';
import type { RunRow, StepRow } from '../../../store/runs.js';
import { TERMINAL_STEP } from '../../../store/runs.js';
import type { RunTx } from '../run-tx.js';
import { setWait, storedWait } from '../types.js';
import { jsonColumn } from '../../../store/run-rows.js';

/** workflow.run: the child run is created in this transaction; the step waits for its end unless `wait: false`. */
export function childWait(tx: RunTx, step: StepRow, wait: Extract<WaitSpec, { type: 'child' }>): void {
  let childId: string;
  try {
    // The child's input is stored: secret values handed to it arrive as `***`.
    childId = tx.createChildRun(step, { ...wait, input: tx.d.secrets.scrub(wait.input) });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    tx.failAttempt(step, { code: e.code ?? 'STN_E_CHILD_RUN', message: e.message ?? String(err), retryable: false });
    return;
  }
  if (!wait.wait) {
    tx.complete(step, { kind: 'ok', output: { runId: childId } });
    return;
  }
  setWait(step, { type: 'child', runId: childId });
  tx.unit.updateStep(step);
  tx.unit.event('step:waiting', step.id, { state: step.state_name, path: step.path, wait: { type: 'child', runId: childId } });
}

/** The child run a step waits for ended: its output is the step's, or its failure fails the attempt. */
export function childFinished(tx: RunTx, step: StepRow, child: RunRow): void {
  if (TERMINAL_STEP.has(step.status)) return;
  // Only the child of the current attempt counts (an earlier attempt's child may end after a step timeout).
  const wait = storedWait(step);
  if (wait?.type !== 'child' || wait.runId !== child.id) return;
  if (child.status === 'COMPLETED') {
    tx.complete(step, { kind: 'ok', output: jsonColumn<JsonValue>(child.output) });
  } else {
    tx.failAttempt(step, {
      code: 'STN_E_CHILD_RUN_FAILED',
      message: `child run ${child.id} (${child.workflow_id}) ended ${child.status}`,
      // The state's retry starts a new child run; a cancelled child is a decision, not a fault, and is not retried.
      retryable: child.status !== 'CANCELLED',
      details: { runId: child.id, status: child.status, error: jsonColumn<JsonValue>(child.error) },
    });
  }
}
