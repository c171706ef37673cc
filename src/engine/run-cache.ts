import type { RunRow, RunStore } from '../store/runs.js';

/** What one process knows of a run's step and frame rows, valid while the run is at `eventSeq`. */
interface Known {
  eventSeq: number;
  /** The last visit of each (scope, state): `${frameId}\0${state}` -> visit. Undefined until first needed. */
  visits: Map<string, number> | undefined;
  /** The highest frame id; undefined until first needed. */
  maxFrameId: number | undefined;
}

/**
 * What the engine knows of a run between its transactions, so that creating a step or a scope asks the store
 * nothing: the last visit of every (scope, state), read once per run with one query, and the highest frame id. An
 * entry is valid while the run is at the event number this process committed last: a run another process advanced
 * since (its event_seq moved) is read again, and an entry is dropped when its transaction rolls back.
 */
export class RunCache {
  private readonly runs = new Map<string, Known>();

  constructor(
    private readonly store: RunStore,
    private readonly maxRuns = 2000,
  ) {}

  /** The last visit of `state` in scope `frameId` (0: never visited), as of the run's state when it was loaded. */
  lastVisit(run: RunRow, loadedSeq: number, frameId: number, state: string): number {
    const known = this.entry(run.id, loadedSeq);
    if (!known.visits) {
      known.visits = new Map();
      for (const v of this.store.lastVisits(run.id)) known.visits.set(`${v.frame_id}\0${v.state_name}`, v.visit);
    }
    return known.visits.get(`${frameId}\0${state}`) ?? 0;
  }

  maxFrameId(run: RunRow, loadedSeq: number): number {
    const known = this.entry(run.id, loadedSeq);
    known.maxFrameId ??= this.store.maxFrameId(run.id);
    return known.maxFrameId;
  }

  /** A transaction on the run committed: what it created is known, at the run's new event number. */
  committed(runId: string, loadedSeq: number, eventSeq: number, visits: ReadonlyMap<string, number>, maxFrameId: number | undefined): void {
    const known = this.runs.get(runId);
    if (!known || known.eventSeq !== loadedSeq) {
      this.runs.delete(runId);
      return;
    }
    known.eventSeq = eventSeq;
    if (known.visits) for (const [key, visit] of visits) known.visits.set(key, visit);
    if (maxFrameId !== undefined) known.maxFrameId = Math.max(known.maxFrameId ?? -1, maxFrameId);
  }

  /** Forgets a run (its transaction rolled back, or it ended). */
  forget(runId: string): void {
    this.runs.delete(runId);
  }

  private entry(runId: string, loadedSeq: number): Known {
    let known = this.runs.get(runId);
    if (known?.eventSeq !== loadedSeq) {
      if (!known && this.runs.size >= this.maxRuns) this.runs.delete(this.runs.keys().next().value as string);
      known = { eventSeq: loadedSeq, visits: undefined, maxFrameId: undefined };
      this.runs.set(runId, known);
    }
    return known;
  }
}
