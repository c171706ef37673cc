import type { State, WorkflowSpec } from '../../definitions/types.js';
import type { ExecError, ExecResult, WaitSpec } from '../../executors/types.js';
import type { FrameRow, RunRow, RunStore, StepRow, StepStatus, TaskRow } from '../../store/runs.js';
import type { RunEvent, RunEventMap, RunEventType } from '../events.js';
import type { ScopeDef } from '../spec-index.js';
import { Cascade } from './cascade.js';
import { compensationDone } from './compensation.js';
import { beginDelivery, complete, failAttempt, operationOf, renderInput, type OperationOf, type RenderedInput } from './delivery.js';
import { cancelRun, finishRun, runFailed, startRun, timeoutRun, type FinalStatus } from './finish.js';
import { after, childFrame, frameDone, frameFailed, releaseWait } from './frames.js';
import { newStep, settle, startCompound, succeed } from './steps.js';
import type { JournalEntry } from '../../agents/types.js';
import type { WakePayload } from '../../model/run.js';
import { jsonColumn } from '../../store/run-rows.js';
import type { ApprovalHooks, InterpreterDeps, Obj, StepError, StoredWait } from './types.js';
import { UnitOfWork } from './unit.js';
import { Variables } from './variables.js';
import { childFinished } from './waits/child.js';
import { suspend, wake } from './waits/index.js';
import { deliverSignal } from './waits/signal.js';

/**
 * One transaction's worth of work on one run: every state transition (docs/runs.md) goes through here,
 * synchronously inside one store transaction. The host calls the public entry points (start, wake, deliverSignal,
 * childFinished, cancel, timeout, beginDelivery/renderInput/complete); the handlers (states/, waits/, delivery,
 * frames, compensation, finish) reach each other through this object, and the rows through its unit of work.
 */
export class RunTx {
  readonly spec: WorkflowSpec;
  readonly nowMs: number;
  readonly nowIso: string;
  readonly unit: UnitOfWork;
  readonly vars: Variables;
  readonly cascade: Cascade;
  private readonly scopeDefs: Map<string, ScopeDef>;

  constructor(
    readonly d: InterpreterDeps,
    readonly run: RunRow,
    task?: TaskRow,
  ) {
    const loaded = d.spec(run);
    this.spec = loaded.spec;
    this.scopeDefs = loaded.scopes;
    this.nowMs = d.now();
    this.nowIso = new Date(this.nowMs).toISOString();
    this.unit = new UnitOfWork(d, run, this.nowMs, this.nowIso, task);
    this.vars = new Variables(d, run, this.unit, this.spec.compat === 'station');
    this.cascade = new Cascade(this);
  }

  // ---------------------------------------------------------------- the host's entry points

  /** Events appended in this transaction, handed out after the commit. */
  get events(): RunEvent[] {
    return this.unit.events;
  }

  /** The exec task due now that this transaction leased to this process, if any. */
  get chained(): TaskRow | undefined {
    return this.unit.chained;
  }

  event<T extends RunEventType>(type: T, stepId: string | null, data: RunEventMap[T]): void {
    this.unit.event(type, stepId, data);
  }

  continueWith(task: TaskRow): void {
    this.unit.continueWith(task);
  }

  keepTask(): void {
    this.unit.keepTask();
  }

  /** Ends the transaction's work and hands its batch of writes to the store (inside the store's transaction). */
  finish(): void {
    this.d.store.commitBatch(this.unit.commit());
  }

  stepRow(id: string): StepRow | undefined {
    return this.unit.step(id);
  }

  start(): void {
    startRun(this);
  }

  enterDeferred(step: StepRow, visits: Record<string, number>): void {
    this.cascade.resume(step, visits);
  }

  wake(step: StepRow, w: WakePayload): void {
    wake(this, step, w);
  }

  deliverSignal(signalId: number): void {
    deliverSignal(this, signalId);
  }

  childFinished(step: StepRow, child: RunRow): void {
    childFinished(this, step, child);
  }

  cancel(compensate: boolean, by: string | null): void {
    cancelRun(this, compensate, by);
  }

  timeout(): void {
    timeoutRun(this);
  }

