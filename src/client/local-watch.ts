import type { Station } from '../context.js';
import type { EventRow } from '../store/runs.js';
import { eventJson, stepJson } from '../views/runs.js';
import { RunTail } from './run-tail.js';
import type { ProgressEvent, WatchOptions } from './types.js';

/** How long running steps get to finish after an interrupt before they are aborted (and delivered again later). */
export const INTERRUPT_GRACE_MS = 5_000;

/**
 * Follows the step events of a run and of its child runs (found as they appear), one RunTail per run, and hands them
 * over in the order they happened. The event log, not this process's own events, because another engine on the
 * database (`stn worker`, the daemon) may execute some of the steps: after a timer or a signal, whichever engine
 * claims the task first carries the run on.
 */
class TreeFollower {
  private readonly tails = new Map<string, RunTail>();
  private readonly labels = new Map<string, string>();
  private readonly depth = new Map<string, number>();
  private buffer: EventRow[] = [];
  private queued = false;
  private resolveEnded!: () => void;
  readonly ended = new Promise<void>((resolve) => (this.resolveEnded = resolve));

  constructor(
    private readonly station: Station,
    private readonly rootId: string,
    private readonly onProgress: ((p: ProgressEvent) => void) | undefined,
  ) {
    this.follow(rootId, '', 0);
  }

  close(): void {
    for (const tail of this.tails.values()) tail.close();
  }

  private follow(runId: string, label: string, depth: number): void {
    this.labels.set(runId, label);
    this.depth.set(runId, depth);
    const tail = new RunTail(this.station, runId, {
      afterSeq: 0,
      onEvents: (rows) => this.take(runId, rows),
      onEnd: (reason) => {
        if (runId === this.rootId && reason === 'terminal') this.finish();
      },
    });
    this.tails.set(runId, tail);
  }

  private take(runId: string, rows: readonly EventRow[]): void {
    for (const row of rows) if (row.type.startsWith('step:')) this.buffer.push(row);
    for (const child of this.station.runStore.childRuns(runId)) {
      if (!this.labels.has(child.id)) this.follow(child.id, `${child.workflow_id}: `, (this.depth.get(runId) ?? 0) + 1);
    }
    if (this.queued) return;
    // Events of one commit reach the tails of the tree one after the other: hand them over together.
    this.queued = true;
    setImmediate(() => {
      this.queued = false;
      this.flush();
    });
  }

  /** The run ended: the child runs' last events were committed before, so read them now, then hand everything over. */
  private finish(): void {
    for (const tail of this.tails.values()) tail.catchUp();
    this.flush();
    this.close();
    this.resolveEnded();
  }

  private flush(): void {
    const rows = this.buffer;
    this.buffer = [];
    // Runs of one tree interleave in time: a child's steps come between its parent's "wait" and "ok" lines, which can
    // share a millisecond (and a transaction) with the child's first or last step.
    const depth = (row: EventRow) => this.depth.get(row.run_id) ?? 0;
    rows.sort((a, b) => {
      if (a.created_at !== b.created_at) return a.created_at < b.created_at ? -1 : 1;
      if (depth(a) === depth(b)) return 0;
      const [outer, sign] = depth(a) < depth(b) ? [a, -1] : [b, 1];
      return outer.type === 'step:waiting' ? sign : -sign;
    });
    if (!this.onProgress) return;
    for (const row of rows) {
      const step = row.step_id ? this.station.runStore.step(row.step_id) : undefined;
      this.onProgress({ event: eventJson(row), step: step && stepJson(step), prefix: this.labels.get(row.run_id) ?? '' });
    }
  }
}

/**
 * Runs the engine of this process on the run's tree until the run ends or `o.signal` aborts, reporting the steps of
 * the tree as they happen (whichever process executes them).
 */
export async function executeTree(station: Station, runId: string, o: WatchOptions): Promise<'ended' | 'interrupted'> {
  const tree = new TreeFollower(station, runId, o.onProgress);
  const engine = station.engine({ onlyRunTree: runId });
  engine.start();
  // Neither the tails' timer nor an idle engine holds the process open while the run waits (a timer, a signal).
  const keepAlive = setInterval(() => undefined, 60_000);
  let onAbort = () => undefined as void;
  const outcome = await Promise.race([
    tree.ended.then(() => 'ended' as const),
    new Promise<'interrupted'>((resolve) => {
      onAbort = () => resolve('interrupted');
      if (o.signal.aborted) onAbort();
      else o.signal.addEventListener('abort', onAbort, { once: true });
    }),
  ]);
  o.signal.removeEventListener('abort', onAbort);
  clearInterval(keepAlive);
  tree.close();
  if (outcome === 'interrupted') {
    o.onStopping?.(INTERRUPT_GRACE_MS);
    await engine.stop(INTERRUPT_GRACE_MS);
  } else {
    await engine.stop();
  }
  return outcome;
}
