import type { State } from '../../definitions/types.js';
import type { FrameRow, StepRow, StepStatus } from '../../store/runs.js';
import { TERMINAL_STEP } from '../../store/runs.js';
import type { RunTx } from './run-tx.js';

/** Creates the step of a state's next visit in a scope, with its `state:entered` event. */
export function newStep(tx: RunTx, frame: FrameRow, state: State): StepRow {
  const visit = tx.unit.nextVisit(frame, state.name);
  const id = tx.unit.stepId(frame, state.name, visit);
  const step = blankStep(tx, {
    id,
    frame_id: frame.id,
    state_name: state.name,
    path: `${frame.path}${state.name}${visit > 1 ? `#${visit}` : ''}`,
    visit,
    type: state.type,
    action: state.type === 'operation' ? state.action : null,
    compensation_of: null,
  });
  tx.unit.addStep(step);
  tx.unit.event('state:entered', id, { state: state.name, path: step.path, type: state.type });
  return step;
}

/** What tells a new step apart; the rest of its row starts blank. */
export type StepIdentity = Pick<StepRow, 'id' | 'frame_id' | 'state_name' | 'path' | 'visit' | 'type' | 'action' | 'compensation_of'>;

/**
 * A new step's row, PENDING at attempt 1. One object literal of a fixed shape (no spreads): it is the step's live row
 * for the rest of the transaction.
 */
export function blankStep(tx: RunTx, s: StepIdentity): StepRow {
  return {
    id: s.id,
    run_id: tx.run.id,
    seq: tx.run.event_seq + 1,
    frame_id: s.frame_id,
    state_name: s.state_name,
    path: s.path,
    visit: s.visit,
    type: s.type,
    action: s.action,
    status: 'PENDING',
    attempt: 1,
    deliveries: 0,
    input: null,
    output: null,
    error: null,
    wait: null,
    items: null,
    pending: null,
    next_index: null,
    compensation_of: s.compensation_of,
    completed_seq: null,
    created_at: tx.nowIso,
    started_at: null,
    attempt_started_ms: null,
    finished_at: null,
    duration_ms: null,
  };
}

/** Sets a step's status (and output or error); a terminal status stamps its end, a success its completion order. */
export function settle(tx: RunTx, step: StepRow, status: StepStatus, fields: { output?: unknown; error?: unknown } = {}): void {
  step.status = status;
  step.wait = null;
  if (fields.output !== undefined) step.output = JSON.stringify(fields.output);
  if (fields.error !== undefined) step.error = JSON.stringify(fields.error);
  if (TERMINAL_STEP.has(status)) {
    step.finished_at = tx.nowIso;
    step.duration_ms = step.attempt_started_ms !== null ? tx.nowMs - step.attempt_started_ms : 0;
    if (status === 'SUCCEEDED') {
      step.completed_seq = ++tx.run.completion_seq;
      if (step.type !== 'switch' && step.compensation_of === null) tx.unit.lastSucceeded.set(step.frame_id, step);
    }
  }
  tx.unit.updateStep(step);
}

export function succeed(tx: RunTx, step: StepRow, output: unknown): void {
  settle(tx, step, 'SUCCEEDED', { output });
  tx.unit.event('step:succeeded', step.id, { state: step.state_name, path: step.path, attempt: step.attempt, durationMs: step.duration_ms });
}

/** Marks a parallel or foreach step running (its first attempt starts now). */
export function startCompound(tx: RunTx, step: StepRow): void {
  step.status = 'RUNNING';
  step.started_at = tx.nowIso;
  step.attempt_started_ms = tx.nowMs;
}
