/**
 * What executors that do I/O (shell.exec, http.request) share: the time limit they apply, why they stopped their own
 * work (timeout or abort) and the step result that says so, and reading a JSON answer from text.
 */
import type { JsonObject, JsonValue } from '../definitions/types.js';
import { failed, type ExecResult } from './types.js';

/** Why the executor stopped the work itself. */
export type StopReason = { kind: 'timeout'; message: string } | { kind: 'aborted'; message: string };

/**
 * Why ctx.signal was aborted, for messages starting with `label` ("command", "GET https://…"). A reason named
 * TimeoutError (`AbortSignal.timeout()`, or the engine's step timeout) counts as a timeout; anything else (cancel,
 * shutdown) is an abort.
 */
export function stopReasonFromSignal(signal: AbortSignal, label: string): StopReason {
  const reason: unknown = signal.reason;
  // DOMException (the default abort reason, and AbortSignal.timeout()'s) is an Error in Node >= 17.
  const name = reason instanceof Error ? reason.name : undefined;
  const text = typeof reason === 'string' ? reason : reason instanceof Error ? reason.message : '';
  if (name === 'TimeoutError') return { kind: 'timeout', message: `${label} timed out${text ? `: ${text}` : ''}` };
  return { kind: 'aborted', message: `${label} aborted${text ? `: ${text}` : ''}` };
}

/** The step result of stopped work: `timeoutCode` (retryable) for a timeout, STN_E_ABORTED for an abort. */
export function stoppedResult(stop: StopReason, timeoutCode: string, details?: JsonObject): ExecResult {
  const extra = details === undefined ? {} : { details };
  if (stop.kind === 'timeout') return failed(timeoutCode, stop.message, { retryable: true, ...extra });
  // Cancel and shutdown are the engine's decisions, not transient failures: it chooses what happens next.
  return failed('STN_E_ABORTED', stop.message, { retryable: false, ...extra });
}

/** The shorter of the input's own timeout and the step timeout; undefined when neither is set. */
export function effectiveTimeoutMs(timeoutSeconds: number | undefined, stepTimeoutMs: number | undefined): number | undefined {
  const own = timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000;
  if (own === undefined) return stepTimeoutMs;
  return stepTimeoutMs === undefined ? own : Math.min(own, stepTimeoutMs);
}

/** "1.5s" for 1500 ms, as timeout messages print it. */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

/** The JSON value a text holds (surrounding whitespace ignored), or undefined when it is empty or not JSON. */
export function parseJsonText(text: string): JsonValue | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  try {
    return JSON.parse(trimmed) as JsonValue;
  } catch {
    return undefined;
  }
}
