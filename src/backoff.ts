/**
 * The one retry delay formula (a leaf: no imports). Step retries, Slack deliveries and storage contention each
 * describe their backoff as a `Backoff` and ask `retryDelayMs` for the wait before a retry.
 */

export interface Backoff {
  /** 'fixed': every retry waits `firstMs`. 'exponential': `firstMs`, doubled for each further retry, up to `capMs`, with jitter. */
  kind: 'fixed' | 'exponential';
  /** The wait before the first retry (ms). */
  firstMs: number;
  /** The longest exponential wait (ms); none when absent. */
  capMs?: number;
}

/**
 * The wait before retry number `retry` (1 = the first retry). An exponential delay has equal jitter: half of it fixed,
 * half random, so the retries of many callers spread out but never come early; a fixed delay has none.
 */
export function retryDelayMs(backoff: Backoff, retry: number, random: () => number = Math.random): number {
  if (backoff.kind === 'fixed') return backoff.firstMs;
  // 2 ** n is Infinity past n = 1023: the cap (or Infinity) is what remains.
  const raw = Math.min(backoff.capMs ?? Infinity, backoff.firstMs * 2 ** Math.max(0, retry - 1));
  return Math.round(raw / 2 + random() * (raw / 2));
}
