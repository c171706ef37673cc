import type { JsonValue, State } from '../../../definitions/types.js';
import type { FrameRow, StepRow } from '../../../store/runs.js';
import { lastCompletion } from '../previous.js';
import type { RunTx } from '../run-tx.js';
import type { Obj } from '../types.js';

type ParallelState = Extract<State, { type: 'parallel' }>;

/** parallel: one scope per branch, all started now; the state succeeds when every branch has reached its end. */
export function enterParallel(tx: RunTx, frame: FrameRow, state: ParallelState, step: StepRow): void {
  tx.startCompound(step);
  step.pending = state.branches.length;
  tx.unit.updateStep(step);
  for (const b of state.branches) {
    // A branch that failed at once (inline) failed this state: the branches after it never start.
    if (step.status !== 'RUNNING') return;
    const child = tx.childFrame(frame, step, b.name, `branch:${b.name}`, `/${b.name}`, null);
    tx.enterState(child, tx.scopeOf(child).start);
  }
}

/** A branch reached its end: the last one writes every branch's scope, by name, as the state's result. */
export function branchDone(tx: RunTx, parent: FrameRow, state: ParallelState, owner: StepRow): void {
  if (owner.pending !== 0) return;
  const frames = tx.store.framesOfStep(tx.run.id, owner.id);
  const scopeOf = (f: FrameRow): Obj => tx.d.scopes.scope(tx.run, f.id);
  let result: unknown;
  switch (state.outputAggregation ?? 'merge') {
    case 'merge': {
      const merged: Obj = {};
      for (const f of frames) merged[f.key] = scopeOf(f);
      result = merged;
      break;
    }
    case 'array': {
      const byName = new Map(frames.map((f) => [f.key, f]));
      result = state.branches.map((b) => {
        const f = byName.get(b.name);
        return f ? scopeOf(f) : null;
      });
      break;
    }
    case 'first': {
      // The branch that reached its end first: the one whose last step completed earliest.
      let first: FrameRow | undefined;
      let firstSeq = Number.POSITIVE_INFINITY;
      for (const f of frames) {
        const seq = lastCompletion(tx, f) ?? Number.POSITIVE_INFINITY;
        if (first === undefined || seq < firstSeq) {
          first = f;
          firstSeq = seq;
        }
      }
      result = first ? scopeOf(first) : null;
      break;
    }
  }
  tx.vars.write(parent.id, state.resultPath, result, `steps.${state.name}`);
  tx.succeed(owner, result as JsonValue);
  tx.after(parent, state);
}
