import { retryDelayMs } from '../../backoff.js';
import type { OperationState } from '../../definitions/types.js';

/** A step's retry delay: fixed, or exponential with jitter, capped (docs/runs.md), by the one backoff formula. */
export function backoffMs(retry: NonNullable<OperationState['retry']>, attempt: number, random: () => number): number {
  return retryDelayMs(
    {
      kind: retry.backoff === 'exponential' ? 'exponential' : 'fixed',
      firstMs: (retry.backoffSeconds ?? 1) * 1000,
      ...(retry.maxBackoffSeconds !== undefined ? { capMs: retry.maxBackoffSeconds * 1000 } : {}),
    },
    attempt,
    random,
  );
}
