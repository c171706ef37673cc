import type { JsonValue } from '../../../definitions/types.js';
import type { WaitSpec } from '../../../executors/types.js';
import type { StepRow } from '../../../store/runs.js';
import type { RunTx } from '../run-tx.js';
import { setWait, type StoredWait } from '../types.js';
import { jsonColumn } from '../../../store/run-rows.js';

/** signal.wait: takes a buffered signal at once, else waits in WAITING_SIGNAL (until its timeout, if any). */
export function signalWait(tx: RunTx, step: StepRow, wait: Extract<WaitSpec, { type: 'signal' }>): void {
  const buffered = tx.store.unconsumedSignal(tx.run.id, wait.name);
  if (buffered) {
    tx.store.consumeSignal(buffered.id, step.id);
    tx.unit.event('signal:received', step.id, { name: wait.name, signalId: buffered.id, stepId: step.id });
    tx.complete(step, { kind: 'ok', output: jsonColumn<JsonValue>(buffered.payload) });
    return;
  }
  step.status = 'WAITING_SIGNAL';
  setWait(step, wait);
  tx.unit.updateStep(step);
  tx.unit.event('step:waiting', step.id, { state: step.state_name, path: step.path, wait });
  if (wait.timeoutAt !== undefined) tx.unit.schedule('wake', step.id, { reason: 'signal-timeout' }, wait.timeoutAt);
}

/** No signal came before the wait's timeout. */
export function signalTimedOut(tx: RunTx, step: StepRow, wait: StoredWait): void {
  if (wait.type !== 'signal') return;
  tx.failAttempt(step, { code: 'STN_E_SIGNAL_TIMEOUT', message: `no signal "${wait.name}" arrived in time` });
}

/** A signal sent to the run: the first step waiting for its name takes it, else it stays buffered. */
export function deliverSignal(tx: RunTx, signalId: number): void {
  const signal = tx.store.signal(signalId);
  if (!signal || signal.consumed_by !== null) return;
  const waiting = tx.store.stepWaitingForSignal(tx.run.id, signal.name);
  const step = waiting && tx.unit.live(waiting);
  tx.unit.event('signal:received', step?.id ?? null, { name: signal.name, signalId, stepId: step?.id ?? null });
  if (!step) return; // buffered: a later signal.wait step takes it
  tx.store.consumeSignal(signal.id, step.id);
  tx.unit.dropStepTasks(step.id);
  tx.complete(step, { kind: 'ok', output: jsonColumn<JsonValue>(signal.payload) });
}
