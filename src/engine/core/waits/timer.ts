import type { WaitSpec } from '../../../executors/types.js';
import type { StepRow } from '../../../store/runs.js';
import type { RunTx } from '../run-tx.js';
import { setWait, type StoredWait } from '../types.js';

/** sleep: the step waits (RUNNING) for a durable wake task at `until`. */
export function timerWait(tx: RunTx, step: StepRow, wait: Extract<WaitSpec, { type: 'timer' }>): void {
  setWait(step, wait);
  tx.unit.updateStep(step);
  tx.unit.event('step:waiting', step.id, { state: step.state_name, path: step.path, wait });
  tx.unit.schedule('wake', step.id, { reason: 'timer' }, wait.until);
}

/** The timer is due: the step succeeds. */
export function timerDue(tx: RunTx, step: StepRow, wait: StoredWait): void {
  if (wait.type === 'timer') tx.complete(step, { kind: 'ok', output: {} });
}
