/**
 * The deliveries running in execution slots, as their promises: shutdown awaits them as they settle (no polling), and
 * an engine with none returns at once.
 */
export class InFlight {
  private readonly promises = new Set<Promise<void>>();

  get size(): number {
    return this.promises.size;
  }

  /** Tracks `work` (it must not reject) until it settles; `onSettled` runs once it has left the set. */
  add(work: Promise<void>, onSettled: () => void): void {
    const tracked: Promise<void> = work.finally(() => {
      this.promises.delete(tracked);
      onSettled();
    });
    this.promises.add(tracked);
  }

  /** Resolves once nothing is in flight (work added while waiting is waited for too). */
  async settled(): Promise<void> {
    while (this.promises.size > 0) await Promise.allSettled(this.promises);
  }

  /** Like settled(), but gives up after `ms`; true when everything settled in time. */
  async settledWithin(ms: number): Promise<boolean> {
    if (this.promises.size === 0) return true;
    if (ms <= 0) return false;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([this.settled().then(() => true as const), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
