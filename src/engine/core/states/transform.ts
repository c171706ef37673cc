import type { TransformState } from '../../../definitions/types.js';
import type { FrameRow, StepRow } from '../../../store/runs.js';
import type { RunTx } from '../run-tx.js';
import { StateError } from '../types.js';

/** transform: evaluates its Starlark expression inline (work in progress: refused until the evaluator lands). */
export function enterTransform(_tx: RunTx, _frame: FrameRow, state: TransformState, _step: StepRow): void {
  throw new StateError('STN_E_EXPR_EVAL', `state "${state.name}": transform states are not supported yet`);
}
