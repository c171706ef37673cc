import { TERMINAL_EVENTS } from '../cli/run-view.js';
import type { Station } from '../context.js';
import type { EventRow } from '../store/runs.js';

/** How often a tail reads the database when no in-process event arrived (runs executed by another process). */
export const TAIL_POLL_MS = 150;

export interface RunTailOptions {
  /** Events after this sequence number are delivered (0: all). */
  afterSeq: number;
  /** Receives new events in order, at most once each. */
  onEvents(rows: EventRow[]): void;
  /** Called once, after the terminal event was delivered (or the tail was closed). */
  onEnd?(reason: 'terminal' | 'closed'): void;
  pollMs?: number;
}

/**
 * Follows a run's event log. The database is the source of truth (so order and completeness never depend on
 * timing); in-process events (this daemon's engine) only say "read now", which delivers them without delay. Runs
 * executed by another process on the same database (`stn worker`) emit nothing here, so the tail also reads the
 * database when no event of the run arrived for `pollMs`.
 */
export class RunTail {
  private last: number;
  private ended = false;
  private readScheduled = false;
  private sawEvent = false;
  private readonly stopListening: () => void;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly station: Station,
    private readonly runId: string,
    private readonly o: RunTailOptions,
  ) {
    this.last = o.afterSeq;
    this.stopListening = station.events.on((e) => {
      if (e.runId !== this.runId || e.seq <= this.last) return;
      this.sawEvent = true;
      this.schedule();
    });
    this.timer = setInterval(() => {
      if (this.sawEvent) this.sawEvent = false;
      else this.read();
    }, o.pollMs ?? TAIL_POLL_MS);
    this.timer.unref();
    // Whatever is already committed goes out first.
    this.read();
  }

  /** Coalesces a burst of events into one read. */
  private schedule(): void {
    if (this.readScheduled || this.ended) return;
    this.readScheduled = true;
    setImmediate(() => {
      this.readScheduled = false;
      this.read();
    });
  }

  private read(): void {
    if (this.ended) return;
    for (;;) {
      let rows: EventRow[];
      try {
        rows = this.station.runStore.events(this.runId, this.last, 500);
      } catch (err) {
        this.station.logger.warn({ err, run_id: this.runId }, 'could not read run events for a stream');
        return;
      }
      if (rows.length === 0) return;
      const terminal = rows.findIndex((r) => TERMINAL_EVENTS.has(r.type));
      const batch = terminal >= 0 ? rows.slice(0, terminal + 1) : rows;
      this.last = batch[batch.length - 1]?.seq ?? this.last;
      this.o.onEvents(batch);
      if (terminal >= 0) {
        this.finish('terminal');
        return;
      }
      if (rows.length < 500) return;
    }
  }

  /** The sequence number of the last event delivered. */
  get lastSeq(): number {
    return this.last;
  }

  close(): void {
    this.finish('closed');
  }

  private finish(reason: 'terminal' | 'closed'): void {
    if (this.ended) return;
    this.ended = true;
    this.stopListening();
    clearInterval(this.timer);
    this.o.onEnd?.(reason);
  }
}

/** Resolves with true once the run has ended, or false after `timeoutMs` or an abort (`POST /workflow-runs?wait=`). */
export function waitForRunEnd(station: Station, runId: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    // The tail may end inside its own constructor (the run had already ended), before it is assigned.
    const ref: { tail?: RunTail; timer?: NodeJS.Timeout; settled?: boolean } = {};
    const onAbort = () => ref.tail?.close();
    const done = (ended: boolean) => {
      ref.settled = true;
      clearTimeout(ref.timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(ended);
    };
    ref.tail = new RunTail(station, runId, { afterSeq: 0, onEvents: () => undefined, onEnd: (reason) => done(reason === 'terminal') });
    if (ref.settled) return;
    ref.timer = setTimeout(() => ref.tail?.close(), timeoutMs);
    signal?.addEventListener('abort', onAbort);
  });
}
