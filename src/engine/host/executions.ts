import type { JournalEntry } from '../../agents/types.js';
import type { ExecContext, ExecResult, Executor } from '../../executors/types.js';
import type { StepRow, TaskRow } from '../../store/runs.js';
import { isTransientStorageError } from '../../store/transient.js';
import { StallWatch } from '../lease.js';
import type { HostContext } from './options.js';

/** A step begun in its transaction, for its executor to run outside it. */
export interface Work {
  task: TaskRow;
  step: StepRow;
  executor: Executor;
  ctx: ExecContext;
  timeoutMs: number | undefined;
  /** The state's timeout as written (timeoutMs is what is left of it for this delivery). */
  timeoutSeconds: number | undefined;
  /** For a journaled executor: what earlier deliveries of this attempt committed to the step's journal. */
  journal: JournalEntry[] | undefined;
}

/** Why a running executor was aborted. */
type AbortReason = 'timeout' | 'lease' | 'cancelled' | 'shutdown';

interface Executing {
  runId: string;
  controller: AbortController;
  reason?: AbortReason;
  /** Renews the delivery's lease (or gives the delivery up when the lease was lost). */
  renew: () => void;
}

/**
 * The executors running now, one per step: their step timeouts, lease heartbeats, and the aborts of a cancel, a lost
 * lease or a shutdown. Also watches for this process stalling (its leases may have been taken over meanwhile).
 */
export class Executions {
  private readonly executing = new Map<string, Executing>();
  private readonly stall = new StallWatch();

  constructor(private readonly host: HostContext) {}

  get size(): number {
    return this.executing.size;
  }

  /** Runs an executor with its timeout, lease heartbeat and cancel/shutdown abort. undefined: aborted by shutdown. */
  async execute(work: Work): Promise<ExecResult | undefined> {
    const { o } = this.host;
    const controller = new AbortController();
    const entry: Executing = { runId: work.ctx.runId, controller, renew: () => this.renewLease(work, entry) };
    this.executing.set(work.step.id, entry);
    const timers: NodeJS.Timeout[] = [];
    if (work.timeoutMs !== undefined) {
      timers.push(setTimeout(() => this.abort(entry, 'timeout', 'step timeout'), work.timeoutMs));
    }
    timers.push(setInterval(entry.renew, this.host.renewMs));
    const started = Date.now();
    let result: ExecResult;
    try {
      result = await work.executor.run({ ...work.ctx, signal: controller.signal });
    } catch (err) {
      result = { kind: 'error', error: { code: 'STN_E_EXECUTOR', message: (err as Error).message ?? String(err) } };
    } finally {
      for (const t of timers) clearTimeout(t);
      this.executing.delete(work.step.id);
    }
    if (entry.reason === 'shutdown' || entry.reason === 'lease') return undefined;
    if (entry.reason === 'timeout') {
      result = stepTimedOut(work.step, work.timeoutSeconds ?? 0);
    }
    // Values the run's steps marked secret (::add-mask::); the daemon's own secrets are masked when it is applied.
    result = o.secrets.scrubResult(work.ctx.runId, result);
    o.logger.debug({ run_id: work.ctx.runId, step_id: work.step.id, attempt: work.ctx.attempt, duration_ms: Date.now() - started }, 'executor returned');
    return result;
  }

  /** Aborts every running executor: the engine shuts down (their deliveries are not committed). */
  abortAll(): void {
    for (const entry of this.executing.values()) this.abort(entry, 'shutdown', 'engine shutting down');
  }

  /** Starts measuring stalls from now (see checkStall). */
  resetStall(): void {
    this.stall.sample();
  }

  /** Woken after a stall: finds out which in-flight deliveries lost their lease before anything else happens. */
  checkStallIfLate(): void {
    if (this.stall.peek() > this.host.renewMs) this.checkStall();
  }

  /**
   * Measures how long this process did not run since the last check (monotonic clock). Longer than the lease renewal
   * period: the leases of every running delivery are checked (and renewed) now, so one that was taken over is given up
   * before anything else happens.
   */
  checkStall(): void {
    const { o, renewMs } = this.host;
    const gap = this.stall.sample();
    if (gap <= renewMs) return;
    const level = gap >= o.leaseMs / 2 ? 'warn' : 'debug';
    o.logger[level]({ stalled_ms: gap, lease_ms: o.leaseMs, running: this.executing.size }, 'engine was stalled; checking its leases');
    for (const entry of this.executing.values()) entry.renew();
  }

  /**
   * Aborts executors whose step was cancelled (by this or another process) or whose run ended; only those of run
   * `runId` when given (a task of that run was just handled: the other runs' steps are checked on the next tick).
   */
  watch(runId?: string): void {
    for (const [stepId, entry] of this.executing) {
      if (runId !== undefined && entry.runId !== runId) continue;
      let step: StepRow | undefined;
      try {
        step = this.host.o.store.step(stepId);
      } catch (err) {
        // Called from a timer: nothing may be thrown. The check runs again in 100 ms.
        if (!isTransientStorageError(err)) this.host.o.logger.error({ err, error_type: 'engine' }, 'checking running steps failed; retrying');
        return;
      }
      if (!step || step.status !== 'RUNNING') this.abort(entry, 'cancelled', 'step cancelled');
    }
  }

  private abort(entry: Executing, reason: AbortReason, message: string): void {
    entry.reason = reason;
    entry.controller.abort(new Error(message));
  }

  /**
   * Renews a running delivery's lease under its fencing token. Lost (another engine claimed the task after this one
   * stalled past the lease): the executor is aborted (its process killed) and its outcome will not be committed; the
   * new owner delivers the step again. Storage busy: the lease is kept as it is and renewed on the next tick.
   */
  private renewLease(work: Work, entry: Executing): void {
    if (entry.reason !== undefined) return;
    const { o, id, lease, storage } = this.host;
    let kept: boolean;
    try {
      kept = o.store.extendLease(work.task.id, id, work.task.lease_token, lease.now() + o.leaseMs);
    } catch (err) {
      // Called from a timer: an error thrown here would end the process. The lease is tried again at the next tick.
      if (isTransientStorageError(err)) storage.failed(err, { op: 'lease', run_id: work.ctx.runId, step_id: work.step.id });
      else o.logger.error({ err, run_id: work.ctx.runId, step_id: work.step.id, error_type: 'lease' }, 'renewing a lease failed; retrying');
      return;
    }
    if (kept) return;
    this.abort(entry, 'lease', 'lease lost');
    o.logger.warn(
      { run_id: work.ctx.runId, step_id: work.step.id, attempt: work.ctx.attempt, error_type: 'lease_lost' },
      'lease lost while the step ran (this engine stalled past engine.leaseSeconds): its work is stopped and not committed',
    );
  }
}

/** The outcome of an attempt that ran out of its state's timeoutSeconds. */
export function stepTimedOut(step: StepRow, seconds: number): ExecResult {
  return { kind: 'error', error: { code: 'STN_E_STEP_TIMEOUT', message: `state "${step.state_name}" timed out after ${seconds} s` } };
}
