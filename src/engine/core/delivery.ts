import type { JsonValue, OperationState } from '../../definitions/types.js';
import { renderTemplate } from '../../expressions/index.js';
import type { ExecError, ExecResult } from '../../executors/types.js';
import type { StepRow } from '../../store/runs.js';
import { ContextPathError } from '../paths.js';
import { backoffMs } from './backoff.js';
import type { RunTx } from './run-tx.js';
import type { Obj, StepError } from './types.js';
import { jsonColumn } from '../../store/run-rows.js';

/** The operation (or compensation) definition behind a step. */
export interface OperationOf {
  state: OperationState;
  action: string;
  input: JsonValue | undefined;
  retry: OperationState['retry'];
  timeoutSeconds: number | undefined;
}

/**
 * The first half of an operation delivery: marks the step running and counts the delivery. The caller writes the
 * step row (once, with its rendered input, or together with the outcome of an inline executor).
 */
export function beginDelivery(tx: RunTx, step: StepRow): void {
  if (step.status === 'PENDING') {
    step.status = 'RUNNING';
    step.deliveries = 1;
    step.attempt_started_ms = tx.nowMs;
    step.started_at ??= tx.nowIso;
  } else {
    step.deliveries += 1;
  }
  tx.unit.event('step:started', step.id, {
    state: step.state_name,
    path: step.path,
    action: step.action,
    attempt: step.attempt,
    delivery: step.deliveries,
  });
}

export function operationOf(tx: RunTx, step: StepRow): OperationOf {
  const state = tx.stateOf(step) as OperationState;
  if (step.compensation_of !== null && state.compensation) {
    const c = state.compensation;
    return { state, action: c.action, input: c.input, retry: c.retry, timeoutSeconds: c.timeoutSeconds };
  }
  return { state, action: state.action, input: state.input, retry: state.retry, timeoutSeconds: state.timeoutSeconds };
}

/** Renders an operation's input twice: with secrets for the executor, with `***` for what is stored. */
export function renderInput(tx: RunTx, step: StepRow): { real: JsonValue; stored: JsonValue } {
  const op = operationOf(tx, step);
  const frame = tx.unit.frame(step.frame_id);
  const extra: Obj = {};
  if (step.compensation_of !== null) {
    const original = tx.unit.step(step.compensation_of);
    extra.result = jsonColumn(original?.output ?? null);
  }
  const where = { state: step.state_name, field: step.compensation_of !== null ? 'compensation.input' : 'input' };
  // No input: a fresh {} (not one shared object an executor could change), with nothing to look up or render.
  if (op.input === undefined) {
    const none = {};
    return { real: none, stored: none };
  }
  const input = op.input;
  if (!hasTemplates(input)) return { real: input, stored: input };
  const real = renderTemplate(input, tx.vars.of(frame, extra), where) as JsonValue;
  const stored = renderTemplate(input, tx.vars.of(frame, extra, true), where) as JsonValue;
  return { real, stored };
}

/** Applies an executor's result to its step: success, retry with backoff, `onError`, or failure and compensation. */
export function complete(tx: RunTx, step: StepRow, result: ExecResult): void {
  if (result.kind === 'ok') {
    const output = tx.d.secrets.scrub(result.output);
    const op = operationOf(tx, step);
    try {
      if (step.compensation_of === null) tx.vars.write(step.frame_id, op.state.resultPath, output, `steps.${op.state.name}`);
    } catch (err) {
      if (!(err instanceof ContextPathError)) throw err;
      failAttempt(tx, step, { code: err.code, message: err.message, retryable: false });
      return;
    }
    tx.succeed(step, output);
    if (step.compensation_of !== null) tx.compensationDone(step);
    else tx.after(tx.unit.frame(step.frame_id), op.state);
  } else if (result.kind === 'error') {
    failAttempt(tx, step, { ...result.error, message: tx.d.secrets.scrub(result.error.message) });
  } else {
    tx.suspend(step, result.wait);
  }
}

/** An attempt failed: retried after its backoff while attempts remain, else the step fails (onError, or its scope). */
export function failAttempt(tx: RunTx, step: StepRow, err: ExecError): void {
  const op = operationOf(tx, step);
  const max = op.retry?.maxAttempts ?? 1;
  const error: StepError = {
    code: err.code,
    message: err.message,
    state: step.state_name,
    path: step.path,
    action: op.action,
    attempt: step.attempt,
    ...(err.details !== undefined ? { details: tx.d.secrets.scrub(err.details) } : {}),
  };
  if (err.retryable !== false && step.attempt < max) {
    // The far side's Retry-After (a 429) is honoured when it asks for longer than the state's backoff.
    const delayMs = Math.max(backoffMs(op.retry ?? {}, step.attempt, tx.d.random), err.retryAfterMs ?? 0);
    tx.unit.event('step:retrying', step.id, { state: step.state_name, path: step.path, attempt: step.attempt + 1, delayMs, error });
    step.attempt += 1;
    step.status = 'PENDING';
    step.deliveries = 0;
    step.wait = null;
    step.error = JSON.stringify(error);
    tx.unit.updateStep(step);
    tx.unit.schedule('exec', step.id, null, tx.nowMs + delayMs);
    return;
  }
  tx.settle(step, err.code === 'STN_E_STEP_TIMEOUT' ? 'TIMED_OUT' : 'FAILED', { error });
  const handledBy = step.compensation_of === null ? op.state.onError : undefined;
  tx.unit.event('step:failed', step.id, { state: step.state_name, path: step.path, attempt: step.attempt, error, ...(handledBy ? { handledBy } : {}) });
  if (step.compensation_of !== null) {
    tx.compensationDone(step);
    return;
  }
  const frame = tx.unit.frame(step.frame_id);
  if (handledBy) {
    tx.vars.write(frame.id, 'error', { state: step.state_name, action: op.action, code: err.code, message: error.message, attempt: step.attempt }, 'error');
    tx.enterState(frame, handledBy);
  } else {
    tx.frameFailed(frame, error);
  }
}

/** Whether a definition value holds any `{{ }}` (cached per value: definitions are immutable once loaded). */
const templated = new WeakMap<object, boolean>();
function hasTemplates(value: JsonValue): boolean {
  if (typeof value === 'string') return value.includes('{{');
  if (value === null || typeof value !== 'object') return false;
  let known = templated.get(value);
  if (known === undefined) {
    known = Array.isArray(value) ? value.some(hasTemplates) : Object.values(value).some(hasTemplates);
    templated.set(value, known);
  }
  return known;
}
