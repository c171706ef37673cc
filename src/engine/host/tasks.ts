import type { JournalEntry } from '../../agents/types.js';
import { StepFailure } from '../../errors.js';
import { readTask, readTaskPayload } from '../../store/payloads.js';
import { TERMINAL_RUN, type RunRow, type TaskRow } from '../../store/runs.js';
import type { RunTx } from '../interpreter.js';
import type { Deliveries } from './delivery.js';
import type { Executions, Work } from './executions.js';
import type { HostContext } from './options.js';
import type { Pacer } from './pacing.js';
import type { Transactions } from './transactions.js';

/** How many chained tasks (each one commit or an executor run) one slot handles before going back to the queue. */
export const CHAIN_YIELD_TASKS = 16;

/** The handling of one claimed task of each kind, and of the tasks it chains. */
export class Tasks {
  constructor(
    private readonly host: HostContext,
    private readonly txs: Transactions,
    private readonly deliveries: Deliveries,
    private readonly executions: Executions,
    private readonly pacer: Pacer,
  ) {}

  /** Handles a task in an execution slot and whatever it chains (the next step of the same run, leased to this process directly). */
  async process(first: TaskRow): Promise<void> {
    let task: TaskRow | undefined = first;
    for (let handled = 0; task; handled++) {
      // A slot follows one run's chain for a while, then hands the chained task back to the queue, where older due
      // work (other runs, steps reclaimed after a crash) is claimed first: no run waits for another to finish.
      if (!this.host.running || handled >= CHAIN_YIELD_TASKS) {
        await this.txs.releaseLease(task);
        return;
      }
      task = await this.handle(task, false);
      await this.pacer.breathe();
    }
  }

  /**
   * Handles one task while this process holds it; returns the task it chains. `withoutSlot` (the control path): an
   * exec task is delivered only if its action is inline, with the inline steps it chains.
   */
  async handle(task: TaskRow, withoutSlot: boolean): Promise<TaskRow | undefined> {
    this.host.held.add(task.id);
    try {
      if (task.kind !== 'exec') return await this.control(task);
      return withoutSlot ? await this.execInline(task) : await this.exec(task);
    } finally {
      this.host.held.delete(task.id);
    }
  }

  /** Delivers an exec task if its action is inline, with the inline steps it chains; leaves the first other one. */
  private async execInline(task: TaskRow): Promise<TaskRow | undefined> {
    const outcome = await this.txs.tx(task, (rt, run) => {
      if (!this.deliveries.begin(rt, run, task, true)) this.deliveries.continueChain(rt, run, true);
    });
    return outcome.chained;
  }

  /** Delivers an operation step: begin (commit RUNNING), execute, complete (commit the outcome). */
  private async exec(task: TaskRow): Promise<TaskRow | undefined> {
    const { deliveries } = this;
    let current = await this.txs.tx(task, (rt, run) => deliveries.begin(rt, run, task) ?? deliveries.continueChain(rt, run));
    for (;;) {
      const work = current.value;
      if (!work) return current.chained;
      if (work.journal) work.ctx.journal = { entries: work.journal, append: (entry) => this.appendJournal(work, entry) };
      const result = await this.executions.execute(work);
      this.pacer.resumed();
      if (!result) {
        // Shutdown: delivered again on the next start. Lease lost: a no-op (the token is no longer ours).
        await this.txs.releaseLease(work.task);
        return undefined;
      }
      current = await this.txs.tx(work.task, (rt, run) => {
        // A cancel requested while the step ran is applied before its result: a run whose cancel was accepted
        // ends CANCELLED, never COMPLETED by a step that finished just before the cancel's own task was handled.
        if (run.cancel && !TERMINAL_RUN.has(run.status)) this.cancelFirst(rt, run);
        const step = rt.stepRow(work.step.id);
        if (step && step.status === 'RUNNING' && step.attempt === work.step.attempt) rt.complete(step, result);
        return deliveries.continueChain(rt, run);
      });
    }
  }

  /**
   * Commits one journal entry of a running step in its own transaction, under the delivery's lease. Refused (the
   * executor must stop) when the step is no longer this delivery's: cancelled, timed out, or taken over by another
   * engine after this one stalled.
   */
  private async appendJournal(work: Work, entry: JournalEntry): Promise<void> {
    const outcome = await this.txs.tx(work.task, (rt) => {
      rt.keepTask(); // the task stays this delivery's until its outcome is committed
      const step = rt.stepRow(work.step.id);
      if (!step || step.status !== 'RUNNING' || step.attempt !== work.step.attempt) return false;
      rt.journal(step, entry);
      return true;
    });
    if (outcome.value !== true) {
      throw new StepFailure('STN_E_ABORTED', `step ${work.step.id} is no longer this delivery's (cancelled, timed out or taken over): its journal is closed`, false);
    }
  }

  /** Applies a run's pending cancel task inside the current transaction (its payload says who and how). */
  private cancelFirst(rt: RunTx, run: RunRow): void {
    const task = rt.store.pendingCancel(run.id); // through the unit: its pending writes go first
    if (!task) return;
    const { compensate, by } = readTaskPayload({ kind: 'cancel', payload: task.payload });
    rt.cancel(compensate, by);
  }

  private async control(task: TaskRow): Promise<TaskRow | undefined> {
    const outcome = await this.txs.tx(task, (rt, run) => {
      // Inside the transaction: a payload this release cannot read fails the run (STN_E_STORED_PAYLOAD), loudly.
      const work = readTask(task);
      const step = task.step_id ? rt.stepRow(task.step_id) : undefined;
      switch (work.kind) {
        case 'start':
          if (run.status === 'PENDING') rt.start();
          break;
        case 'wake':
          if (!step) break;
          if (work.payload.reason === 'enter') rt.enterDeferred(step, work.payload.visits);
          else rt.wake(step, work.payload);
          break;
        case 'signal':
          if (!TERMINAL_RUN.has(run.status)) rt.deliverSignal(work.payload.signalId);
          break;
        case 'child': {
          const child = this.host.o.store.run(work.payload.childRunId);
          if (step && child) rt.childFinished(step, child);
          break;
        }
        case 'cancel':
          rt.cancel(work.payload.compensate, work.payload.by);
          break;
        case 'timeout':
          rt.timeout();
          break;
        case 'exec':
          break;
        default: {
          const never: never = work;
          throw new Error(`unknown task kind ${String(never)}`);
        }
      }
    });
    return outcome.chained;
  }
}
