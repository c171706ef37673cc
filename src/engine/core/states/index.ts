import type { State } from '../../../definitions/types.js';
import { ExpressionError } from '../../../expressions/index.js';
import type { FrameRow, StepRow } from '../../../store/runs.js';
import { ContextPathError } from '../../paths.js';
import type { RunTx } from '../run-tx.js';
import { StateError } from '../types.js';
import { enterForeach } from './foreach.js';
import { enterInject } from './inject.js';
import { enterOperation } from './operation.js';
import { enterParallel } from './parallel.js';
import { enterSwitch } from './switch.js';
import { enterTransform } from './transform.js';

/** Enters one state of a type: its step exists; what the state does next is up to it. */
export type StateHandler<S extends State> = (tx: RunTx, frame: FrameRow, state: S, step: StepRow) => void;

/** One handler per state type: the mapped type makes a state type without a handler a compile error. */
const STATE_HANDLERS: { [K in State['type']]: StateHandler<Extract<State, { type: K }>> } = {
  operation: enterOperation,
  inject: enterInject,
  switch: enterSwitch,
  parallel: enterParallel,
  foreach: enterForeach,
  transform: enterTransform,
};

/**
 * Enters a state now (the cascade decides when): creates its step unless it is a deferred entry's, then runs the
 * state's handler. An inline state past the transaction's budget is deferred; a state that fails fails its scope.
 */
export function enterNow(tx: RunTx, frame: FrameRow, name: string, existing?: StepRow): void {
  const state = tx.scopeOf(frame).byName.get(name);
  if (!state) throw new Error(`no state "${name}" in scope "${frame.def_path}"`);
  const step = existing ?? tx.newStep(frame, state);
  if (state.type !== 'operation' && tx.cascade.budgetSpent()) {
    tx.cascade.defer(frame, step);
    return;
  }
  try {
    tx.cascade.count(frame, state.name);
    (STATE_HANDLERS[state.type] as StateHandler<State>)(tx, frame, state, step);
  } catch (err) {
    if (!(err instanceof ExpressionError) && !(err instanceof StateError) && !(err instanceof ContextPathError)) throw err;
    // A switch condition sees real secrets, and an evaluation error may quote a value (`no such key "..."`).
    const error = { code: err.code, message: tx.d.secrets.scrub(err.message), state: state.name, path: step.path };
    tx.settle(step, 'FAILED', { error });
    tx.unit.event('step:failed', step.id, { state: state.name, path: step.path, attempt: 1, error });
    tx.frameFailed(frame, error);
  }
}
