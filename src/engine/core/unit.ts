import type { FrameRow, RunRow, StepRow, TaskKind, TaskRow } from '../../store/runs.js';
import { TERMINAL_RUN } from '../../store/runs.js';
import type { RunEvent, RunEventMap, RunEventType } from '../events.js';
import { stepId as makeStepId } from '../ids.js';
import { statusOfActiveSteps } from './status.js';
import type { InterpreterDeps } from './types.js';

/**
 * The unit of work of one transaction on one run: the rows it read (one live object per frame and step, so a change
 * made through one reference is seen by all and no stale copy is written back), the events it appends, the task it
 * handles (reused for the next task instead of a delete and an insert) and the task it chains. `commit()` writes
 * what is still pending (counters, the handled task, the run row). Events are handed out after the commit.
 */
export class UnitOfWork {
  readonly events: RunEvent[] = [];
  /** The next exec task due now, leased to this process in this transaction (saves a claim). */
  chained: TaskRow | undefined;
  /** The task being handled: reused for the next task instead of a delete and an insert. */
  private reusable: TaskRow | undefined;
  /** An operation step was scheduled in this transaction, so the run is RUNNING (no need to ask the store). */
  private runnableScheduled = false;
  private readonly frames = new Map<number, FrameRow>();
  private readonly steps = new Map<string, StepRow>();
  /**
   * Parallel and foreach steps whose counters (pending, next_index) changed: written once at commit. SQLite rewrites
   * a whole row to change one column, and a foreach row holds its item list, so writing it at every iteration made a
   * long foreach quadratic.
   */
  private readonly countersChanged = new Set<StepRow>();
  /** The parsed items of foreach steps: parsing the stored list at every iteration made a long foreach quadratic. */
  readonly itemsOf = new Map<string, unknown[]>();

  constructor(
    private readonly d: InterpreterDeps,
    readonly run: RunRow,
    readonly nowMs: number,
    readonly nowIso: string,
    task: TaskRow | undefined,
  ) {
    this.reusable = task;
  }

  event<T extends RunEventType>(type: T, stepId: string | null, data: RunEventMap[T]): void {
    const seq = ++this.run.event_seq;
    this.d.store.insertEvent(this.run.id, seq, type, stepId, JSON.stringify(data), this.nowIso);
    this.events.push({ runId: this.run.id, seq, type, stepId, data, at: this.nowIso });
  }

  /** Schedules a task; an exec task due now is leased to this process once per transaction (the chain). */
  schedule(kind: TaskKind, stepId: string | null, payload: unknown, runAt: number = this.nowMs): void {
    // A paused run starts nothing new: its task waits, unleased, for resume.
    const chain = kind === 'exec' && runAt <= this.nowMs && !this.chained && !this.run.paused;
    const owner = chain ? this.d.owner : null;
    const until = chain ? this.d.lease.now() + this.d.leaseMs : null;
    const boot = chain ? this.d.lease.boot : null;
    if (kind === 'exec') this.runnableScheduled = true;
    const body = payload === undefined ? null : JSON.stringify(payload);
    let id: number;
    let token = 0;
    if (this.reusable) {
      // The reused row gets a new fencing token, so the delivery that handled it before cannot touch it any more.
      id = this.reusable.id;
      token = this.reusable.lease_token + 1;
      this.d.store.reuseTask(id, kind, stepId, body, runAt, owner, until, boot);
      this.reusable = undefined;
    } else {
      id = this.d.store.insertTask(this.run.id, kind, stepId, body, runAt, owner, until, boot);
    }
    if (chain) {
      this.chained = {
        id, run_id: this.run.id, kind, step_id: stepId, payload: body, run_at: runAt,
        lease_owner: owner, lease_until: until, lease_token: token, lease_boot: boot,
      };
    }
  }

  /** A task of another run (a child's cancel, a parent's wake when this child ends), due now. */
  scheduleFor(runId: string, kind: TaskKind, stepId: string | null, payload: unknown): void {
    this.d.store.insertTask(runId, kind, stepId, JSON.stringify(payload), this.nowMs);
  }

  /** A deferred inline entry was scheduled: the run has work due now. */
  markRunnable(): void {
    this.runnableScheduled = true;
  }

