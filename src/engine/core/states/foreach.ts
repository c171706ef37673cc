import type { ForeachState, JsonValue } from '../../../definitions/types.js';
import type { FrameRow, StepRow } from '../../../store/runs.js';
import type { RunTx } from '../run-tx.js';
import { StateError } from '../types.js';

/** foreach: one scope per item, at most maxConcurrency at a time; the result lists every iteration's scope in order. */
export function enterForeach(tx: RunTx, frame: FrameRow, state: ForeachState, step: StepRow): void {
  const items = tx.vars.readPath(frame, state.itemsPath);
  if (!Array.isArray(items)) {
    throw new StateError(
      'STN_E_FOREACH_ITEMS',
      `state "${state.name}": itemsPath "${state.itemsPath}" is ${items === undefined ? 'missing' : `not a list (${typeof items})`}`,
    );
  }
  tx.startCompound(step);
  step.items = JSON.stringify(items);
  step.pending = 0;
  step.next_index = 0;
  tx.unit.updateStep(step);
  tx.unit.itemsOf.set(step.id, items);
  if (items.length === 0) {
    join(tx, frame, state, step);
    return;
  }
  const width = Math.min(items.length, state.maxConcurrency ?? 1);
  // An iteration that failed at once (inline) failed this state: no further iteration starts.
  for (let i = 0; i < width && step.status === 'RUNNING'; i++) startIteration(tx, frame, state, step, items);
}

/** An iteration reached its end: the next item starts, or the last iteration joins them. */
export function iterationDone(tx: RunTx, parent: FrameRow, state: ForeachState, owner: StepRow): void {
  const items = foreachItems(tx, owner);
  if ((owner.next_index ?? 0) < items.length) startIteration(tx, parent, state, owner, items);
  else if (owner.pending === 0) join(tx, parent, state, owner);
}

/** The parsed items of a foreach step, once per transaction (and across them for a long list, see JsonCache). */
function foreachItems(tx: RunTx, step: StepRow): unknown[] {
  let items = tx.unit.itemsOf.get(step.id);
  if (!items) {
    items = tx.d.json.parse(`${step.id}\0items`, step.items ?? '[]') as unknown[];
    tx.unit.itemsOf.set(step.id, items);
  }
  return items;
}

function startIteration(tx: RunTx, frame: FrameRow, state: ForeachState, step: StepRow, items: unknown[]): void {
  const index = step.next_index ?? 0;
  step.next_index = index + 1;
  step.pending = (step.pending ?? 0) + 1;
  tx.unit.countersOf(step);
  const vars = { [state.itemName ?? 'item']: items[index], index };
  const child = tx.childFrame(frame, step, String(index), 'iterator', `[${index}]`, vars);
  tx.enterState(child, tx.scopeOf(child).start);
}

function join(tx: RunTx, parent: FrameRow, state: ForeachState, owner: StepRow): void {
  const frames = tx.store.frameKeysOfStep(tx.run.id, owner.id).sort((a, b) => Number(a.key) - Number(b.key));
  const items = state.outputAggregation === 'array' ? foreachItems(tx, owner) : [];
  const result =
    state.outputAggregation === 'array'
      ? frames.map((f) => ({ item: items[Number(f.key)] ?? null, index: Number(f.key), output: tx.d.scopes.scope(tx.run, f.id) }))
      : frames.map((f) => tx.d.scopes.scope(tx.run, f.id));
  tx.vars.write(parent.id, state.resultPath, result, `steps.${state.name}`);
  tx.succeed(owner, result as JsonValue);
  tx.after(parent, state);
}
