import type { OperationState } from '../../definitions/types.js';
import type { StepRow } from '../../store/runs.js';
import { stepId as makeStepId } from '../ids.js';
import type { RunTx } from './run-tx.js';
import { blankStep } from './steps.js';
import { stepErrorOf } from '../../store/run-rows.js';

/** How a run that is rolled back ends once its compensations ran. */
export type RolledBackStatus = 'FAILED' | 'CANCELLED';

/**
 * Runs the compensations of every SUCCEEDED step, latest completion first, then ends the run as `finalStatus`.
 * `by`: who cancelled (a cancel with --compensate), recorded in compensation:started and in run:cancelled.
 */
export function startCompensation(tx: RunTx, reason: string, finalStatus: RolledBackStatus, by?: string | null): void {
  const todo = compensationCandidates(tx);
  if (todo.length === 0) {
    tx.finishRun(finalStatus, by !== undefined ? { by } : {});
    return;
  }
  tx.run.phase = 'compensating';
  tx.run.final_status = finalStatus;
  tx.unit.event('compensation:started', null, { steps: todo.length, reason, ...(by !== undefined ? { by } : {}) });
  compensateNext(tx);
}

/** The succeeded operation steps with a compensation not yet started, latest completion first. */
export function compensationCandidates(tx: RunTx): StepRow[] {
  return tx.store.compensable(tx.run.id).filter((s) => {
    const state = tx.stateOf(s);
    return state.type === 'operation' && state.compensation !== undefined;
  });
}

/** The state names of the compensations that did not succeed. */
export function failedCompensations(tx: RunTx): string[] {
  return tx.store.compensations(tx.run.id).filter((s) => s.status !== 'SUCCEEDED').map((s) => s.state_name);
}

function compensateNext(tx: RunTx): void {
  const next = compensationCandidates(tx)[0];
  if (!next) {
    const failures = failedCompensations(tx);
    tx.run.compensated = failures.length === 0;
    tx.run.compensation_errors = failures.length > 0 ? JSON.stringify(failures) : null;
    tx.unit.event('compensation:finished', null, { compensated: failures.length === 0, failures });
    tx.finishRun((tx.run.final_status as RolledBackStatus | null) ?? 'FAILED');
    return;
  }
  const frame = tx.unit.frame(next.frame_id);
  const state = tx.stateOf(next) as OperationState;
  const id = makeStepId(tx.run.id, frame.path, `compensate:${next.id}`, 1);
  tx.unit.addStep(blankStep(tx, {
    id,
    frame_id: frame.id,
    state_name: state.name,
    path: `${next.path}/compensate`,
    visit: 1,
    type: 'compensation',
    action: state.compensation?.action ?? null,
    compensation_of: next.id,
  }));
  tx.unit.event('state:entered', id, { state: state.name, path: `${next.path}/compensate`, type: 'compensation' });
  tx.unit.schedule('exec', id, null);
}

/** A compensation step ended (succeeded or failed for good): the next one starts, or the run ends. */
export function compensationDone(tx: RunTx, step: StepRow): void {
  const error = step.status !== 'SUCCEEDED' ? stepErrorOf(step) : undefined;
  tx.unit.event('compensation:step', step.id, {
    state: step.state_name,
    of: step.compensation_of as string,
    status: step.status,
    ...(error !== undefined ? { error } : {}),
  });
  compensateNext(tx);
}
