import type { WaitSpec } from '../../../executors/types.js';
import type { StepRow } from '../../../store/runs.js';
import { TERMINAL_STEP } from '../../../store/runs.js';
import type { RunTx } from '../run-tx.js';
import type { WakePayload, WakeReason } from '../../../model/run.js';
import { storedWait, type StoredWait } from '../types.js';
import { approvalWait, approvalDecided, approvalTimedOut } from './approval.js';
import { childWait } from './child.js';
import { signalTimedOut, signalWait } from './signal.js';
import { armStepTimeout, stepTimedOut } from './step-timeout.js';
import { timerDue, timerWait } from './timer.js';

/** Suspends a step on one kind of wait (an executor returned `{ kind: 'suspend', wait }`). */
export type WaitHandler<W extends WaitSpec> = (tx: RunTx, step: StepRow, wait: W) => void;

/** One handler per wait type: the mapped type makes a wait type without a handler a compile error. */
const WAIT_HANDLERS: { [K in WaitSpec['type']]: WaitHandler<Extract<WaitSpec, { type: K }>> } = {
  timer: timerWait,
  signal: signalWait,
  child: childWait,
  approval: approvalWait,
};

/** Wakes a waiting step for one reason (the step is not terminal and has a wait), with what that reason carries. */
export type WakeHandler<W extends WakePayload> = (tx: RunTx, step: StepRow, wait: StoredWait, wake: W) => void;

/** One handler per wake reason, likewise checked by the compiler. */
const WAKE_HANDLERS: { [R in WakeReason]: WakeHandler<Extract<WakePayload, { reason: R }>> } = {
  timer: timerDue,
  'signal-timeout': signalTimedOut,
  'step-timeout': stepTimedOut,
  approval: approvalDecided,
  'approval-timeout': approvalTimedOut,
  // A deferred inline entry is resumed by the cascade (Cascade.resume), never woken as a wait.
  enter: () => undefined,
};

/** A step's executor asked to wait: the state's timeout is armed, then the wait's own handler suspends the step. */
export function suspend(tx: RunTx, step: StepRow, wait: WaitSpec): void {
  armStepTimeout(tx, step, wait);
  (WAIT_HANDLERS[wait.type] as WaitHandler<WaitSpec>)(tx, step, wait);
}

/** A timer, a timeout or a decision wakes a waiting step. */
export function wake(tx: RunTx, step: StepRow, w: WakePayload): void {
  const wait = storedWait(step);
  if (TERMINAL_STEP.has(step.status) || !wait) return;
  (WAKE_HANDLERS[w.reason] as WakeHandler<WakePayload>)(tx, step, wait, w);
}
