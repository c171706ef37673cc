import type { State } from '../../definitions/types.js';
import type { FrameRow, StepRow } from '../../store/runs.js';
import { TERMINAL_RUN, TERMINAL_STEP } from '../../store/runs.js';
import { childDefPath } from '../spec-index.js';
import type { RunTx } from './run-tx.js';
import { branchDone } from './states/parallel.js';
import { iterationDone } from './states/foreach.js';
import type { Obj, StepError, StoredWait } from './types.js';
import { storedWait } from './types.js';

/** Creates the scope of a parallel branch or a foreach iteration. */
export function childFrame(tx: RunTx, parent: FrameRow, owner: StepRow, key: string, defChild: string, pathPart: string, vars: Obj | null): FrameRow {
  const frame: FrameRow = {
    run_id: tx.run.id,
    id: tx.unit.nextFrameId(),
    parent_id: parent.id,
    owner_step_id: owner.id,
    key,
    path: `${owner.path}${pathPart}/`,
    def_path: childDefPath(parent.def_path, owner.state_name, defChild),
    vars: vars ? JSON.stringify(vars) : null,
    status: 'RUNNING',
  };
  tx.unit.addFrame(frame);
  return frame;
}

/** A state succeeded: its scope goes on with the next state, or reaches its end. */
export function after(tx: RunTx, frame: FrameRow, state: State): void {
  if (state.type === 'switch') return;
  if (state.end || state.next === undefined) frameDone(tx, frame);
  else tx.enterState(frame, state.next);
}

/** A branch or iteration reached an end state (the top level: the run completes). */
export function frameDone(tx: RunTx, frame: FrameRow): void {
  if (frame.parent_id === null) {
    tx.finishRun('COMPLETED');
    return;
  }
  tx.unit.setFrameStatus(frame.id, 'SUCCEEDED');
  const owner = tx.unit.step(frame.owner_step_id as string) as StepRow;
  if (owner.status !== 'RUNNING') return; // the owner already failed or was cancelled
  const parent = tx.unit.frame(frame.parent_id);
  const state = tx.stateOf(owner);
  owner.pending = (owner.pending ?? 1) - 1;
  tx.unit.countersOf(owner);
  if (state.type === 'foreach') iterationDone(tx, parent, state, owner);
  else if (state.type === 'parallel') branchDone(tx, parent, state, owner);
}

/**
 * A scope failed: a branch fails its parallel state (the other branches are cancelled), the top level the run. A
 * failed scope always fails the run (parallel and foreach have no onError), which then compensates: child runs cut
 * off on the way are rolled back too.
 */
export function frameFailed(tx: RunTx, frame: FrameRow, error: StepError): void {
  if (frame.parent_id === null) {
    tx.runFailed(error);
    return;
  }
  tx.unit.setFrameStatus(frame.id, 'FAILED');
  const owner = tx.unit.step(frame.owner_step_id as string) as StepRow;
  if (TERMINAL_STEP.has(owner.status)) return;
  for (const f of tx.store.framesOfStep(tx.run.id, owner.id)) {
    if (f.id !== frame.id && f.status === 'RUNNING') cancelFrame(tx, f);
  }
  tx.settle(owner, 'FAILED', { error });
  tx.unit.event('step:failed', owner.id, { state: owner.state_name, path: owner.path, attempt: 1, error });
  frameFailed(tx, tx.unit.frame(frame.parent_id), error);
}

/** Cancels every active step of a scope and of the scopes inside it (their child runs are rolled back). */
function cancelFrame(tx: RunTx, frame: FrameRow): void {
  const all = tx.store.framesOfRun(tx.run.id);
  const inside = new Set([frame.id]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const f of all) {
      if (f.parent_id !== null && inside.has(f.parent_id) && !inside.has(f.id)) {
        inside.add(f.id);
        grew = true;
      }
    }
  }
  for (const id of inside) tx.unit.setFrameStatus(id, 'CANCELLED');
  for (const s of tx.unit.activeSteps()) if (inside.has(s.frame_id)) cancelStep(tx, s, true);
}

/**
 * Cancels a step. `rollBack`: the run is being rolled back (it failed, or is cancelled with --compensate), so the child
 * run the step waited for is rolled back too, its succeeded steps compensated like the parent's own (docs/runs.md
 * "Compensation").
 */
export function cancelStep(tx: RunTx, step: StepRow, rollBack: boolean): void {
  // Read before settle(), which clears the wait.
  const wait = storedWait(step);
  tx.settle(step, 'CANCELLED');
  tx.unit.dropStepTasks(step.id);
  tx.unit.event('step:cancelled', step.id, { state: step.state_name, path: step.path });
  releaseWait(tx, wait, rollBack);
}

/** A step stopped waiting before its wait ended: the child run it waited for is cancelled, its approval closed. */
export function releaseWait(tx: RunTx, wait: StoredWait | undefined, rollBack: boolean): void {
  if (wait?.type === 'child' && wait.runId) requestCancel(tx, wait.runId, rollBack);
  if (wait?.type === 'approval' && wait.approvalId) tx.approvals?.close(wait.approvalId, tx.nowMs);
}

/** Asks a child run to cancel (its own transaction does it), rolling it back when this run is rolled back. */
export function requestCancel(tx: RunTx, runId: string, compensate: boolean): void {
  const child = tx.store.run(runId);
  if (!child || TERMINAL_RUN.has(child.status)) return;
  if (!child.cancel) {
    child.cancel = { compensate };
    tx.store.updateRun(child);
  }
  tx.unit.scheduleFor(runId, 'cancel', null, { compensate, by: `parent ${tx.run.id}` });
}
