import type { JsonValue, OperationState } from '../../definitions/types.js';
import { renderTemplate } from '../../expressions/index.js';
import type { ExecError, ExecResult } from '../../executors/types.js';
import type { StepRow } from '../../store/runs.js';
import { ContextPathError, getPath, pathSegments } from '../paths.js';
import { backoffMs } from './backoff.js';
import type { RunTx } from './run-tx.js';
import type { Obj, StepError } from './types.js';
import { jsonColumn } from '../../store/run-rows.js';
import { previousOutput } from './previous.js';

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

/** An operation's input as rendered for its executor and for the store (see renderInput). */
export interface RenderedInput {
  /** With real secret values, for the executor only. */
  real: JsonValue;
  /** With `***` for secrets: what is stored. */
  stored: JsonValue;
  /** The scope's previous output, for an agent step without a task (ExecContext.previous). */
  previous?: JsonValue;
}

/** Renders an operation's input twice: with secrets for the executor, with `***` for what is stored. */
export function renderInput(tx: RunTx, step: StepRow): RenderedInput {
  const op = operationOf(tx, step);
  const frame = tx.unit.frame(step.frame_id);
  const extra: Obj = {};
  if (step.compensation_of !== null) {
    const original = tx.unit.step(step.compensation_of);
    extra.result = jsonColumn(original?.output ?? null);
  }
  const where = { state: step.state_name, field: step.compensation_of !== null ? 'compensation.input' : 'input' };
  const agent = op.action === 'agent.run' && step.compensation_of === null;
  // No input: a fresh {} (not one shared object an executor could change), with nothing to look up or render.
  if (op.input === undefined && !agent) {
    const none = {};
    return { real: none, stored: none };
  }
  const input = op.input ?? {};
  let real: JsonValue = input;
  let stored: JsonValue = input;
  if (hasTemplates(input)) {
    const free = tx.spec.compat === 'station' ? FREE_TEXT[op.action] : undefined;
    real = renderOperationInput(tx, step, input, tx.vars.of(frame, extra), where, free, false);
    stored = renderOperationInput(tx, step, input, tx.vars.of(frame, extra, true), where, free, true);
  }
  if (!agent) return { real, stored };
  const task = isObject(real) ? real.task : undefined;
  if (typeof task !== 'string') {
    // Without a task the agent works on the previous output: the task is made from it, its keys become variables.
    const previous = (previousOutput(tx, frame) ?? null) as JsonValue;
    const derived = taskFrom(previous, step.state_name);
    return { real: withTask(real, derived), stored: withTask(stored, derived), previous };
  }
  if (tx.spec.compat === 'station' && task.includes('${')) {
    // Station substituted `${key}` in a task with the top-level context value (the run input's keys are at the top
    // of its context): the same text for both renderings, which differ only where a secret was templated.
    const substitute = keySubstitution(tx.vars.parts(frame));
    return { real: withTask(real, substitute(task)), stored: withTask(stored, substitute(String((stored as Obj).task))) };
  }
  return { real, stored };
}

/** The free-text field of an action: Station never rendered it, so in compat mode a missing key there is left as written. */
const FREE_TEXT: Readonly<Record<string, string>> = { 'agent.run': 'task', 'human.approval': 'message' };

function renderOperationInput(
  tx: RunTx,
  step: StepRow,
  input: JsonValue,
  vars: Obj,
  where: { state: string; field: string },
  free: string | undefined,
  report: boolean,
): JsonValue {
  if (free === undefined || !isObject(input) || typeof input[free] !== 'string') return renderTemplate(input, vars, where) as JsonValue;
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(input)) {
    if (key !== free) {
      out[key] = renderTemplate(value, vars, { state: where.state, field: `${where.field}.${key}` }) as JsonValue;
      continue;
    }
    out[key] = renderTemplate(value, vars, { state: where.state, field: `${where.field}.${key}` }, undefined, {
      onMissingKey: (err) => {
        if (!report) return;
        const message = tx.d.secrets.scrub(`${err.message} (left as written: Station-compatible free text)`);
        tx.unit.event('step:warning', step.id, { state: step.state_name, path: step.path, code: err.code, message });
      },
    }) as JsonValue;
  }
  return out;
}

/**
 * The task of an agent step that has none: the previous output's `task`, else its `response`, else a generic one,
 * followed by that output as JSON, so chained agents work on what came before.
 */
function taskFrom(prev: JsonValue, stateName: string): string {
  const from = isObject(prev) ? (typeof prev.task === 'string' ? prev.task : typeof prev.response === 'string' ? prev.response : undefined) : undefined;
  const task = from ?? `Execute workflow step: ${stateName}`;
  return prev === null ? task : `${task}\n\nInput:\n\`\`\`json\n${JSON.stringify(prev, null, 2)}\n\`\`\``;
}

function withTask(input: JsonValue, task: string): JsonValue {
  return { ...(isObject(input) ? input : {}), task };
}

/** `${key}` → the context's (else the run input's) value of `key`: strings as they are, others as JSON; unknown keys stay. */
function keySubstitution(view: { ctx: Obj; runVars: Obj }): (text: string) => string {
  const runInput = isObject(view.runVars.input as JsonValue) ? (view.runVars.input as Obj) : {};
  return (text) =>
    text.replace(/\$\{([A-Za-z][\w-]*)\}/g, (whole: string, key: string) => {
      const value = Object.hasOwn(view.ctx, key) ? view.ctx[key] : Object.hasOwn(runInput, key) ? runInput[key] : undefined;
      if (value === undefined) return whole;
      return typeof value === 'string' ? value : JSON.stringify(value);
    });
}

function isObject(v: JsonValue | undefined): v is { [key: string]: JsonValue } {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Applies an executor's result to its step: success, retry with backoff, `onError`, or failure and compensation. */
export function complete(tx: RunTx, step: StepRow, result: ExecResult): void {
  if (result.kind === 'ok') {
    const output = tx.d.secrets.scrub(result.output);
    const op = operationOf(tx, step);
    try {
      if (step.compensation_of === null) {
        tx.vars.write(step.frame_id, op.state.resultPath, output, `steps.${op.state.name}`);
        if (op.state.output) writeOutputMappings(tx, step.frame_id, op.state.output, output);
      }
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

/** A state's `output:` mappings: each context key is set to the value at its path in the step's output. */
function writeOutputMappings(tx: RunTx, frameId: number, mappings: Record<string, string>, output: unknown): void {
  for (const [key, path] of Object.entries(mappings)) {
    const value = path === '' ? output : getPath(output, pathSegments(path));
    tx.vars.write(frameId, key, value ?? null, key);
  }
}
