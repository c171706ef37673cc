import type { RateLimit } from '../config/config.js';

/** Keys kept per limiter at most; past that the oldest are forgotten (an attacker rotating addresses costs bounded memory). */
const MAX_KEYS = 10_000;

/**
 * The key of a client address for per-client limits: an IPv4 address as is (also when IPv4-mapped), an IPv6 address
 * by its /64 (one host usually holds a whole /64, so counting single addresses would be no limit at all).
 */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const a = address.toLowerCase();
  if (a.startsWith('::ffff:') && a.includes('.')) return a.slice(7);
  if (!a.includes(':')) return a;
  const [head = '', tail = ''] = a.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = a.includes('::') ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets per key: up to `max` at once, refilled continuously at `max` per `windowSeconds`. Taking is O(1) (a
 * Map lookup and a little arithmetic), cheap enough for the webhook path.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {
    this.perMs = limit.max / (limit.windowSeconds * 1000);
  }

  private bucket(key: string): Bucket {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= MAX_KEYS) this.forgetFull(t);
      b = { tokens: this.limit.max, at: t };
      this.buckets.set(key, b);
      return b;
    }
    b.tokens = Math.min(this.limit.max, b.tokens + (t - b.at) * this.perMs);
    b.at = t;
    return b;
  }

  /** Whether `key` has a token left, without using it. */
  has(key: string): boolean {
    return this.bucket(key).tokens >= 1;
  }

  /** Uses one token of `key`; false when none is left. */
  take(key: string): boolean {
    const b = this.bucket(key);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Whole seconds until `key` has a token again (at least 1): the Retry-After of a refusal. */
  retryAfterSeconds(key: string): number {
    const b = this.bucket(key);
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perMs / 1000));
  }

  /** Drops buckets that have refilled (they are the same as no bucket), else the oldest half. */
  private forgetFull(t: number): void {
    for (const [k, b] of this.buckets) if (b.tokens + (t - b.at) * this.perMs >= this.limit.max) this.buckets.delete(k);
    if (this.buckets.size < MAX_KEYS) return;
    let n = this.buckets.size / 2;
    for (const k of this.buckets.keys()) {
      if (n-- <= 0) break;
      this.buckets.delete(k);
    }
  }
}

/**
 * At most one log line per key and interval, with the number of lines held back since: a flood of refused requests
 * must not become a flood of log lines (the disk is a resource too).
 */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; held: number }>();

  constructor(
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns null when this line is held back, else how many were held back since the last one of `key`. */
  pass(key: string): { suppressed: number } | null {
    const t = this.now();
    const e = this.last.get(key);
    if (e && t - e.at < this.intervalMs) {
      e.held++;
      return null;
    }
    if (!e && this.last.size >= MAX_KEYS) this.last.clear();
    this.last.set(key, { at: t, held: 0 });
    return { suppressed: e?.held ?? 0 };
  }
}
