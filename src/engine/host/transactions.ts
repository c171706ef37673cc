import type { Logger } from '../../log.js';
import { TERMINAL_RUN, type RunRow, type TaskRow } from '../../store/runs.js';
import { isTransientStorageError } from '../../store/transient.js';
import type { RunEvent } from '../events.js';
import { RunTx, type InterpreterDeps } from '../interpreter.js';
import type { HostContext } from './options.js';
import { sleep } from './pacing.js';

export type TxOutcome<T> = { value: T | undefined; chained: TaskRow | undefined };
/** A transaction rolled back by busy, full or failing storage: to be run again after `retryMs`. */
type Retry = { retryMs: number };

/**
 * The engine's commits: one run, one transaction, under the task's lease (fencing), its events published after the
 * commit. Busy, full or failing storage is waited out; a bug fails the run instead of crash-looping its task.
 */
export class Transactions {
  constructor(
    private readonly host: HostContext,
    private readonly deps: InterpreterDeps,
  ) {}

  /**
   * Runs `fn` on one run in one transaction, then publishes its events. Busy, full or failing storage rolls the
   * transaction back and runs it again after a backoff (never a failed run); the wait ends only if the engine stops.
   */
  async tx<T>(task: TaskRow, fn: (rt: RunTx, run: RunRow) => T): Promise<TxOutcome<T>> {
    for (;;) {
      const outcome = this.txOnce(task, fn);
      if (!('retryMs' in outcome)) return outcome;
      if (this.host.abandon) return { value: undefined, chained: undefined };
      await sleep(outcome.retryMs);
    }
  }

  /** Gives a task back to the queue (only under its fencing token), retrying while storage is busy. */
  async releaseLease(task: TaskRow): Promise<void> {
    const { o, id, storage } = this.host;
    for (;;) {
      try {
        o.store.releaseLease(task.id, id, task.lease_token);
        return;
      } catch (err) {
        if (!isTransientStorageError(err) || this.host.abandon) return; // the lease lapses on its own
        await sleep(storage.failed(err, { op: 'release', run_id: task.run_id }));
      }
    }
  }

  private txOnce<T>(task: TaskRow, fn: (rt: RunTx, run: RunRow) => T): TxOutcome<T> | Retry {
    const { o, id, storage } = this.host;
    let rt: RunTx | undefined;
    let value: T | undefined;
    let lease: 'held' | 'taken' | 'gone' = 'held';
    try {
      o.store.transaction(() => {
        // Fencing: this delivery commits only while its lease token is still the task's. A delivery that lost its
        // lease (its engine stalled and another engine claimed the task), or whose task was cancelled or finished by
        // another delivery, changes nothing.
        lease = o.store.taskLease(task.id, id, task.lease_token);
        if (lease !== 'held') return;
        const run = o.store.run(task.run_id);
        if (!run) {
          o.store.deleteTask(task.id);
          return;
        }
        rt = new RunTx(this.deps, run, task);
        value = fn(rt, run);
        rt.finish();
      });
    } catch (err) {
      this.deps.scopes.forget(task.run_id);
      this.deps.runCache.forget(task.run_id);
      if (isTransientStorageError(err)) {
        return { retryMs: storage.failed(err, { op: 'commit', run_id: task.run_id, step_id: task.step_id }) };
      }
      this.failRunOnBug(task, err);
      return { value: undefined, chained: undefined };
    }
    storage.ok();
    if (rt) {
      const u = rt.unit;
      this.deps.runCache.committed(rt.run.id, u.loadedSeq, rt.run.event_seq, { visits: u.visits, frames: u.createdFrames, maxFrameId: u.maxFrameId });
    }
    if (lease !== 'held') {
      const fields = { run_id: task.run_id, step_id: task.step_id, task: task.id, error_type: 'lease_lost' };
      if (lease === 'taken') o.logger.warn(fields, 'lease lost: this delivery is dropped without committing (another engine took the task over)');
      else o.logger.debug(fields, 'task gone (cancelled or finished elsewhere): this delivery is dropped without committing');
    }
    if (rt) this.publish(rt.events);
    return { value, chained: rt?.chained };
  }

  /** A bug must not leave a task crash-looping: the run fails with STN_E_INTERNAL and the error is logged. */
  private failRunOnBug(task: TaskRow, err: unknown): void {
    const { o } = this.host;
    o.logger.error({ err, run_id: task.run_id, step_id: task.step_id, error_type: 'internal' }, 'engine error');
    try {
      let rt: RunTx | undefined;
      o.store.transaction(() => {
        const run = o.store.run(task.run_id);
        if (!run || TERMINAL_RUN.has(run.status)) return;
        rt = new RunTx(this.deps, run, task);
        rt.finishRun('FAILED', { code: 'STN_E_INTERNAL', message: `internal error: ${(err as Error).message}` });
        rt.finish();
      });
      if (rt) this.publish(rt.events);
    } catch (again) {
      o.logger.error({ err: again, run_id: task.run_id }, 'could not record the internal error');
    }
  }

  private publish(events: RunEvent[]): void {
    for (const e of events) {
      this.host.o.events.emit(e);
      logEvent(this.host.o.logger, e);
    }
  }
}

/** One structured log line per run and step transition. */
function logEvent(logger: Logger, e: RunEvent): void {
  const d = e.data as Record<string, unknown>;
  const fields: Record<string, unknown> = { run_id: e.runId, event: e.type };
  if (e.stepId) fields.step_id = e.stepId;
  if (d.state !== undefined) fields.state = d.state;
  if (d.attempt !== undefined) fields.attempt = d.attempt;
  if (d.durationMs !== undefined) fields.duration_ms = d.durationMs;
  const error = d.error as { code?: string } | undefined;
  if (error?.code) fields.error_type = error.code;
  const level = e.type === 'step:failed' || e.type === 'run:failed' ? 'warn' : e.type.startsWith('run:') ? 'info' : 'debug';
  logger[level](fields, e.type);
}
