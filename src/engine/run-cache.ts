import type { RunRow, RunStore } from '../store/runs.js';

/** What one process knows of a run's step and frame rows, valid while the run is at `eventSeq`. */
interface Known {
  eventSeq: number;
  /** The last visit of each (scope, state) looked up or created: `${frameId}\0${state}` -> visit. */
  visits: Map<string, number>;
  /** Scopes this process created while the entry was valid: no other process has steps in them. */
  freshFrames: Set<number>;
  /** The highest frame id; undefined until first needed. */
  maxFrameId: number | undefined;
}

/**
 * What the engine knows of a run between its transactions, so that creating a step or a scope asks the store as
 * little as possible: the last visit of each (scope, state) it looked up or created, the scopes it created (a state
 * of one has no visit yet), and the highest frame id. An entry is valid while the run is at the event number this
 * process committed last: a run another process advanced since (its event_seq moved) starts afresh, and an entry is
 * dropped when its transaction rolls back.
 */
export class RunCache {
  private readonly runs = new Map<string, Known>();

  constructor(
    private readonly store: RunStore,
    private readonly maxRuns = 2000,
  ) {}

  /**
   * The last visit of `state` in scope `frameId` (0: never visited). Unknown ones are found with `taken(n)` (whether
   * visit n's step exists): visits are numbered 1, 2, 3, ... without gaps, so doubling then halving finds the last one
   * in a few primary-key lookups however often the state was visited.
   */
  lastVisit(run: RunRow, loadedSeq: number, frameId: number, state: string, taken: (visit: number) => boolean): number {
    const known = this.entry(run.id, loadedSeq);
    const key = `${frameId}\0${state}`;
    const cached = known.visits.get(key);
    if (cached !== undefined) return cached;
    let last = 0;
    if (!known.freshFrames.has(frameId) && taken(1)) {
      let lo = 1;
      let hi = 2;
      while (taken(hi)) {
        lo = hi;
        hi *= 2;
      }
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (taken(mid)) lo = mid;
        else hi = mid;
      }
      last = lo;
    }
    known.visits.set(key, last);
    return last;
  }

  maxFrameId(run: RunRow, loadedSeq: number): number {
    const known = this.entry(run.id, loadedSeq);
    known.maxFrameId ??= this.store.maxFrameId(run.id);
    return known.maxFrameId;
  }

  /** A transaction on the run committed: what it created is known, at the run's new event number. */
  committed(
    runId: string,
    loadedSeq: number,
    eventSeq: number,
    created: { visits: ReadonlyMap<string, number>; frames: Iterable<number>; maxFrameId: number | undefined },
  ): void {
    const known = this.runs.get(runId);
    if (!known || known.eventSeq !== loadedSeq) {
      this.runs.delete(runId);
      return;
    }
    known.eventSeq = eventSeq;
    for (const [key, visit] of created.visits) known.visits.set(key, visit);
    for (const id of created.frames) known.freshFrames.add(id);
    if (created.maxFrameId !== undefined) known.maxFrameId = Math.max(known.maxFrameId ?? -1, created.maxFrameId);
  }

  /** Forgets a run (its transaction rolled back, or it ended). */
  forget(runId: string): void {
    this.runs.delete(runId);
  }

  private entry(runId: string, loadedSeq: number): Known {
    let known = this.runs.get(runId);
    if (known?.eventSeq !== loadedSeq) {
      if (!known && this.runs.size >= this.maxRuns) this.runs.delete(this.runs.keys().next().value as string);
      known = { eventSeq: loadedSeq, visits: new Map(), freshFrames: new Set(), maxFrameId: undefined };
      this.runs.set(runId, known);
    }
    return known;
  }
}
