import type { FrameRow, StepRow } from '../../store/runs.js';
import { objectColumn } from '../../store/run-rows.js';
import type { RunTx } from './run-tx.js';
import type { Obj } from './types.js';

/**
 * The previous output of a scope: what a transform reads as `input`, and what an agent step without a task works on.
 * It is the output of the step that succeeded last in the frame (a switch passes data through, so it does not count).
 * Before any step of the frame succeeded: the run's input at the top level, the parallel state's own previous output
 * in a branch, and in a foreach iteration that of the foreach with the item added (`_item`, `_index`, `<itemName>`).
 * It is read from the step rows (this transaction's first), so a restarted engine sees the same. Callers must not
 * modify the value (it may be shared through the JSON cache).
 */
export function previousOutput(tx: RunTx, frame: FrameRow): unknown {
  const here = lastSucceeded(tx, frame);
  // Parsed once across transactions when large (a long foreach reads the same previous output in every iteration).
  if (here) return here.output === null ? null : tx.d.json.parse(`${here.id}\0output`, here.output);
  if (frame.parent_id === null) return tx.d.json.parse(`${tx.run.id}\0input`, tx.run.input);
  const before = previousOutput(tx, tx.unit.frame(frame.parent_id));
  const owner = frame.owner_step_id === null ? undefined : tx.unit.step(frame.owner_step_id);
  const state = owner ? tx.stateOf(owner) : undefined;
  if (state?.type !== 'foreach') return before;
  const name = state.itemName ?? 'item';
  const vars = objectColumn(frame.vars);
  const base: Obj = before !== null && typeof before === 'object' && !Array.isArray(before) ? (before as Obj) : {};
  return { ...base, _item: vars[name], _index: vars.index, [name]: vars[name] };
}

/** The step of a frame that succeeded last: its completion order (undefined before any step of the frame succeeded). */
export function lastCompletion(tx: RunTx, frame: FrameRow): number | undefined {
  return lastSucceeded(tx, frame)?.completed_seq ?? undefined;
}

/** The step of a frame that succeeded last: this transaction's, else the store's (older ones are committed). */
function lastSucceeded(tx: RunTx, frame: FrameRow): Pick<StepRow, 'id' | 'output' | 'completed_seq'> | undefined {
  return tx.unit.lastSucceeded.get(frame.id) ?? tx.d.store.lastSucceeded(tx.run.id, frame.id);
}
