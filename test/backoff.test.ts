import { describe, expect, it } from 'vitest';
import { retryDelayMs, type Backoff } from '../src/backoff.js';
import { slackBackoffMs } from '../src/slack/threads.js';

const low = (): number => 0;
const high = (): number => 1;

describe('retryDelayMs', () => {
  it('waits the same for every retry when fixed, without jitter', () => {
    const fixed: Backoff = { kind: 'fixed', firstMs: 1500 };
    for (const retry of [1, 2, 10]) expect(retryDelayMs(fixed, retry, low)).toBe(1500);
  });

  it('doubles per retry up to the cap, with half of each delay random', () => {
    const exp: Backoff = { kind: 'exponential', firstMs: 50, capMs: 2000 };
    expect([1, 2, 3, 4, 5, 6, 7, 100, 5000].map((r) => retryDelayMs(exp, r, high))).toEqual([50, 100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    expect([1, 2, 7].map((r) => retryDelayMs(exp, r, low))).toEqual([25, 50, 1000]);
  });

  it('grows without a cap when none is given', () => {
    expect(retryDelayMs({ kind: 'exponential', firstMs: 1000 }, 21, high)).toBe(1000 * 2 ** 20);
  });

  it('keeps the Slack delivery delays: 1 s, 2 s, 4 s, ... to 60 s', () => {
    expect([0, 1, 2, 5, 6, 40].map((a) => slackBackoffMs(a, high))).toEqual([1000, 2000, 4000, 32_000, 60_000, 60_000]);
    expect(slackBackoffMs(0, low)).toBe(500);
  });
});
