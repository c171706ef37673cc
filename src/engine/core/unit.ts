import type { TaskKind, TaskPayloads } from '../../model/run.js';
import { writeTaskPayload } from '../../store/payloads.js';
import type { FrameRow, RunRow, StepRow, TaskRow } from '../../store/runs.js';
import { TERMINAL_RUN } from '../../store/runs.js';
import type { EventInsert, PatchInsert, RunWriteBatch, TaskReuse } from '../../store/run-batch.js';
import type { RunEvent, RunEventMap, RunEventType } from '../events.js';
import { appendRunEvent } from '../append-event.js';
import { stepId as makeStepId } from '../ids.js';
import { statusOfActiveSteps } from './status.js';
import type { InterpreterDeps } from './types.js';

/**
 * The unit of work of one transaction on one run: the rows it read (one live object per frame and step, so a change
 * made through one reference is seen by all and no stale copy is written back), the task it handles (reused for the
 * next task instead of a delete and an insert) and the task it chains. Frames, steps, events and context patches
 * created or changed, and the rewrite of the reused task row, are kept in memory and handed to the store as one batch
 * (`commit()`); a read of the store that may depend on them flushes them first (`flush()`), so reads always see this
 * transaction's own writes. Events are handed out after the commit.
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
  /** Writes decided but not yet handed to the store. */
  private pendingFrames: FrameRow[] = [];
  private pendingFrameStatuses: Array<{ id: number; status: string }> = [];
  private readonly newSteps = new Set<StepRow>();
  private readonly changedSteps = new Set<StepRow>();
  private pendingEvents: EventInsert[] = [];
  private pendingPatches: PatchInsert[] = [];
  /**
   * The handled task row turned into the next task (saves a delete and an insert): a chain reuses the same row for
   * each of its steps, so it is written once, at the next flush, however many times it was reused.
   */
  private pendingTask: TaskReuse | undefined;
  /** The parsed items of foreach steps: parsing the stored list at every iteration made a long foreach quadratic. */
  readonly itemsOf = new Map<string, unknown[]>();
  /** The step that succeeded last in each frame in this transaction (see previous.ts); older ones are in the store. */
  readonly lastSucceeded = new Map<number, StepRow>();

  /** The run's event number when this transaction loaded it (what the engine's RunCache entries are valid for). */
  readonly loadedSeq: number;

  constructor(
    private readonly d: InterpreterDeps,
    readonly run: RunRow,
    readonly nowMs: number,
    readonly nowIso: string,
    task: TaskRow | undefined,
  ) {
    this.reusable = task;
    this.loadedSeq = run.event_seq;
  }

  event<T extends RunEventType>(type: T, stepId: string | null, data: RunEventMap[T]): void {
    this.events.push(appendRunEvent((_, row) => this.pendingEvents.push(row), this.run, type, stepId, data, this.nowIso));
  }

  /** Appends a context patch (a bound function: the scopes hand their patch rows here). */
  readonly patch = (p: PatchInsert): void => {
    this.pendingPatches.push(p);
  };

  /** Schedules a task; an exec task due now is leased to this process once per transaction (the chain). */
  schedule<K extends TaskKind>(kind: K, stepId: string | null, payload: TaskPayloads[K], runAt: number = this.nowMs): void {
    // A paused run starts nothing new: its task waits, unleased, for resume.
    const chain = kind === 'exec' && runAt <= this.nowMs && !this.chained && !this.run.paused;
    const owner = chain ? this.d.owner : null;
    const until = chain ? this.d.lease.now() + this.d.leaseMs : null;
    const boot = chain ? this.d.lease.boot : null;
    if (kind === 'exec') this.runnableScheduled = true;
    let id: number;
    let token = 0;
    if (this.reusable) {
      // The reused row gets a new fencing token, so the delivery that handled it before cannot touch it any more.
      id = this.reusable.id;
      token = this.reusable.lease_token + 1;
      this.reuse(id, kind, stepId, writeTaskPayload(kind, payload), runAt, owner, until, boot);
      this.reusable = undefined;
    } else {
      id = this.d.store.insertTask(this.run.id, kind, stepId, payload, runAt, owner, until, boot);
    }
    if (chain) {
      // Only exec tasks chain, and they carry no payload.
      this.chained = {
        id, run_id: this.run.id, kind, step_id: stepId, payload: null, run_at: runAt,
        lease_owner: owner, lease_until: until, lease_token: token, lease_boot: boot,
      };
    }
  }

  private reuse(id: number, kind: TaskKind, stepId: string | null, body: string | null, runAt: number,
    owner: string | null, until: number | null, boot: string | null): void {
    const prev = this.pendingTask;
    if (prev && prev.id !== id) this.flush();
    const bumps = prev?.id === id ? prev.bumps + 1 : 1;
    const due = prev?.id === id ? Math.max(prev.run_at, runAt) : runAt;
    this.pendingTask = { id, kind, step_id: stepId, payload: body, run_at: due, lease_owner: owner, lease_until: until, lease_boot: boot, bumps };
  }

  /** A task of another run (a child's cancel, a parent's wake when this child ends), due now. */
  scheduleFor<K extends TaskKind>(runId: string, kind: K, stepId: string | null, payload: TaskPayloads[K]): void {
    this.d.store.insertTask(runId, kind, stepId, payload, this.nowMs);
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
    this.flush(); // a reused row's pending rewrite may change which step it belongs to
    this.d.store.deleteTasksOfStep(stepId, this.reusable?.id ?? -1);
  }

  /** Deletes the other tasks of the run (never the handled one, which may be reused). */
  dropRunTasks(): void {
    this.flush();
    this.d.store.deleteTasksOfRun(this.run.id, this.reusable?.id ?? -1);
  }

  /** Frames are read once per transaction; a status set through this unit changes the live object too. */
  frame(id: number): FrameRow {
    let f = this.frames.get(id);
    if (!f) {
      f = this.d.store.frame(this.run.id, id);
      if (!f) throw new Error(`run ${this.run.id} has no frame ${id}`);
      this.frames.set(id, f);
    }
    return f;
  }

  /** Whether a scope still runs (it may have failed or been cancelled earlier in this transaction: the live object says). */
  frameRunning(id: number): boolean {
    const f = this.frames.get(id) ?? this.d.store.frame(this.run.id, id);
    if (f) this.frames.set(id, f);
    return f?.status === 'RUNNING';
  }

  /** The highest frame id of the run (known to the engine's RunCache); frames are created only through units. */
  maxFrameId: number | undefined;

  nextFrameId(): number {
    this.maxFrameId = (this.maxFrameId ?? this.d.runCache.maxFrameId(this.run, this.loadedSeq)) + 1;
    return this.maxFrameId;
  }

  /** The scopes this transaction created (no step of theirs exists before it). */
  readonly createdFrames = new Set<number>();

  /** A scope created in this transaction (its live row is kept). */
  addFrame(frame: FrameRow): void {
    this.createdFrames.add(frame.id);
    this.pendingFrames.push(frame);
    this.frames.set(frame.id, frame);
    this.maxFrameId = Math.max(this.maxFrameId ?? -1, frame.id);
  }

  setFrameStatus(id: number, status: string): void {
    const live = this.frames.get(id);
    if (live) live.status = status;
    const created = this.pendingFrames.find((f) => f.id === id);
    if (created) created.status = status;
    else this.pendingFrameStatuses.push({ id, status });
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
  readonly visits = new Map<string, number>();

  /**
   * The n-th visit of a state in a scope (loops revisit it): visits are numbered 1, 2, 3, ... without gaps. The last
   * one comes from this transaction, else from the engine's RunCache (one query per run, not one per step).
   */
  nextVisit(frame: FrameRow, stateName: string): number {
    const key = `${frame.id}\0${stateName}`;
    const last =
      this.visits.get(key) ??
      (this.createdFrames.has(frame.id)
        ? 0
        : this.d.runCache.lastVisit(this.run, this.loadedSeq, frame.id, stateName, (n) => this.d.store.stepExists(this.stepId(frame, stateName, n))));
    const visit = last + 1;
    this.visits.set(key, visit);
    return visit;
  }

  /** The last step id computed: nextVisit probes the id that the new step then takes (hashed once, not twice). */
  private lastStepId = { frame: '', state: '', visit: 0, id: '' };

  /** The deterministic id of a state's visit in a scope. */
  stepId(frame: FrameRow, stateName: string, visit: number): string {
    const last = this.lastStepId;
    if (last.visit === visit && last.state === stateName && last.frame === frame.path) return last.id;
    const id = makeStepId(this.run.id, frame.path, stateName, visit);
    this.lastStepId = { frame: frame.path, state: stateName, visit, id };
    return id;
  }

  /** A step created in this transaction: inserted, and its live object kept. */
  addStep(step: StepRow): void {
    this.newSteps.add(step);
    this.steps.set(step.id, step);
  }

  /** A step's row changed: written once, at the next flush (a step created since is inserted as it is then). */
  updateStep(step: StepRow): void {
    if (!this.newSteps.has(step)) this.changedSteps.add(step);
  }

  /** A parallel or foreach step's counters changed: written at commit. */
  countersOf(step: StepRow): void {
    this.countersChanged.add(step);
  }

  /** The run's active steps, as the live objects. */
  activeSteps(): StepRow[] {
    this.flush();
    return this.d.store.activeSteps(this.run.id).map((s) => this.live(s));
  }

  /** The live object of a step row read from the store (kept if this transaction had none). */
  live(row: StepRow): StepRow {
    const live = this.steps.get(row.id);
    if (live) return live;
    this.steps.set(row.id, row);
    return row;
  }

  /** Hands the pending frames, steps and events to the store (before a read that may depend on them). */
  flush(): void {
    const pending = this.pendingFrames.length + this.pendingFrameStatuses.length + this.newSteps.size + this.changedSteps.size + this.pendingEvents.length +
      this.pendingPatches.length;
    if (pending === 0 && !this.pendingTask) return;
    this.d.store.batch.flush(this.take());
  }

  private take(): Pick<RunWriteBatch, 'runId' | 'frames' | 'frameStatuses' | 'newSteps' | 'changedSteps' | 'events' | 'patches' | 'task'> {
    const out = {
      runId: this.run.id,
      frames: this.pendingFrames,
      frameStatuses: this.pendingFrameStatuses,
      newSteps: [...this.newSteps],
      changedSteps: [...this.changedSteps],
      events: this.pendingEvents,
      patches: this.pendingPatches,
      task: this.pendingTask,
    };
    this.pendingPatches = [];
    this.pendingTask = undefined;
    this.pendingFrames = [];
    this.pendingFrameStatuses = [];
    this.newSteps.clear();
    this.changedSteps.clear();
    this.pendingEvents = [];
    return out;
  }

  /**
   * Ends the transaction's work: the handled task goes unless reused, the run's status is brought up to date, and
   * what is still pending comes back as one batch for the store to commit.
   */
  commit(): RunWriteBatch {
    // The status of a run with no step due is read from its steps' statuses, which must be written first.
    const live = TERMINAL_RUN.has(this.run.status) ? undefined : this.liveStatus();
    // A step whose whole row is written anyway needs no separate counters update.
    const counters = [...this.countersChanged].filter((s) => !this.newSteps.has(s) && !this.changedSteps.has(s));
    const rest = this.take();
    const deleteTask = this.reusable ? this.reusable.id : null;
    this.reusable = undefined;
    if (live) this.run.status = live;
    this.run.updated_at = this.nowIso;
    return { ...rest, counters, deleteTask, run: this.run };
  }

  private liveStatus(): RunRow['status'] {
    if (this.run.paused) return 'PAUSED';
    if (this.run.status === 'PENDING' && !this.run.started_at) return 'PENDING';
    if (this.runnableScheduled) return 'RUNNING';
    this.flush();
    return statusOfActiveSteps(this.d.store.activeStatuses(this.run.id));
  }
}
