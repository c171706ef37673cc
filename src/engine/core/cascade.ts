import type { FrameRow, StepRow } from '../../store/runs.js';
import { TERMINAL_RUN } from '../../store/runs.js';
import type { RunTx } from './run-tx.js';
import { enterNow } from './states/index.js';
import { StateError } from './types.js';

/** How deep inline state entries nest on the stack before they are queued; how often one cascade may enter a state. */
const MAX_INLINE_DEPTH = 48;
const INLINE_LIMIT = 1000;
/**
 * How many inline states one transaction enters, and for how long, before the rest of the cascade is queued: short
 * enough that the daemon's API, cron and lease renewals are not held up noticeably, and other processes get the
 * database's write lock between two transactions.
 */
const INLINE_BUDGET_STATES = 400;
const INLINE_BUDGET_MS = 4;

/** Where a cascade of state entries is: entered from outside, nested on the stack, or draining the queued entries. */
type CascadePhase = { kind: 'idle' } | { kind: 'nested'; depth: number } | { kind: 'draining' };

/**
 * The state entries of one transaction. Inline states (switch, inject, the start of a parallel or foreach) enter the
 * next one at once; past a depth the entry is queued for the outermost call, so a long inline cascade (a foreach of
 * thousands of inject-only iterations) cannot overflow the stack. A cascade that enters one state of one scope over
 * and over is stopped (STN_E_INLINE_LIMIT), so an endless switch loop fails its run instead of holding the database
 * forever.
 */
export class Cascade {
  private phase: CascadePhase = { kind: 'idle' };
  /** How often each (scope, state) was entered in the current cascade. */
  private readonly counts = new Map<string, number>();
  private readonly queued: Array<{ frame: FrameRow; name: string }> = [];
  /** Inline states entered in this transaction, and when it began. */
  private inlineEntries = 0;
  private readonly beganAt = performance.now();

  constructor(private readonly tx: RunTx) {}

  enter(frame: FrameRow, name: string, resumed?: { step: StepRow; visits: Record<string, number> }): void {
    const phase = this.phase;
    if (phase.kind === 'nested' && phase.depth >= MAX_INLINE_DEPTH) {
      this.queued.push({ frame, name });
      return;
    }
    if (phase.kind === 'idle') {
      this.counts.clear();
      // A cascade continued in a new transaction keeps its counts in that scope, so an endless loop is still caught.
      for (const [state, n] of Object.entries(resumed?.visits ?? {})) this.counts.set(`${frame.id}\0${state}`, n);
    }
    this.nested(frame, name, resumed?.step);
    if (phase.kind !== 'idle') return;
    this.phase = { kind: 'draining' };
    try {
      for (let next = this.queued.shift(); next; next = this.queued.shift()) {
        // A queued entry into a scope that has since failed or been cancelled (or a run that ended) is dropped.
        if (TERMINAL_RUN.has(this.tx.run.status) || this.tx.run.phase === 'compensating') continue;
        if (!this.tx.unit.frameRunning(next.frame.id)) continue;
        this.nested(next.frame, next.name);
      }
    } finally {
      this.phase = { kind: 'idle' };
      this.queued.length = 0;
    }
  }

  private nested(frame: FrameRow, name: string, existing?: StepRow): void {
    const outer = this.phase;
    this.phase = { kind: 'nested', depth: outer.kind === 'nested' ? outer.depth + 1 : 1 };
    try {
      enterNow(this.tx, frame, name, existing);
    } finally {
      this.phase = outer;
    }
  }

  /** Counts an entry of a state in this cascade; throws STN_E_INLINE_LIMIT past the limit. */
  count(frame: FrameRow, name: string): void {
    const key = `${frame.id}\0${name}`;
    const visits = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, visits);
    if (visits > INLINE_LIMIT) {
      throw new StateError(
        'STN_E_INLINE_LIMIT',
        `state "${name}" was entered more than ${INLINE_LIMIT} times in one go without an operation in between (an endless switch loop?)`,
      );
    }
  }

  /**
   * Whether this transaction has done its share of inline work (INLINE_BUDGET_STATES states or INLINE_BUDGET_MS):
   * one transaction holds SQLite's write lock and the event loop, so a long cascade (a foreach of thousands of inject
   * iterations) goes on in further transactions instead, each a queued task, with other work and other processes in
   * between.
   */
  budgetSpent(): boolean {
    return ++this.inlineEntries > INLINE_BUDGET_STATES || performance.now() - this.beganAt > INLINE_BUDGET_MS;
  }

  /**
   * Leaves an inline state for a later transaction: its step stays PENDING and a `wake` task (reason `enter`) due
   * now enters it, carrying the cascade's counts in that scope for STN_E_INLINE_LIMIT.
   */
  defer(frame: FrameRow, step: StepRow): void {
    const prefix = `${frame.id}\0`;
    const visits: Record<string, number> = {};
    for (const [key, n] of this.counts) if (key.startsWith(prefix)) visits[key.slice(prefix.length)] = n;
    this.tx.unit.schedule('wake', step.id, { reason: 'enter', visits });
    this.tx.unit.markRunnable();
  }

  /** A deferred inline state's turn (its `wake` task): the cascade goes on where it stopped. */
  resume(step: StepRow, visits: Record<string, number>): void {
    const run = this.tx.run;
    if (step.status !== 'PENDING' || step.type === 'operation') return;
    if (TERMINAL_RUN.has(run.status) || run.phase === 'compensating') return;
    const frame = this.tx.unit.frame(step.frame_id);
    // The scope may have failed or been cancelled since (the frame cache holds rows read in this transaction only).
    if (!this.tx.unit.frameRunning(frame.id)) return;
    this.enter(frame, step.state_name, { step, visits });
  }
}
