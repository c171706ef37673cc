/** How long the engine works synchronously at most before it lets the event loop run (API, cron, timers). */
const BREATHE_MS = 5;
/** The longest pause between two stretches of work when other engines share the database. */
const MAX_PAUSE_MS = 20;
/** Work that went on this long without an idle moment pauses for other engines (see breathe). */
const SUSTAINED_MS = 100;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves after the event loop has handled pending I/O and timers (a promise alone only yields to microtasks). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The pace of the engine's work: when it lets the event loop and other engines have a turn. */
export class Pacer {
  private lastBreath = 0;
  /** When the loop last came out of an idle wait: work since then without a break is sustained work. */
  private busySince = 0;
  private pausing: Promise<void> | undefined;

  /** @param othersAlive whether other engines reported lately (refreshed with this engine's heartbeat). */
  constructor(private readonly othersAlive: () => boolean) {}

  /**
   * Pauses the engine's work once it has run for BREATHE_MS without a pause, so the event loop gets a turn (API
   * requests, cron, timers). When other engines share the database and the work is sustained (SUSTAINED_MS without
   * an idle moment), the pause is as long as the work before it (up to MAX_PAUSE_MS) and every slot waits for it: the
   * write lock is then free half the time, so another process waiting for it (in SQLite's busy handler, which retries
   * at growing intervals) gets it within a few tries instead of being locked out while this engine goes from one
   * transaction to the next.
   */
  async breathe(): Promise<void> {
    if (this.pausing) {
      await this.pausing;
      return;
    }
    const now = performance.now();
    const worked = now - this.lastBreath;
    if (worked < BREATHE_MS) return;
    // Only sustained work pauses: a run's few steps after an idle moment go at full speed.
    const sustained = now - this.busySince > SUSTAINED_MS;
    this.pausing = this.othersAlive() && sustained ? sleep(Math.min(worked, MAX_PAUSE_MS)) : yieldToEventLoop();
    await this.pausing;
    this.pausing = undefined;
    this.lastBreath = performance.now();
  }

  /** The loop came out of an idle wait: the work from now on is counted afresh, and is not sustained yet. */
  rested(): void {
    this.lastBreath = this.busySince = performance.now();
  }

  /** Resumed by an executor's end (a new turn of the event loop): the work done before does not count. */
  resumed(): void {
    this.lastBreath = performance.now();
  }
}