  finishRun(status: FinalStatus, error?: StepError): void;
  finishRun(status: FinalStatus, opts: { error?: StepError; by?: string | null }): void;
  finishRun(status: FinalStatus, arg?: StepError | { error?: StepError; by?: string | null }): void {
    const opts = arg === undefined ? {} : 'code' in arg ? { error: arg } : arg;
    finishRun(this, status, opts);
  }

  /** Commits one entry of a running step's journal (an agent's model turn or tool call), secrets and run masks masked. */
  journal(step: StepRow, entry: JournalEntry): void {
    const data = this.d.secrets.scrub(this.d.secrets.scrubRun(this.run.id, entry));
    // The agent as the step named it (its stored input), so the transcript and the metrics need no other lookup.
    const agent = jsonColumn<{ agent?: unknown }>(step.input)?.agent;
    const head = { attempt: step.attempt, agent: typeof agent === 'string' ? agent : null };
    if (data.kind === 'turn') this.unit.event('agent:turn', step.id, { ...head, ...data });
    else this.unit.event('agent:tool', step.id, { ...head, ...data });
  }

  beginDelivery(step: StepRow): void {
    beginDelivery(this, step);
  }

  operationOf(step: StepRow): OperationOf {
    return operationOf(this, step);
  }

  renderInput(step: StepRow): RenderedInput {
    return renderInput(this, step);
  }

  complete(step: StepRow, result: ExecResult): void {
    complete(this, step, result);
  }

  // ---------------------------------------------------------------- what the handlers reach each other through

  /** The store, for what the unit of work does not keep: its pending writes go first, so reads see them. */
  get store(): RunStore {
    this.unit.flush();
    return this.d.store;
  }

  /** The approval service (it reads and writes the run's rows too: pending writes go first). */
  get approvals(): ApprovalHooks | undefined {
    this.unit.flush();
    return this.d.approvals;
  }

  /** Creates a child run (workflow.run) in this transaction. */
  createChildRun(step: StepRow, wait: Extract<WaitSpec, { type: 'child' }>): string {
    this.unit.flush();
    return this.d.createChildRun(this.run, step, wait);
  }

  scopeOf(frame: FrameRow): ScopeDef {
    const s = this.scopeDefs.get(frame.def_path);
    if (!s) throw new Error(`definition has no scope "${frame.def_path}"`);
    return s;
  }

  stateOf(step: StepRow): State {
    const state = this.scopeOf(this.unit.frame(step.frame_id)).byName.get(step.state_name);
    if (!state) throw new Error(`definition has no state "${step.state_name}"`);
    return state;
  }

  enterState(frame: FrameRow, name: string): void {
    this.cascade.enter(frame, name);
  }

  newStep(frame: FrameRow, state: State): StepRow {
    return newStep(this, frame, state);
  }

  settle(step: StepRow, status: StepStatus, fields?: { output?: unknown; error?: unknown }): void {
    settle(this, step, status, fields);
  }

  succeed(step: StepRow, output: unknown): void {
    succeed(this, step, output);
  }

  startCompound(step: StepRow): void {
    startCompound(this, step);
  }

  after(frame: FrameRow, state: State): void {
    after(this, frame, state);
  }

  childFrame(parent: FrameRow, owner: StepRow, key: string, defChild: string, pathPart: string, vars: Obj | null): FrameRow {
    return childFrame(this, parent, owner, key, defChild, pathPart, vars);
  }

  frameDone(frame: FrameRow): void {
    frameDone(this, frame);
  }

  frameFailed(frame: FrameRow, error: StepError): void {
    frameFailed(this, frame, error);
  }

  runFailed(error: StepError): void {
    runFailed(this, error);
  }

  /** A wait ended early by its step's own timeout: its child run is cancelled (not rolled back), its approval closed. */
  releaseWait(wait: StoredWait): void {
    releaseWait(this, wait, false);
  }

  failAttempt(step: StepRow, err: ExecError): void {
    failAttempt(this, step, err);
  }

  suspend(step: StepRow, wait: WaitSpec): void {
    suspend(this, step, wait);
  }

  compensationDone(step: StepRow): void {
    compensationDone(this, step);
  }
}
