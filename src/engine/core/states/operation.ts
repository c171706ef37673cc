import type { OperationState } from '../../../definitions/types.js';
import type { FrameRow, StepRow } from '../../../store/runs.js';
import type { RunTx } from '../run-tx.js';

/** An operation state is delivered by the host: its exec task is scheduled (and chained when due now). */
export function enterOperation(tx: RunTx, _frame: FrameRow, _state: OperationState, step: StepRow): void {
  tx.unit.schedule('exec', step.id, null);
}
