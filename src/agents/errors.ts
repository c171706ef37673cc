import { StepFailure, type STEP_ERROR_CODES } from '../errors.js';

/** The step error codes an agent step fails with (src/errors.ts `STEP_ERROR_CODES`). */
export type AgentErrorCode = keyof typeof STEP_ERROR_CODES;

/**
 * A failure of an agent step: a provider that cannot answer, a reply that breaks the output schema, a cap reached.
 * `retryable` tells the engine whether the state's `retry` applies; `retryAfterMs` is the provider's Retry-After (the
 * next attempt should not start before it).
 */
export class AgentError extends StepFailure {
  override readonly code: AgentErrorCode;

  constructor(code: AgentErrorCode, message: string, options: { retryable?: boolean; retryAfterMs?: number | undefined; cause?: unknown } = {}) {
    super(code, message, options.retryable ?? false, {
      ...(options.retryAfterMs !== undefined ? { retryAfterMs: options.retryAfterMs } : {}),
      ...(options.cause !== undefined ? { cause: options.cause } : {}),
    });
    this.name = 'AgentError';
    this.code = code;
  }

  /** The provider's Retry-After, when it sent one. */
  get retryAfterMs(): number | undefined {
    return this.extra.retryAfterMs;
  }
}

/** The error to throw when `signal` was aborted (cancel, step timeout, shutdown): the caller knows which. */
export function abortedError(signal: AbortSignal): AgentError {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
  return new AgentError('STN_E_ABORTED', `agent step stopped: ${why}`, { cause: reason });
}
