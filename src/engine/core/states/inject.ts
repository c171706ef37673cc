import type { JsonValue, State } from '../../../definitions/types.js';
import { renderTemplate } from '../../../expressions/index.js';
import type { FrameRow, StepRow } from '../../../store/runs.js';
import type { RunTx } from '../run-tx.js';
import { StateError } from '../types.js';

/** inject: renders its data into the context (merged into the scope root, or set at resultPath) and moves on. */
export function enterInject(tx: RunTx, frame: FrameRow, state: Extract<State, { type: 'inject' }>, step: StepRow): void {
  // The context is stored, so an injected secret is stored as `***` (secrets belong in operation inputs).
  const data = renderTemplate(state.data, tx.vars.of(frame, {}, true), { state: state.name, field: 'data' });
  if (state.resultPath === undefined) {
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      throw new StateError(
        'STN_E_INJECT_NOT_OBJECT',
        `state "${state.name}": data is ${Array.isArray(data) ? 'a list' : data === null ? 'null' : `a ${typeof data}`}; without resultPath it is merged into the context, so it must be an object (or set resultPath)`,
      );
    }
    tx.vars.merge(frame.id, data);
  }
  else tx.vars.write(frame.id, state.resultPath, data, '');
  tx.succeed(step, data as JsonValue);
  tx.after(frame, state);
}
