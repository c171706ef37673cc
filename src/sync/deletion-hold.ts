/** How much longer than the window a steady trickle of deletions may hold them back before they are judged anyway. */
const MAX_HOLD_WINDOWS = 20;

interface Held {
  ids: Set<string>;
  firstMs: number;
  lastMs: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The daemon's view of deletions over time (README "Sync"). Files deleted one after another (a slow `git checkout`,
 * `rm` in a loop, a sync tool) reach the watcher as many small batches; judged batch by batch, each would be a partial
 * deletion and the empty-sync guard would never fire. So an automatic sync does not disable a definition whose file
 * vanished at once: it holds every such definition of the environment until no new one has vanished for the window,
 * then a follow-up sync judges the environment as a whole — refusing, as one, a deletion of all its definitions.
 */
export class DeletionHold {
  private readonly envs = new Map<string, Held>();

  constructor(
    readonly windowMs: number,
    private readonly followUp: (environment: string) => void,
  ) {}

  /**
   * Called by a sync about to disable `ids` in `environment` at `nowMs`: returns when the hold ends if they must wait,
   * or undefined when the environment has been quiet for the window (or held too long) and they may be judged now.
   */
  decide(environment: string, ids: string[], nowMs: number): number | undefined {
    let held = this.envs.get(environment);
    if (ids.length === 0) {
      this.clear(environment);
      return undefined;
    }
    if (!held) {
      held = { ids: new Set(), firstMs: nowMs, lastMs: nowMs, timer: undefined };
      this.envs.set(environment, held);
    }
    if (ids.some((id) => !held.ids.has(id))) held.lastMs = nowMs;
    held.ids = new Set(ids);
    const until = Math.min(held.lastMs + this.windowMs, held.firstMs + MAX_HOLD_WINDOWS * this.windowMs);
    if (nowMs >= until) {
      this.clear(environment);
      return undefined;
    }
    if (held.timer) clearTimeout(held.timer);
    held.timer = setTimeout(() => {
      held.timer = undefined;
      this.followUp(environment);
    }, until - nowMs);
    held.timer.unref();
    return until;
  }

  /** Stops every pending follow-up (daemon shutdown). */
  close(): void {
    for (const env of [...this.envs.keys()]) this.clear(env);
  }

  private clear(environment: string): void {
    const held = this.envs.get(environment);
    if (held?.timer) clearTimeout(held.timer);
    this.envs.delete(environment);
  }
}
