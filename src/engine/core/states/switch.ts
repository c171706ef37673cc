import type { State } from '../../../definitions/types.js';
import { ExpressionError, Meter, compileExpression } from '../../../expressions/index.js';
import type { FrameRow, StepRow } from '../../../store/runs.js';
import { getPath, pathSegments } from '../../paths.js';
import type { RunTx } from '../run-tx.js';
import { StateError, type Obj } from '../types.js';

type SwitchState = Extract<State, { type: 'switch' }>;

/** switch: the first condition that holds names the next state (else defaultNext, else the state fails). */
export function enterSwitch(tx: RunTx, frame: FrameRow, state: SwitchState, step: StepRow): void {
  const target = chooseBranch(tx, frame, state);
  tx.succeed(step, { next: target });
  tx.enterState(frame, target);
}

function chooseBranch(tx: RunTx, frame: FrameRow, state: SwitchState): string {
  const base = tx.vars.of(frame);
  let vars = base;
  if (state.dataPath !== undefined) {
    const data = getPath(base, pathSegments(state.dataPath));
    vars = { ...base, ...(data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Obj) : {}), data };
  }
  const budget = new Meter(); // one cost budget for the whole switch, not one per condition
  for (const [i, c] of state.conditions.entries()) {
    let value: unknown;
    try {
      value = compileExpression(c.if).evaluate(vars, budget);
    } catch (err) {
      if (err instanceof ExpressionError) {
        throw new StateError(err.code, `state "${state.name}", condition ${i + 1} (${c.if}): ${err.message}`);
      }
      throw err;
    }
    if (typeof value !== 'boolean') {
      throw new StateError('STN_E_EXPR_EVAL', `state "${state.name}", condition ${i + 1} (${c.if}) gave ${JSON.stringify(value)}, not true or false`);
    }
    if (value) return c.next;
  }
  if (state.defaultNext !== undefined) return state.defaultNext;
  throw new StateError('STN_E_SWITCH_NO_MATCH', `state "${state.name}": no condition matched and there is no defaultNext`);
}
