import type { PatchInsert } from '../store/run-batch.js';
import type { RunRow, RunStore } from '../store/runs.js';
import { mergePath, setPath } from './paths.js';

type Obj = Record<string, unknown>;

interface Cached {
  seq: number;
  frames: Map<number, Obj>;
}

/**
 * The context scopes of runs, rebuilt from their patches and kept in memory. A write appends one patch row (so a
 * step's commit stays small however large the context is) and updates the cached copy. A copy that is behind the
 * database (another process advanced the run) catches up from the patches after its sequence number.
 */
export class Scopes {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly store: RunStore,
    private readonly maxRuns = 2000,
  ) {}

  /** The run's cached scopes, brought up to `upTo` (its patch_seq) from the patches the cache has not seen. */
  private load(run: RunRow, upTo: number = run.patch_seq): Cached {
    let c = this.cache.get(run.id);
    if (c && c.seq > upTo) c = undefined; // a rolled-back write: start over
    if (!c) {
      c = { seq: 0, frames: new Map() };
      if (this.cache.size >= this.maxRuns) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(run.id, c);
    }
    if (c.seq < upTo) {
      for (const p of this.store.patches(run.id, c.seq)) {
        this.apply(c, p.frame_id, p.path, p.op, p.value);
        c.seq = p.seq;
      }
    }
    return c;
  }

  private apply(c: Cached, frameId: number, segments: string[], op: 'set' | 'merge', value: unknown): void {
    const current = c.frames.get(frameId) ?? {};
    c.frames.set(frameId, op === 'merge' ? mergePath(current, segments, value) : setPath(current, segments, value));
  }

  /** The scope object of a frame (its own writes only). Callers must not modify it. */
  scope(run: RunRow, frameId: number): Obj {
    return this.load(run).frames.get(frameId) ?? {};
  }

  /**
   * Records a write: its patch row goes to `append` (the engine's unit of work, which writes it with the rest of its
   * batch). `run.patch_seq` must already be advanced by the caller (it is saved with the run row in the same
   * transaction). The cached copy is then at the run's patch_seq, so no later read in the same transaction goes to
   * the store, where the patch may not be yet: the copy is only dropped after a rollback (forget) or when another
   * run's is loaded, and a transaction loads only its own run's scopes.
   */
  write(run: RunRow, frameId: number, segments: string[], op: 'set' | 'merge', value: unknown, append: (patch: PatchInsert) => void): void {
    const c = this.load(run, run.patch_seq - 1);
    const json = JSON.stringify(value ?? null);
    append({ seq: run.patch_seq, frame_id: frameId, path: segments.length === 0 ? '' : JSON.stringify(segments), op, value: json });
    // The cache keeps its own copy, made from the stored text (exactly what a reload from the patches would give).
    this.apply(c, frameId, segments, op, JSON.parse(json) as unknown);
    c.seq = run.patch_seq;
  }

  /** Forgets a run (after a rolled-back transaction, or when it ended). */
  forget(runId: string): void {
    this.cache.delete(runId);
  }
}
