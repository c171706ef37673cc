import type { Station } from '../context.js';
import { ChangeStore } from '../store/changes.js';
import type { EventRow } from '../store/runs.js';
import { TERMINAL_EVENTS } from '../views/runs.js';

/** How often the shared poller asks SQLite whether another process committed (runs executed by `stn worker`). */
export const TAIL_POLL_MS = 150;
/** How often it also compares every followed run's last event, whatever the data version says (a safety net). */
const SWEEP_MS = 2_000;
/** Events read per query. */
const PAGE = 500;

export interface RunTailOptions {
  /** Events after this sequence number are delivered (0: all). */
  afterSeq: number;
  /** Receives new events in order, at most once each. */
  onEvents(rows: EventRow[]): void;
  /** Called once, after the terminal event was delivered (or the tail was closed). */
  onEnd?(reason: 'terminal' | 'closed'): void;
}

/**
 * Follows a run's event log: the one follower behind the API's event stream (SSE), `stn runs events --follow` and the
 * progress lines of `stn run`. The database is the source of truth (so order and completeness never depend on
 * timing); in-process events (this daemon's engine) only say "read now", which delivers them without delay. Runs
 * executed by another process on the same database (`stn worker`) emit nothing here: for them one poller shared by
 * every tail of the Station (RunFeed) asks SQLite every TAIL_POLL_MS whether another connection committed, and only
 * then reads the followed runs. An idle daemon with many open streams therefore costs one cheap pragma per tick, not
 * a query per stream.
 */
export class RunTail {
  private last: number;
  private ended = false;
  private readonly feed: RunFeed;

  constructor(
    station: Station,
    readonly runId: string,
    private readonly o: RunTailOptions,
  ) {
    this.last = o.afterSeq;
    this.feed = RunFeed.of(station);
    // Whatever is already committed goes out first.
    this.catchUp();
    if (!this.ended) this.feed.add(this);
  }

  /** Delivers, now, every event committed so far (a reader that must not wait for the next wake-up). */
  catchUp(): void {
    for (;;) {
      if (this.ended) return;
      const rows = this.feed.read(this.runId, this.last);
      if (!rows) return;
      this.deliver(rows);
      if (rows.length < PAGE) return;
    }
  }

  /** Hands over the rows after the last one delivered; ends the tail at the terminal event. */
  deliver(rows: readonly EventRow[]): void {
    if (this.ended) return;
    const fresh = rows.filter((r) => r.seq > this.last);
    if (fresh.length === 0) return;
    const terminal = fresh.findIndex((r) => TERMINAL_EVENTS.has(r.type));
    const batch = terminal >= 0 ? fresh.slice(0, terminal + 1) : fresh;
    this.last = batch[batch.length - 1]?.seq ?? this.last;
    this.o.onEvents(batch);
    if (terminal >= 0) this.finish('terminal');
  }

  /** The sequence number of the last event delivered. */
  get lastSeq(): number {
    return this.last;
  }

  get done(): boolean {
    return this.ended;
  }

  close(): void {
    this.finish('closed');
  }

  private finish(reason: 'terminal' | 'closed'): void {
    if (this.ended) return;
    this.ended = true;
    this.feed.remove(this);
    this.o.onEnd?.(reason);
  }
}

/**
 * The tails of one Station, woken together: one listener on the event bus, one timer, and one read per run and burst
 * of events whatever the number of tails following it. Runs only while a tail is open.
 */
class RunFeed {
  private static readonly feeds = new WeakMap<Station, RunFeed>();
  private readonly tails = new Map<string, Set<RunTail>>();
  private readonly pending = new Set<string>();
  private readonly changes: ChangeStore;
  private stopListening: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private version = 0;
  private lastSweep = 0;

  static of(station: Station): RunFeed {
    let feed = RunFeed.feeds.get(station);
    if (!feed) {
      feed = new RunFeed(station);
      RunFeed.feeds.set(station, feed);
    }
    return feed;
  }

  private constructor(private readonly station: Station) {
    this.changes = new ChangeStore(station.db);
  }

  add(tail: RunTail): void {
    let set = this.tails.get(tail.runId);
    if (!set) this.tails.set(tail.runId, (set = new Set()));
    set.add(tail);
    if (this.timer) return;
    this.stopListening = this.station.events.on((e) => {
      const followed = this.tails.get(e.runId);
      if (followed && [...followed].some((t) => e.seq > t.lastSeq)) this.schedule(e.runId);
    });
    this.version = this.safely(() => this.changes.dataVersion()) ?? 0;
    this.lastSweep = Date.now();
    this.timer = setInterval(() => this.tick(), TAIL_POLL_MS);
    this.timer.unref();
  }

  remove(tail: RunTail): void {
    const set = this.tails.get(tail.runId);
    if (!set?.delete(tail)) return;
    if (set.size === 0) this.tails.delete(tail.runId);
    if (this.tails.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.stopListening?.();
    this.stopListening = undefined;
  }

  /** A page of the run's events after `afterSeq`; undefined when there are none or the read failed. */
  read(runId: string, afterSeq: number): EventRow[] | undefined {
    const rows = this.safely(() => this.station.runStore.events(runId, afterSeq, PAGE), runId);
    return rows && rows.length > 0 ? rows : undefined;
  }

  /** Coalesces a burst of events into one read per run. */
  private schedule(runId: string): void {
    if (this.pending.has(runId)) return;
    this.pending.add(runId);
    setImmediate(() => {
      this.pending.delete(runId);
      this.flush(runId);
    });
  }

  /** Reads the run's new events once, from the oldest position of its tails, and hands them to each. */
  private flush(runId: string): void {
    for (;;) {
      const set = this.tails.get(runId);
      if (!set || set.size === 0) return;
      const from = Math.min(...[...set].map((t) => t.lastSeq));
      const rows = this.read(runId, from);
      if (!rows) return;
      for (const tail of [...set]) tail.deliver(rows);
      if (rows.length < PAGE) return;
    }
  }

  /** Another process committed (or the sweep is due): read the runs whose last event is past a tail's position. */
  private tick(): void {
    const version = this.safely(() => this.changes.dataVersion());
    if (version === undefined) return;
    const now = Date.now();
    const sweep = now - this.lastSweep >= SWEEP_MS;
    if (version === this.version && !sweep) return;
    this.version = version;
    if (sweep) this.lastSweep = now;
    for (const [runId, set] of this.tails) {
      const last = this.safely(() => this.changes.lastEventSeq(runId), runId);
      if (last !== undefined && [...set].some((t) => t.lastSeq < last)) this.flush(runId);
    }
  }

  private safely<T>(read: () => T, runId?: string): T | undefined {
    try {
      return read();
    } catch (err) {
      this.station.logger.warn({ err, run_id: runId }, 'could not read run events for a stream');
      return undefined;
    }
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
