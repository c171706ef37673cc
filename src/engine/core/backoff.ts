import type { OperationState } from '../../definitions/types.js';

/** Retry delay: fixed, or exponential with jitter, capped (DESIGN §5.3). */
export function backoffMs(retry: NonNullable<OperationState['retry']>, attempt: number, random: () => number): number {
  const base = (retry.backoffSeconds ?? 1) * 1000;
  if (retry.backoff !== 'exponential') return base;
  const cap = retry.maxBackoffSeconds !== undefined ? retry.maxBackoffSeconds * 1000 : Infinity;
  const raw = Math.min(cap, base * 2 ** (attempt - 1));
  // Equal jitter: half the delay fixed, half random, so retries of many runs spread out but never come early.
  return Math.round(raw / 2 + random() * (raw / 2));
}