  /** Takes the chained task in this same transaction: it becomes the handled task (reused for what comes next). */
  continueWith(task: TaskRow): void {
    this.chained = undefined;
    this.reusable = task;
    // The scheduled step is being taken now and may end up waiting: the run's status must be read, not assumed.
    this.runnableScheduled = false;
  }

  /** Keeps the handled task (leased) while its executor runs outside the transaction. */
  keepTask(): void {
    this.reusable = undefined;
  }

  /** Deletes the other tasks of a step (never the handled one, which may be reused). */
  dropStepTasks(stepId: string): void {
    this.d.store.deleteTasksOfStep(stepId, this.reusable?.id ?? -1);
  }

  /** Deletes the other tasks of the run (never the handled one, which may be reused). */
  dropRunTasks(): void {
    this.d.store.deleteTasksOfRun(this.run.id, this.reusable?.id ?? -1);
  }

  /** Frames are read once per transaction (only their status changes, and that is not read from this cache). */
  frame(id: number): FrameRow {
    let f = this.frames.get(id);
    if (!f) {
      f = this.d.store.frame(this.run.id, id);
      if (!f) throw new Error(`run ${this.run.id} has no frame ${id}`);
      this.frames.set(id, f);
    }
    return f;
  }

  /** Whether a scope still runs, read from the store (a scope may have failed or been cancelled since it was cached). */
  frameRunning(id: number): boolean {
    return this.d.store.frame(this.run.id, id)?.status === 'RUNNING';
  }

  /** A step row: the live object if this transaction has one, else read from the store (and kept). */
  step(id: string): StepRow | undefined {
    let step = this.steps.get(id);
    if (!step) {
      step = this.d.store.step(id);
      if (step) this.steps.set(id, step);
    }
    return step;
  }

  /** The last visit number of each (scope, state) this transaction created a step for. */
  private readonly visits = new Map<string, number>();

  /**
   * The n-th visit of a state in a scope (loops revisit it). Visits are numbered 1, 2, 3, ... without gaps, so the
   * first free one is found by probing ids by primary key, doubling then halving: a state revisited thousands of
   * times costs a few lookups, not one per earlier visit (almost always one lookup: visit 1 is free).
   */
  nextVisit(frame: FrameRow, stateName: string): number {
    const key = `${frame.id}\0${stateName}`;
    let visit = this.visits.get(key);
    if (visit !== undefined) visit++;
    else {
      const taken = (n: number) => this.d.store.stepExists(makeStepId(this.run.id, frame.path, stateName, n));
      let free = 1;
      if (taken(1)) {
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
        free = hi;
      }
      visit = free;
    }
    this.visits.set(key, visit);
    return visit;
  }

  /** A step created in this transaction: inserted, and its live object kept. */
  addStep(step: StepRow): void {
    this.d.store.insertStep(step);
    this.steps.set(step.id, step);
  }

  updateStep(step: StepRow): void {
    this.d.store.updateStep(step);
  }

  /** A parallel or foreach step's counters changed: written at commit. */
  countersOf(step: StepRow): void {
    this.countersChanged.add(step);
  }

  /** The run's active steps, as the live objects. */
  activeSteps(): StepRow[] {
    return this.d.store.activeSteps(this.run.id).map((s) => {
      const live = this.steps.get(s.id);
      if (live) return live;
      this.steps.set(s.id, s);
      return s;
    });
  }

  /** Ends the transaction's bookkeeping: the handled task goes unless reused, the run's status is brought up to date. */
  commit(): void {
    for (const step of this.countersChanged) this.d.store.updateStepCounters(step);
    if (this.reusable) this.d.store.deleteTask(this.reusable.id);
    this.reusable = undefined;
    if (!TERMINAL_RUN.has(this.run.status)) this.run.status = this.liveStatus();
    this.run.updated_at = this.nowIso;
    this.d.store.updateRun(this.run);
  }

  private liveStatus(): RunRow['status'] {
    if (this.run.paused) return 'PAUSED';
    if (this.run.status === 'PENDING' && !this.run.started_at) return 'PENDING';
    if (this.runnableScheduled) return 'RUNNING';
    return statusOfActiveSteps(this.d.store.activeStatuses(this.run.id));
  }
}
