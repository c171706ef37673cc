import type { JsonValue, OperationState, ForeachState, State, WorkflowSpec } from '../definitions/types.js';
import { ExpressionError, Meter, compileExpression, renderTemplate } from '../expressions/index.js';
import type { ApprovalRequest } from '../approvals/types.js';
import type { ExecError, ExecResult, WaitSpec } from '../executors/types.js';
import type { RunStore, RunRow, StepRow, StepStatus, FrameRow, TaskRow, TaskKind } from '../store/runs.js';
import { TERMINAL_RUN, TERMINAL_STEP } from '../store/runs.js';
import { runEvent, type RunEvent, type RunEventMap, type RunEventType, type StepError } from './events.js';
import { stepId as makeStepId } from './ids.js';
import { reservedContextPaths } from '../definitions/context-paths.js';
import { ContextPathError, getPath, overlay, pathSegments } from './paths.js';
import type { Scopes } from './scopes.js';
import type { JsonCache } from './json-cache.js';
import type { Secrets } from './secrets.js';
import { childDefPath, type ScopeDef } from './spec-index.js';
import type { LoadedSpec } from './specs.js';
import type { LeaseClock } from './lease.js';

/** What the interpreter needs from the engine around it. */
export interface InterpreterDeps {
  store: RunStore;
  scopes: Scopes;
  secrets: Secrets;
  now(): number;
  random(): number;
  /** Loads the pinned definition of a run (cached). */
  spec(run: RunRow): LoadedSpec;
  /** Creates a child run inside the current transaction (workflow.run); returns its id or throws ExecError-like. */
  createChildRun(parent: RunRow, step: StepRow, wait: Extract<WaitSpec, { type: 'child' }>): string;
  /** human.approval: records and decides approvals inside the current transaction (absent: approvals unavailable). */
  approvals?: ApprovalHooks | undefined;
  /** The lease holder of this engine process: chained tasks are leased to it directly. */
  owner: string;
  leaseMs: number;
  /** The lease clock (monotonic, shared by the processes of one boot; see lease.ts). */
  lease: LeaseClock;
  /** Parsed large JSON columns, kept across transactions. */
  json: JsonCache;
}

export type { StepError };

type Obj = Record<string, unknown>;

/**
 * One transaction's worth of work on one run: every state transition of DESIGN §3.1 and §5 happens here, against the
 * store, synchronously inside a SQLite transaction. Events are collected and handed out after the commit; the next
 * due exec task may be leased to this process directly (`chained`), saving a claim.
 */
export class RunTx {
  readonly events: RunEvent[] = [];
  chained: TaskRow | undefined;
  private readonly spec: WorkflowSpec;
  private readonly scopeDefs: Map<string, ScopeDef>;
  private readonly nowMs: number;
  private readonly nowIso: string;
  /** The task being handled: reused for the next task instead of a delete and an insert. */
  private reusable: TaskRow | undefined;
  /** An operation step was scheduled in this transaction, so the run is RUNNING (no need to ask the store). */
  private runnableScheduled = false;

  constructor(
    private readonly d: InterpreterDeps,
    readonly run: RunRow,
    task?: TaskRow,
  ) {
    const loaded = d.spec(run);
    this.spec = loaded.spec;
    this.scopeDefs = loaded.scopes;
    this.nowMs = d.now();
    this.nowIso = new Date(this.nowMs).toISOString();
    this.reusable = task;
  }

  // ---------------------------------------------------------------- events, tasks, run row

  event<T extends RunEventType>(type: T, stepId: string | null, data: RunEventMap[T]): void {
    const seq = ++this.run.event_seq;
    this.d.store.insertEvent(this.run.id, seq, type, stepId, JSON.stringify(data), this.nowIso);
    this.events.push(runEvent({ runId: this.run.id, seq, type, stepId, data, at: this.nowIso }));
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

  /** Ends the transaction's bookkeeping: the handled task goes unless reused, the run's status is brought up to date. */
  finish(): void {
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

  // ---------------------------------------------------------------- context

  /** Frames are read once per transaction (only their status changes, and that is not read from this cache). */
  private readonly frames = new Map<number, FrameRow>();

  private frame(id: number): FrameRow {
    let f = this.frames.get(id);
    if (!f) {
      f = this.d.store.frame(this.run.id, id);
      if (!f) throw new Error(`run ${this.run.id} has no frame ${id}`);
      this.frames.set(id, f);
    }
    return f;
  }

  /** What expressions in a scope see: the context through every enclosing scope, plus the run's variables. */
  variables(frame: FrameRow, extra: Obj = {}, redacted = false): Obj {
    const chain: FrameRow[] = [];
    for (let f: FrameRow | undefined = frame; f; f = f.parent_id === null ? undefined : this.frame(f.parent_id)) chain.unshift(f);
    let view: unknown = {};
    const loopVars: Obj = {};
    for (const f of chain) {
      view = overlay(view, this.d.scopes.scope(this.run, f.id));
      if (f.vars) Object.assign(loopVars, JSON.parse(f.vars) as Obj);
    }
    const ctx = view as Obj;
    this.runVars ??= {
      input: this.d.json.parse(`${this.run.id}\0input`, this.run.input),
      run: {
        id: this.run.id,
        workflowId: this.run.workflow_id,
        version: this.run.version,
        environment: this.run.environment,
        trigger: JSON.parse(this.run.trigger) as unknown,
        startedAt: this.run.started_at ?? this.nowIso,
      },
      vars: this.run.vars ? (JSON.parse(this.run.vars) as unknown) : {},
    };
    return {
      ...ctx,
      ...loopVars,
      ctx,
      ...this.runVars,
      secrets: redacted ? this.d.secrets.redacted : this.d.secrets.values,
      ...extra,
    };
  }

  /** `input`, `run` and `vars` of the expression variables, parsed once per transaction. */
  private runVars: Obj | undefined;

  /**
   * Reads `dataPath`/`itemsPath`: a context path, where the run's other variables are reachable too
   * (`input.hosts`, `vars.targets`, `item.children` inside a foreach).
   */
  private readPath(frame: FrameRow, path: string): unknown {
    return getPath(this.variables(frame), pathSegments(path));
  }

  private write(frameId: number, path: string | undefined, value: unknown, fallback: string): void {
    const segments = pathSegments(path ?? fallback);
    this.run.patch_seq++;
    this.d.scopes.write(this.run, frameId, segments, 'set', value);
  }

  private merge(frameId: number, value: unknown): void {
    this.run.patch_seq++;
    this.d.scopes.write(this.run, frameId, [], 'merge', value);
  }

  // ---------------------------------------------------------------- start and states

  start(): void {
    this.run.status = 'RUNNING';
    this.run.started_at = this.nowIso;
    this.event('run:started', null, {});
    // A version stored before context paths were checked may still name __proto__ & co.: it never runs.
    const reserved = reservedContextPaths(this.spec)[0];
    if (reserved) {
      this.runFailed({ code: 'STN_E_CONTEXT_PATH', message: `state "${reserved.state}" ${reserved.field} "${reserved.value}" uses the reserved key "${reserved.key}"`, state: reserved.state });
      return;
    }
    if (this.spec.timeoutSeconds) this.schedule('timeout', null, undefined, this.nowMs + this.spec.timeoutSeconds * 1000);
    const root = this.frame(0);
    this.enterState(root, this.scopeOf(root).start);
  }

  private scopeOf(frame: FrameRow): ScopeDef {
    const s = this.scopeDefs.get(frame.def_path);
    if (!s) throw new Error(`definition has no scope "${frame.def_path}"`);
    return s;
  }

  private stateOf(step: StepRow): State {
    const state = this.scopeOf(this.frame(step.frame_id)).byName.get(step.state_name);
    if (!state) throw new Error(`definition has no state "${step.state_name}"`);
    return state;
  }

  private newStep(frame: FrameRow, state: State, extra?: Partial<StepRow>): StepRow {
    const visit = this.nextVisit(frame, state.name);
    const id = makeStepId(this.run.id, frame.path, state.name, visit);
    // One object literal of a fixed shape (no spreads): it is the step's live row for the rest of the transaction.
    const step: StepRow = {
      id,
      run_id: this.run.id,
      seq: this.run.event_seq + 1,
      frame_id: frame.id,
      state_name: state.name,
      path: `${frame.path}${state.name}${visit > 1 ? `#${visit}` : ''}`,
      visit,
      type: state.type,
      action: state.type === 'operation' ? state.action : null,
      status: 'PENDING',
      attempt: 1,
      deliveries: 0,
      input: null,
      output: null,
      error: null,
      wait: null,
      items: null,
      pending: null,
      next_index: null,
      compensation_of: null,
      completed_seq: null,
      created_at: this.nowIso,
      started_at: null,
      attempt_started_ms: null,
      finished_at: null,
      duration_ms: null,
    };
    if (extra) Object.assign(step, extra);
    this.d.store.insertStep(step);
    this.event('state:entered', id, { state: state.name, path: step.path, type: state.type });
    this.stepRows.set(id, step);
    return step;
  }

  /** The last visit number of each (scope, state) this transaction created a step for. */
  private readonly visits = new Map<string, number>();

  /**
   * The n-th visit of a state in a scope (loops revisit it). Visits are numbered 1, 2, 3, ... without gaps, so the
   * first free one is found by probing ids by primary key, doubling then halving: a state revisited thousands of
   * times costs a few lookups, not one per earlier visit (almost always one lookup: visit 1 is free).
   */
  private nextVisit(frame: FrameRow, stateName: string): number {
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

  /**
   * Every step row this transaction created or read, one live object per step that every later change in it goes
   * through: a step cancelled or failed through one reference is seen so by all (a loop starting branches, a chained
   * delivery), and no stale copy is written back over it.
   */
  private readonly stepRows = new Map<string, StepRow>();

  /** A step row: the live object if this transaction has one, else read from the store (and kept). */
  stepRow(id: string): StepRow | undefined {
    let step = this.stepRows.get(id);
    if (!step) {
      step = this.d.store.step(id);
      if (step) this.stepRows.set(id, step);
    }
    return step;
  }

  /** The run's active steps, as the live objects. */
  private activeSteps(): StepRow[] {
    return this.d.store.activeSteps(this.run.id).map((s) => {
      const live = this.stepRows.get(s.id);
      if (live) return live;
      this.stepRows.set(s.id, s);
      return s;
    });
  }

  /**
   * Enters a state. Inline states (switch, inject, the start of a parallel or foreach) enter the next one at once;
   * past a depth the entry is queued for the outermost call, so a long inline cascade (a foreach of thousands of
   * inject-only iterations) cannot overflow the stack. A cascade that enters one state of one scope over and over is
   * stopped (STN_E_INLINE_LIMIT), so an endless switch loop fails its run instead of holding the database forever.
   */
  enterState(frame: FrameRow, name: string, resumed?: { step: StepRow; visits: Record<string, number> }): void {
    if (this.depth >= MAX_INLINE_DEPTH) {
      this.deferred.push({ frame, name });
      return;
    }
    if (this.depth === 0 && !this.draining) {
      this.cascade.clear();
      // A cascade continued in a new transaction keeps its counts in that scope, so an endless loop is still caught.
      for (const [state, n] of Object.entries(resumed?.visits ?? {})) this.cascade.set(`${frame.id}\0${state}`, n);
    }
    this.enterNested(frame, name, resumed?.step);
    if (this.depth > 0 || this.draining) return;
    this.draining = true;
    try {
      for (let next = this.deferred.shift(); next; next = this.deferred.shift()) {
        // A queued entry into a scope that has since failed or been cancelled (or a run that ended) is dropped.
        if (TERMINAL_RUN.has(this.run.status) || this.run.phase === 'compensating') continue;
        if (this.d.store.frame(this.run.id, next.frame.id)?.status !== 'RUNNING') continue;
        this.enterNested(next.frame, next.name);
      }
    } finally {
      this.draining = false;
      this.deferred.length = 0;
    }
  }

  private depth = 0;
  private draining = false;
  /** How often each (scope, state) was entered in the current cascade. */
  private readonly cascade = new Map<string, number>();
  private readonly deferred: Array<{ frame: FrameRow; name: string }> = [];

  /** Inline states (switch, inject, parallel, foreach) entered in this transaction, and when it began. */
  private inlineEntries = 0;
  private readonly beganAt = performance.now();

  /**
   * Whether this transaction has done its share of inline work (INLINE_BUDGET_STATES states or INLINE_BUDGET_MS):
   * one transaction holds SQLite's write lock and the event loop, so a long cascade (a foreach of thousands of inject
   * iterations) goes on in further transactions instead, each a queued task, with other work and other processes in
   * between.
   */
  private inlineBudgetSpent(): boolean {
    return ++this.inlineEntries > INLINE_BUDGET_STATES || performance.now() - this.beganAt > INLINE_BUDGET_MS;
  }

  /**
   * Leaves an inline state for a later transaction: its step stays PENDING and a `wake` task (reason `enter`) due
   * now enters it, carrying the cascade's counts in that scope for STN_E_INLINE_LIMIT.
   */
  private deferEntry(frame: FrameRow, step: StepRow): void {
    const prefix = `${frame.id}\0`;
    const visits: Record<string, number> = {};
    for (const [key, n] of this.cascade) if (key.startsWith(prefix)) visits[key.slice(prefix.length)] = n;
    this.schedule('wake', step.id, { reason: 'enter', visits });
    this.runnableScheduled = true;
  }

  /** A deferred inline state's turn (its `wake` task): the cascade goes on where it stopped. */
  enterDeferred(step: StepRow, visits: Record<string, number>): void {
    if (step.status !== 'PENDING' || step.type === 'operation') return;
    if (TERMINAL_RUN.has(this.run.status) || this.run.phase === 'compensating') return;
    const frame = this.frame(step.frame_id);
    // The scope may have failed or been cancelled since (the frame cache holds rows read in this transaction only).
    if (this.d.store.frame(this.run.id, frame.id)?.status !== 'RUNNING') return;
    this.enterState(frame, step.state_name, { step, visits });
  }

  private enterNested(frame: FrameRow, name: string, existing?: StepRow): void {
    this.depth++;
    try {
      this.enterNow(frame, name, existing);
    } finally {
      this.depth--;
    }
  }

  private enterNow(frame: FrameRow, name: string, existing?: StepRow): void {
    const state = this.scopeOf(frame).byName.get(name);
    if (!state) throw new Error(`no state "${name}" in scope "${frame.def_path}"`);
    const step = existing ?? this.newStep(frame, state);
    if (state.type !== 'operation' && this.inlineBudgetSpent()) {
      this.deferEntry(frame, step);
      return;
    }
    try {
      const key = `${frame.id}\0${name}`;
      const visits = (this.cascade.get(key) ?? 0) + 1;
      this.cascade.set(key, visits);
      if (visits > INLINE_LIMIT) {
        throw new StateError(
          'STN_E_INLINE_LIMIT',
          `state "${state.name}" was entered more than ${INLINE_LIMIT} times in one go without an operation in between (an endless switch loop?)`,
        );
      }
      switch (state.type) {
        case 'operation':
          this.schedule('exec', step.id, undefined);
          return;
        case 'inject': {
          // The context is stored, so an injected secret is stored as `***` (secrets belong in operation inputs).
          const data = renderTemplate(state.data, this.variables(frame, {}, true), { state: state.name, field: 'data' });
          if (state.resultPath === undefined) {
            if (data === null || typeof data !== 'object' || Array.isArray(data)) {
              throw new StateError(
                'STN_E_INJECT_NOT_OBJECT',
                `state "${state.name}": data is ${Array.isArray(data) ? 'a list' : data === null ? 'null' : `a ${typeof data}`}; without resultPath it is merged into the context, so it must be an object (or set resultPath)`,
              );
            }
            this.merge(frame.id, data);
          }
          else this.write(frame.id, state.resultPath, data, '');
          this.succeed(step, data as JsonValue);
          this.after(frame, state);
          return;
        }
        case 'switch': {
          const target = this.chooseBranch(frame, state);
          this.succeed(step, { next: target });
          this.enterState(frame, target);
          return;
        }
        case 'parallel':
          this.startParallel(frame, state, step);
          return;
        case 'foreach':
          this.startForeach(frame, state, step);
          return;
        default: {
          const never: never = state;
          throw new Error(`unknown state type ${JSON.stringify(never)}`);
        }
      }
    } catch (err) {
      if (!(err instanceof ExpressionError) && !(err instanceof StateError) && !(err instanceof ContextPathError)) throw err;
      // A switch condition sees real secrets, and an evaluation error may quote a value (`no such key "..."`).
      const error = { code: err.code, message: this.d.secrets.scrub(err.message), state: state.name, path: step.path };
      this.settle(step, 'FAILED', { error });
      this.event('step:failed', step.id, { state: state.name, path: step.path, attempt: 1, error });
      this.frameFailed(frame, error);
    }
  }

  private chooseBranch(frame: FrameRow, state: Extract<State, { type: 'switch' }>): string {
    const base = this.variables(frame);
    let vars = base;
    if (state.dataPath !== undefined) {
      const data = getPath(base, pathSegments(state.dataPath));
      vars = { ...base, ...(data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Obj) : {}), data };
    }
    const budget = new Meter(); // one cost budget for the whole switch, not one per condition
    for (const [i, c] of state.conditions.entries()) {
      let value: unknown;
      try {
        value = compileExpression(c.if).evaluate(vars, budget);
      } catch (err) {
        if (err instanceof ExpressionError) {
          throw new StateError(err.code, `state "${state.name}", condition ${i + 1} (${c.if}): ${err.message}`);
        }
        throw err;
      }
      if (typeof value !== 'boolean') {
        throw new StateError('STN_E_EXPR_EVAL', `state "${state.name}", condition ${i + 1} (${c.if}) gave ${JSON.stringify(value)}, not true or false`);
      }
      if (value) return c.next;
    }
    if (state.defaultNext !== undefined) return state.defaultNext;
    throw new StateError('STN_E_SWITCH_NO_MATCH', `state "${state.name}": no condition matched and there is no defaultNext`);
  }

  private after(frame: FrameRow, state: State): void {
    if (state.type === 'switch') return;
    if (state.end || state.next === undefined) this.frameDone(frame);
    else this.enterState(frame, state.next);
  }

  private settle(step: StepRow, status: StepStatus, fields: { output?: unknown; error?: unknown } = {}): void {
    step.status = status;
    step.wait = null;
    if (fields.output !== undefined) step.output = JSON.stringify(fields.output);
    if (fields.error !== undefined) step.error = JSON.stringify(fields.error);
    if (TERMINAL_STEP.has(status)) {
      step.finished_at = this.nowIso;
      step.duration_ms = step.attempt_started_ms !== null ? this.nowMs - step.attempt_started_ms : 0;
      if (status === 'SUCCEEDED') step.completed_seq = ++this.run.completion_seq;
    }
    this.d.store.updateStep(step);
  }

  private succeed(step: StepRow, output: JsonValue): void {
    this.settle(step, 'SUCCEEDED', { output });
    this.event('step:succeeded', step.id, { state: step.state_name, path: step.path, attempt: step.attempt, durationMs: step.duration_ms });
  }

  // ---------------------------------------------------------------- parallel and foreach

  private childFrame(parent: FrameRow, owner: StepRow, key: string, defChild: string, pathPart: string, vars: Obj | null): FrameRow {
    const frame: FrameRow = {
      run_id: this.run.id,
      id: this.d.store.maxFrameId(this.run.id) + 1,
      parent_id: parent.id,
      owner_step_id: owner.id,
      key,
      path: `${owner.path}${pathPart}/`,
      def_path: childDefPath(parent.def_path, owner.state_name, defChild),
      vars: vars ? JSON.stringify(vars) : null,
      status: 'RUNNING',
    };
    this.d.store.insertFrame(frame);
    return frame;
  }

  private startParallel(frame: FrameRow, state: Extract<State, { type: 'parallel' }>, step: StepRow): void {
    step.status = 'RUNNING';
    step.started_at = this.nowIso;
    step.attempt_started_ms = this.nowMs;
    step.pending = state.branches.length;
    this.d.store.updateStep(step);
    for (const b of state.branches) {
      // A branch that failed at once (inline) failed this state: the branches after it never start.
      if (step.status !== 'RUNNING') return;
      const child = this.childFrame(frame, step, b.name, `branch:${b.name}`, `/${b.name}`, null);
      this.enterState(child, this.scopeOf(child).start);
    }
  }

  private startForeach(frame: FrameRow, state: ForeachState, step: StepRow): void {
    const items = this.readPath(frame, state.itemsPath);
    if (!Array.isArray(items)) {
      throw new StateError(
        'STN_E_FOREACH_ITEMS',
        `state "${state.name}": itemsPath "${state.itemsPath}" is ${items === undefined ? 'missing' : `not a list (${typeof items})`}`,
      );
    }
    step.status = 'RUNNING';
    step.started_at = this.nowIso;
    step.attempt_started_ms = this.nowMs;
    step.items = JSON.stringify(items);
    step.pending = 0;
    step.next_index = 0;
    this.d.store.updateStep(step);
    this.itemsOf.set(step.id, items);
    if (items.length === 0) {
      this.joinForeach(frame, state, step);
      return;
    }
    const width = Math.min(items.length, state.maxConcurrency ?? 1);
    // An iteration that failed at once (inline) failed this state: no further iteration starts.
    for (let i = 0; i < width && step.status === 'RUNNING'; i++) this.startIteration(frame, state, step, items);
  }

  /**
   * The parsed items of foreach steps, once per transaction: parsing the stored list at every iteration made a long
   * foreach quadratic.
   */
  private readonly itemsOf = new Map<string, unknown[]>();

  private foreachItems(step: StepRow): unknown[] {
    let items = this.itemsOf.get(step.id);
    if (!items) {
      items = this.d.json.parse(`${step.id}\0items`, step.items ?? '[]') as unknown[];
      this.itemsOf.set(step.id, items);
    }
    return items;
  }

  /**
   * Parallel and foreach steps whose counters (pending, next_index) changed: written once when the transaction
   * finishes. SQLite rewrites a whole row to change one column, and a foreach row holds its item list, so writing it
   * at every iteration made a long foreach quadratic.
   */
  private readonly countersChanged = new Set<StepRow>();

  private startIteration(frame: FrameRow, state: ForeachState, step: StepRow, items: unknown[]): void {
    const index = step.next_index ?? 0;
    step.next_index = index + 1;
    step.pending = (step.pending ?? 0) + 1;
    this.countersChanged.add(step);
    const vars = { [state.itemName ?? 'item']: items[index], index };
    const child = this.childFrame(frame, step, String(index), 'iterator', `[${index}]`, vars);
    this.enterState(child, this.scopeOf(child).start);
  }

  /** A branch or iteration reached an end state. */
  private frameDone(frame: FrameRow): void {
    if (frame.parent_id === null) {
      this.finishRun('COMPLETED');
      return;
    }
    this.d.store.setFrameStatus(this.run.id, frame.id, 'SUCCEEDED');
    const owner = this.stepRow(frame.owner_step_id as string) as StepRow;
    if (owner.status !== 'RUNNING') return; // the owner already failed or was cancelled
    const parent = this.frame(frame.parent_id);
    const state = this.stateOf(owner);
    owner.pending = (owner.pending ?? 1) - 1;
    this.countersChanged.add(owner);
    if (state.type === 'foreach') {
      const items = this.foreachItems(owner);
      if ((owner.next_index ?? 0) < items.length) this.startIteration(parent, state, owner, items);
      else if (owner.pending === 0) this.joinForeach(parent, state, owner);
    } else if (state.type === 'parallel' && owner.pending === 0) {
      const result: Obj = {};
      for (const f of this.d.store.framesOfStep(this.run.id, owner.id)) result[f.key] = this.d.scopes.scope(this.run, f.id);
      this.write(parent.id, state.resultPath, result, `steps.${state.name}`);
      this.succeed(owner, result as JsonValue);
      this.after(parent, state);
    }
  }

  private joinForeach(parent: FrameRow, state: ForeachState, owner: StepRow): void {
    const frames = this.d.store.frameKeysOfStep(this.run.id, owner.id).sort((a, b) => Number(a.key) - Number(b.key));
    const result = frames.map((f) => this.d.scopes.scope(this.run, f.id));
    this.write(parent.id, state.resultPath, result, `steps.${state.name}`);
    this.succeed(owner, result as JsonValue);
    this.after(parent, state);
  }

  /** A scope failed: a branch fails its parallel state (the other branches are cancelled), the top level the run. */
  private frameFailed(frame: FrameRow, error: StepError): void {
    // A failed scope always fails the run (parallel and foreach have no onError), which then compensates.
    this.rollingBack = true;
    if (frame.parent_id === null) {
      this.runFailed(error);
      return;
    }
    this.d.store.setFrameStatus(this.run.id, frame.id, 'FAILED');
    const owner = this.stepRow(frame.owner_step_id as string) as StepRow;
    if (TERMINAL_STEP.has(owner.status)) return;
    for (const f of this.d.store.framesOfStep(this.run.id, owner.id)) {
      if (f.id !== frame.id && f.status === 'RUNNING') this.cancelFrame(f);
    }
    this.settle(owner, 'FAILED', { error });
    this.event('step:failed', owner.id, { state: owner.state_name, path: owner.path, attempt: 1, error });
    this.frameFailed(this.frame(frame.parent_id), error);
  }

  /** Cancels every active step of a scope and of the scopes inside it. */
  private cancelFrame(frame: FrameRow): void {
    const all = this.d.store.framesOfRun(this.run.id);
    const inside = new Set([frame.id]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const f of all) {
        if (f.parent_id !== null && inside.has(f.parent_id) && !inside.has(f.id)) {
          inside.add(f.id);
          grew = true;
        }
      }
    }
    for (const id of inside) this.d.store.setFrameStatus(this.run.id, id, 'CANCELLED');
    for (const s of this.activeSteps()) if (inside.has(s.frame_id)) this.cancelStep(s);
  }

  private cancelStep(step: StepRow): void {
    // Read before settle(), which clears the wait.
    const wait = storedWait(step);
    this.settle(step, 'CANCELLED');
    this.d.store.deleteTasksOfStep(step.id, this.reusable?.id ?? -1);
    this.event('step:cancelled', step.id, { state: step.state_name, path: step.path });
    this.releaseWait(wait);
  }

  /** A step stopped waiting before its wait ended: the child run it waited for is cancelled, its approval closed. */
  private releaseWait(wait: StoredWait | undefined): void {
    if (wait?.type === 'child' && wait.runId) this.requestCancel(wait.runId);
    if (wait?.type === 'approval' && wait.approvalId) this.d.approvals?.close(wait.approvalId, this.nowMs);
  }

  /**
   * This run is being rolled back (it failed, or is cancelled with --compensate): a child run cut off on the way is
   * rolled back too, so the side effects of its succeeded steps are compensated like the parent's own (DESIGN §5.4).
   */
  private rollingBack = false;

  private requestCancel(runId: string): void {
    const child = this.d.store.run(runId);
    if (!child || TERMINAL_RUN.has(child.status)) return;
    const compensate = this.rollingBack;
    if (!child.cancel_requested) {
      child.cancel_requested = compensate ? 2 : 1;
      this.d.store.updateRun(child);
    }
    this.d.store.insertTask(runId, 'cancel', null, JSON.stringify({ compensate, by: `parent ${this.run.id}` }), this.nowMs);
  }

  // ---------------------------------------------------------------- operation steps

  /**
   * The first half of an operation delivery: marks the step running and counts the delivery. The caller writes the
   * step row (once, with its rendered input, or together with the outcome of an inline executor).
   */
  beginDelivery(step: StepRow): void {
    if (step.status === 'PENDING') {
      step.status = 'RUNNING';
      step.deliveries = 1;
      step.attempt_started_ms = this.nowMs;
      step.started_at ??= this.nowIso;
    } else {
      step.deliveries += 1;
    }
    this.event('step:started', step.id, {
      state: step.state_name,
      path: step.path,
      action: step.action,
      attempt: step.attempt,
      delivery: step.deliveries,
    });
  }

  /** The operation (or compensation) definition behind a step. */
  operationOf(step: StepRow): { state: OperationState; action: string; input: JsonValue | undefined; retry: OperationState['retry']; timeoutSeconds: number | undefined } {
    const state = this.stateOf(step) as OperationState;
    if (step.compensation_of !== null && state.compensation) {
      const c = state.compensation;
      return { state, action: c.action, input: c.input, retry: c.retry, timeoutSeconds: c.timeoutSeconds };
    }
    return { state, action: state.action, input: state.input, retry: state.retry, timeoutSeconds: state.timeoutSeconds };
  }

  /** Renders an operation's input twice: with secrets for the executor, with `***` for what is stored. */
  renderInput(step: StepRow): { real: JsonValue; stored: JsonValue } {
    const op = this.operationOf(step);
    const frame = this.frame(step.frame_id);
    const extra: Obj = {};
    if (step.compensation_of !== null) {
      const original = this.stepRow(step.compensation_of);
      extra.result = original?.output ? (JSON.parse(original.output) as unknown) : null;
    }
    const where = { state: step.state_name, field: step.compensation_of !== null ? 'compensation.input' : 'input' };
    const input = op.input ?? {};
    if (!hasTemplates(input)) return { real: input, stored: input };
    const real = renderTemplate(input, this.variables(frame, extra), where) as JsonValue;
    const stored = renderTemplate(input, this.variables(frame, extra, true), where) as JsonValue;
    return { real, stored };
  }

  /** Applies an executor's result to its step (DESIGN §5.3, §5.4). */
  complete(step: StepRow, result: ExecResult): void {
    if (result.kind === 'ok') {
      const output = this.d.secrets.scrub(result.output);
      const op = this.operationOf(step);
      try {
        if (step.compensation_of === null) this.write(step.frame_id, op.state.resultPath, output, `steps.${op.state.name}`);
      } catch (err) {
        if (!(err instanceof ContextPathError)) throw err;
        this.failAttempt(step, { code: err.code, message: err.message, retryable: false });
        return;
      }
      this.succeed(step, output);
      if (step.compensation_of !== null) this.compensationDone(step);
      else this.after(this.frame(step.frame_id), op.state);
    } else if (result.kind === 'error') {
      this.failAttempt(step, { ...result.error, message: this.d.secrets.scrub(result.error.message) });
    } else {
      this.suspend(step, result.wait);
    }
  }

  private failAttempt(step: StepRow, err: ExecError): void {
    const op = this.operationOf(step);
    const max = op.retry?.maxAttempts ?? 1;
    const error: StepError = {
      code: err.code,
      message: err.message,
      state: step.state_name,
      path: step.path,
      action: op.action,
      attempt: step.attempt,
      ...(err.details !== undefined ? { details: this.d.secrets.scrub(err.details) } : {}),
    };
    if (err.retryable !== false && step.attempt < max) {
      const delayMs = backoffMs(op.retry ?? {}, step.attempt, this.d.random);
      this.event('step:retrying', step.id, { state: step.state_name, path: step.path, attempt: step.attempt + 1, delayMs, error });
      step.attempt += 1;
      step.status = 'PENDING';
      step.deliveries = 0;
      step.wait = null;
      step.error = JSON.stringify(error);
      this.d.store.updateStep(step);
      this.schedule('exec', step.id, undefined, this.nowMs + delayMs);
      return;
    }
    this.settle(step, err.code === 'STN_E_STEP_TIMEOUT' ? 'TIMED_OUT' : 'FAILED', { error });
    const handledBy = step.compensation_of === null ? op.state.onError : undefined;
    this.event('step:failed', step.id, { state: step.state_name, path: step.path, attempt: step.attempt, error, ...(handledBy ? { handledBy } : {}) });
    if (step.compensation_of !== null) {
      this.compensationDone(step);
      return;
    }
    const frame = this.frame(step.frame_id);
    if (handledBy) {
      this.write(frame.id, 'error', { state: step.state_name, action: op.action, code: err.code, message: error.message, attempt: step.attempt }, 'error');
      this.enterState(frame, handledBy);
    } else {
      this.frameFailed(frame, error);
    }
  }

  private suspend(step: StepRow, wait: WaitSpec): void {
    this.armStepTimeout(step, wait);
    switch (wait.type) {
      case 'timer':
        step.wait = JSON.stringify(wait);
        this.d.store.updateStep(step);
        this.event('step:waiting', step.id, { state: step.state_name, path: step.path, wait });
        this.schedule('wake', step.id, { reason: 'timer' }, wait.until);
        return;
      case 'signal': {
        const buffered = this.d.store.unconsumedSignal(this.run.id, wait.name);
        if (buffered) {
          this.d.store.consumeSignal(buffered.id, step.id);
          this.event('signal:received', step.id, { name: wait.name, signalId: buffered.id, stepId: step.id });
          this.complete(step, { kind: 'ok', output: buffered.payload ? (JSON.parse(buffered.payload) as JsonValue) : null });
          return;
        }
        step.status = 'WAITING_SIGNAL';
        step.wait = JSON.stringify(wait);
        this.d.store.updateStep(step);
        this.event('step:waiting', step.id, { state: step.state_name, path: step.path, wait });
        if (wait.timeoutAt !== undefined) this.schedule('wake', step.id, { reason: 'signal-timeout' }, wait.timeoutAt);
        return;
      }
      case 'child': {
        let childId: string;
        try {
          // The child's input is stored: secret values handed to it arrive as `***`.
          childId = this.d.createChildRun(this.run, step, { ...wait, input: this.d.secrets.scrub(wait.input) });
        } catch (err) {
          const e = err as { code?: string; message?: string };
          this.failAttempt(step, { code: e.code ?? 'STN_E_CHILD_RUN', message: e.message ?? String(err), retryable: false });
          return;
        }
        if (!wait.wait) {
          this.complete(step, { kind: 'ok', output: { runId: childId } });
          return;
        }
        step.wait = JSON.stringify({ type: 'child', runId: childId });
        this.d.store.updateStep(step);
        this.event('step:waiting', step.id, { state: step.state_name, path: step.path, wait: { type: 'child', runId: childId } });
        return;
      }
      case 'approval':
        this.suspendForApproval(step, wait);
        return;
      default: {
        const never: never = wait;
        throw new Error(`unknown wait ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * human.approval (DESIGN §7): the approval is recorded in this same transaction, the step and the run wait in
   * WAITING_APPROVAL, and the deadline is a durable wake task, so a restarted daemon still times it out.
   */
  private suspendForApproval(step: StepRow, wait: Extract<WaitSpec, { type: 'approval' }>): void {
    const hooks = this.d.approvals;
    if (!hooks) {
      this.failAttempt(step, { code: 'STN_E_EXECUTOR_MISSING', message: 'approvals are not available in this process', retryable: false });
      return;
    }
    let summary: unknown;
    try {
      summary = wait.summaryPath !== undefined ? this.readPath(this.frame(step.frame_id), wait.summaryPath) : undefined;
    } catch (err) {
      // A summaryPath made by a template can name __proto__ & co. at run time.
      if (!(err instanceof ContextPathError)) throw err;
      this.failAttempt(step, { code: err.code, message: err.message, retryable: false });
      return;
    }
    const request: ApprovalRequest = { ...wait, message: this.d.secrets.scrub(wait.message) };
    const approval = hooks.create(this.run, step, request, summary === undefined ? undefined : this.d.secrets.scrub(summary as JsonValue), this.nowMs);
    const stored = { type: 'approval', approvalId: approval.id, timeoutAt: wait.timeoutAt ?? null };
    step.status = 'WAITING_APPROVAL';
    step.wait = JSON.stringify(stored);
    this.d.store.updateStep(step);
    this.event('step:waiting', step.id, { state: step.state_name, path: step.path, wait: stored });
    this.event('approval:requested', step.id, {
      approvalId: approval.id,
      state: step.state_name,
      path: step.path,
      message: request.message,
      approvers: wait.approvers,
      requiredApprovals: wait.requiredApprovals,
      timeoutAt: wait.timeoutAt !== undefined ? new Date(wait.timeoutAt).toISOString() : null,
      // The channel the step asked for; which channel Slack uses is the notifier's choice, made after this commit.
      channel: request.channel ?? null,
    });
    if (wait.timeoutAt !== undefined) {
      this.schedule('wake', step.id, { reason: 'approval-timeout', approvalId: approval.id }, wait.timeoutAt);
    }
  }

  /** A decision (its task was enqueued by the approval service) or the approval's deadline reached the step. */
  private approvalWake(step: StepRow, approvalId: string, reason: 'approval' | 'approval-timeout'): void {
    const hooks = this.d.approvals;
    if (!hooks) return;
    const otherTasks = () => this.d.store.deleteTasksOfStep(step.id, this.reusable?.id ?? -1);
    if (reason === 'approval-timeout') {
      const t = hooks.timeout(approvalId, this.nowMs);
      if (!t) return; // decided first: the decision's own task completes the step
      otherTasks();
      this.event('approval:timed_out', step.id, { approvalId, onTimeout: t.onTimeout, approved: t.decision.approved });
      if (t.onTimeout === 'approve') this.complete(step, { kind: 'ok', output: t.decision as unknown as JsonValue });
      else {
        this.failAttempt(step, {
          code: t.onTimeout === 'reject' ? 'STN_E_APPROVAL_REJECTED' : 'STN_E_APPROVAL_TIMEOUT',
          message: `no decision on approval ${approvalId} in time (onTimeout: ${t.onTimeout})`,
          retryable: false,
          details: t.decision as unknown as JsonValue,
        });
      }
      return;
    }
    const outcome = hooks.outcome(approvalId);
    if (!outcome?.decision || (outcome.status !== 'APPROVED' && outcome.status !== 'REJECTED')) return;
    otherTasks();
    const d = outcome.decision;
    if (outcome.status === 'APPROVED') {
      this.complete(step, { kind: 'ok', output: d as unknown as JsonValue });
      return;
    }
    this.failAttempt(step, {
      code: 'STN_E_APPROVAL_REJECTED',
      message: `rejected by ${d.by.name} (${d.by.source})${d.comment ? `: ${d.comment}` : ''}`,
      retryable: false,
      details: d as unknown as JsonValue,
    });
  }

  /**
   * A waiting action (sleep, signal.wait, workflow.run) suspends inside the engine, so its state's timeoutSeconds is a
   * durable wake at the attempt's deadline rather than an abort of a running executor.
   */
  private armStepTimeout(step: StepRow, wait: WaitSpec): void {
    const { timeoutSeconds } = this.operationOf(step);
    if (timeoutSeconds === undefined || (wait.type === 'child' && !wait.wait)) return;
    const deadline = (step.attempt_started_ms ?? this.nowMs) + timeoutSeconds * 1000;
    this.schedule('wake', step.id, { reason: 'step-timeout', attempt: step.attempt }, deadline);
  }

  /** A timer, a timeout, a signal or a finished child run wakes a waiting step. */
  wake(step: StepRow, reason: WakeReason, attempt?: number, approvalId?: string): void {
    const wait = storedWait(step);
    if (TERMINAL_STEP.has(step.status) || !wait) return;
    if (reason === 'approval' || reason === 'approval-timeout') {
      // Only the approval of the current attempt counts.
      if (wait.type === 'approval' && approvalId !== undefined && wait.approvalId === approvalId) this.approvalWake(step, approvalId, reason);
      return;
    }
    if (reason === 'step-timeout') {
      if (attempt !== step.attempt) return; // the deadline of an earlier attempt
      this.releaseWait(wait);
      this.d.store.deleteTasksOfStep(step.id, this.reusable?.id ?? -1);
      const { timeoutSeconds } = this.operationOf(step);
      this.failAttempt(step, { code: 'STN_E_STEP_TIMEOUT', message: `state "${step.state_name}" did not finish within ${timeoutSeconds ?? '?'} s` });
    } else if (reason === 'timer' && wait.type === 'timer') this.complete(step, { kind: 'ok', output: {} });
    else if (reason === 'signal-timeout' && wait.type === 'signal') {
      this.failAttempt(step, { code: 'STN_E_SIGNAL_TIMEOUT', message: `no signal "${wait.name}" arrived in time` });
    }
  }

  deliverSignal(signalId: number): void {
    const signal = this.d.store.signal(signalId);
    if (!signal || signal.consumed_by !== null) return;
    const step = this.d.store.stepWaitingForSignal(this.run.id, signal.name);
    this.event('signal:received', step?.id ?? null, { name: signal.name, signalId, stepId: step?.id ?? null });
    if (!step) return; // buffered: a later signal.wait step takes it
    this.d.store.consumeSignal(signal.id, step.id);
    this.d.store.deleteTasksOfStep(step.id, this.reusable?.id ?? -1);
    this.complete(step, { kind: 'ok', output: signal.payload ? (JSON.parse(signal.payload) as JsonValue) : null });
  }

  childFinished(step: StepRow, child: RunRow): void {
    if (TERMINAL_STEP.has(step.status)) return;
    // Only the child of the current attempt counts (an earlier attempt's child may end after a step timeout).
    const wait = storedWait(step);
    if (wait?.type !== 'child' || wait.runId !== child.id) return;
    if (child.status === 'COMPLETED') {
      this.complete(step, { kind: 'ok', output: child.output ? (JSON.parse(child.output) as JsonValue) : null });
    } else {
      this.failAttempt(step, {
        code: 'STN_E_CHILD_RUN_FAILED',
        message: `child run ${child.id} (${child.workflow_id}) ended ${child.status}`,
        // The state's retry starts a new child run; a cancelled child is a decision, not a fault, and is not retried.
        retryable: child.status !== 'CANCELLED',
        details: { runId: child.id, status: child.status, error: child.error ? (JSON.parse(child.error) as JsonValue) : null },
      });
    }
  }

  // ---------------------------------------------------------------- ending runs, compensation

  private runFailed(error: StepError): void {
    if (this.run.phase === 'compensating' || TERMINAL_RUN.has(this.run.status)) return;
    this.run.error = JSON.stringify(error);
    for (const s of this.activeSteps()) this.cancelStep(s);
    this.startCompensation('failed', 'FAILED');
  }

  /** Runs the compensations of every SUCCEEDED step, latest completion first, then ends the run as `finalStatus`. */
  startCompensation(reason: string, finalStatus: 'FAILED' | 'CANCELLED', by?: string | null): void {
    const todo = this.compensationCandidates();
    if (todo.length === 0) {
      this.finishRun(finalStatus);
      return;
    }
    this.run.phase = 'compensating';
    this.run.final_status = finalStatus;
    this.event('compensation:started', null, { steps: todo.length, reason, ...(by !== undefined ? { by } : {}) });
    this.compensateNext();
  }

  private compensationCandidates(): StepRow[] {
    return this.d.store.compensable(this.run.id).filter((s) => {
      const state = this.stateOf(s);
      return state.type === 'operation' && state.compensation !== undefined;
    });
  }

  private compensateNext(): void {
    const next = this.compensationCandidates()[0];
    if (!next) {
      const failures = this.d.store
        .compensations(this.run.id)
        .filter((s) => s.status !== 'SUCCEEDED')
        .map((s) => s.state_name);
      this.run.compensated = failures.length === 0 ? 1 : 0;
      this.run.compensation_errors = failures.length > 0 ? JSON.stringify(failures) : null;
      this.event('compensation:finished', null, { compensated: failures.length === 0, failures });
      this.finishRun((this.run.final_status as 'FAILED' | 'CANCELLED' | null) ?? 'FAILED');
      return;
    }
    const frame = this.frame(next.frame_id);
    const state = this.stateOf(next) as OperationState;
    const id = makeStepId(this.run.id, frame.path, `compensate:${next.id}`, 1);
    this.d.store.insertStep({
      id,
      run_id: this.run.id,
      seq: this.run.event_seq + 1,
      frame_id: frame.id,
      state_name: state.name,
      path: `${next.path}/compensate`,
      visit: 1,
      type: 'compensation',
      action: state.compensation?.action ?? null,
      status: 'PENDING',
      attempt: 1,
      input: null,
      items: null,
      pending: null,
      next_index: null,
      compensation_of: next.id,
      created_at: this.nowIso,
    });
    this.event('state:entered', id, { state: state.name, path: `${next.path}/compensate`, type: 'compensation' });
    this.schedule('exec', id, undefined);
  }

  private compensationDone(step: StepRow): void {
    const error = step.error && step.status !== 'SUCCEEDED' ? (JSON.parse(step.error) as StepError) : undefined;
    this.event('compensation:step', step.id, {
      state: step.state_name,
      of: step.compensation_of as string,
      status: step.status,
      ...(error !== undefined ? { error } : {}),
    });
    this.compensateNext();
  }

  finishRun(status: 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT', error?: StepError): void {
    if (TERMINAL_RUN.has(this.run.status)) return;
    if (error) this.run.error = JSON.stringify(error);
    if (status === 'COMPLETED') {
      const root = this.frame(0);
      let output: unknown;
      try {
        output = this.spec.output === undefined
          ? this.d.scopes.scope(this.run, 0)
          : renderTemplate(this.spec.output, this.variables(root), { field: 'output' });
      } catch (err) {
        if (!(err instanceof ExpressionError)) throw err;
        this.runFailed({ code: err.code, message: this.d.secrets.scrub(`workflow output: ${err.message}`) });
        return;
      }
      this.run.output = JSON.stringify(this.d.secrets.scrub(output));
    }
    this.run.status = status;
    this.run.finished_at = this.nowIso;
    this.d.store.deleteTasksOfRun(this.run.id, this.reusable?.id ?? -1);
    const durationMs = this.run.started_at ? this.nowMs - Date.parse(this.run.started_at) : 0;
    switch (status) {
      case 'COMPLETED':
        this.event('run:completed', null, { durationMs });
        break;
      case 'FAILED':
        this.event('run:failed', null, {
          error: this.run.error ? (JSON.parse(this.run.error) as StepError) : null,
          ...(this.run.compensated !== null ? { compensated: this.run.compensated === 1 } : {}),
        });
        break;
      case 'CANCELLED':
        this.event('run:cancelled', null, { compensate: this.run.cancel_requested === 2, by: this.cancelledBy() });
        break;
      case 'TIMED_OUT':
        this.event('run:timed_out', null, { timeoutSeconds: this.spec.timeoutSeconds ?? null });
        break;
    }
    if (this.run.parent_run_id && this.run.parent_step_id) {
      this.d.store.insertTask(
        this.run.parent_run_id,
        'child',
        this.run.parent_step_id,
        JSON.stringify({ childRunId: this.run.id }),
        this.nowMs,
      );
    }
  }

  /** Cancel (DESIGN §5.2): stops every active step, then compensates if asked, and ends CANCELLED. */
  cancel(compensate: boolean, by: string | null): void {
    if (TERMINAL_RUN.has(this.run.status)) return;
    this.rollingBack = compensate && this.run.phase !== 'compensating';
    for (const s of this.activeSteps()) this.cancelStep(s);
    for (const child of this.d.store.childRuns(this.run.id)) this.requestCancel(child.id);
    this.d.store.deleteTasksOfRun(this.run.id, this.reusable?.id ?? -1);
    this.run.paused = 0;
    if (this.run.phase === 'compensating') {
      // Cancelling during compensation stops it: the run ends with what was compensated so far, and records what was
      // not (the compensations that failed or were cut off, then those never started), closing the saga's timeline.
      const failures = [
        ...this.d.store.compensations(this.run.id).filter((s) => s.status !== 'SUCCEEDED').map((s) => s.state_name),
        ...this.compensationCandidates().map((s) => s.state_name),
      ];
      this.run.compensated = 0;
      this.run.compensation_errors = JSON.stringify(failures);
      this.event('compensation:finished', null, { compensated: false, failures });
      this.finishRun('CANCELLED');
      return;
    }
    this.canceller = by;
    if (compensate) this.startCompensation('cancelled', 'CANCELLED', by);
    else this.finishRun('CANCELLED');
  }

  /** Who cancelled: known in the cancel's own transaction, else recorded in compensation:started. */
  private canceller: string | null | undefined;
  private cancelledBy(): string | null {
    if (this.canceller !== undefined) return this.canceller;
    const started = this.d.store.events(this.run.id).find((e) => e.type === 'compensation:started');
    const data = started?.data ? (JSON.parse(started.data) as { by?: string | null }) : {};
    return data.by ?? null;
  }

  /** The whole-run timeout: active steps stop and the run ends TIMED_OUT. */
  timeout(): void {
    // A run that already failed (or was cancelled with --compensate) has its end decided: the run timeout does not
    // cut its saga short; each compensation step has its own timeout and retries, and a cancel still stops it.
    if (TERMINAL_RUN.has(this.run.status) || this.run.phase === 'compensating') return;
    for (const s of this.activeSteps()) this.cancelStep(s);
    for (const child of this.d.store.childRuns(this.run.id)) this.requestCancel(child.id);
    this.finishRun('TIMED_OUT', {
      code: 'STN_E_RUN_TIMEOUT',
      message: `the run exceeded its timeout of ${this.spec.timeoutSeconds ?? '?'} s`,
    });
  }
}

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

/** Whether a definition value holds any `{{ }}` (cached per value: definitions are immutable once loaded). */
const templated = new WeakMap<object, boolean>();
function hasTemplates(value: JsonValue): boolean {
  if (typeof value === 'string') return value.includes('{{');
  if (value === null || typeof value !== 'object') return false;
  let known = templated.get(value);
  if (known === undefined) {
    known = Array.isArray(value) ? value.some(hasTemplates) : Object.values(value).some(hasTemplates);
    templated.set(value, known);
  }
  return known;
}

/**
 * A started, unpaused run's status from the statuses of its unfinished steps: running while any step runs or is due,
 * else waiting for what its steps wait for (an approval before a signal).
 */
export function statusOfActiveSteps(active: ReadonlySet<string>): RunRow['status'] {
  if (active.has('RUNNING') || active.has('PENDING')) return 'RUNNING';
  if (active.has('WAITING_APPROVAL')) return 'WAITING_APPROVAL';
  if (active.has('WAITING_SIGNAL')) return 'WAITING_SIGNAL';
  return 'RUNNING';
}

/** Why a `wake` task wakes a waiting step. */
export const WAKE_REASONS = ['timer', 'signal-timeout', 'step-timeout', 'approval', 'approval-timeout', 'enter'] as const;
export type WakeReason = (typeof WAKE_REASONS)[number];

/**
 * A step's wait as stored: the executor's wait spec, except that a child wait holds the child's run id and an
 * approval wait the approval's id once the step waits.
 */
type StoredWait =
  | Exclude<WaitSpec, { type: 'child' } | { type: 'approval' }>
  | { type: 'child'; runId?: string }
  | { type: 'approval'; approvalId?: string };

function storedWait(step: StepRow): StoredWait | undefined {
  return step.wait ? (JSON.parse(step.wait) as StoredWait) : undefined;
}

/** What the engine needs from the approval service; every call joins the engine's transaction (DESIGN §7). */
export interface ApprovalHooks {
  create(run: RunRow, step: StepRow, request: ApprovalRequest, summary: JsonValue | undefined, nowMs: number): { id: string; channel: string | null };
  /** Compare-and-set to TIMED_OUT; undefined when it was decided first. */
  timeout(approvalId: string, nowMs: number): { decision: { approved: boolean }; onTimeout: 'reject' | 'approve' | 'fail' } | undefined;
  outcome(approvalId: string): { status: string; decision: { by: { name: string; source: string }; comment: string | null } | undefined } | undefined;
  /** The step stopped waiting (cancel, failure elsewhere, step timeout): the approval closes. */
  close(approvalId: string, nowMs: number): void;
}

/** A failure of a state that is not an operation (switch without match, foreach without a list). */
export class StateError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Retry delay: fixed, or exponential with jitter, capped (DESIGN §5.3). */
export function backoffMs(retry: NonNullable<OperationState['retry']>, attempt: number, random: () => number): number {
  const base = (retry.backoffSeconds ?? 1) * 1000;
  if (retry.backoff !== 'exponential') return base;
  const cap = retry.maxBackoffSeconds !== undefined ? retry.maxBackoffSeconds * 1000 : Infinity;
  const raw = Math.min(cap, base * 2 ** (attempt - 1));
  // Equal jitter: half the delay fixed, half random, so retries of many runs spread out but never come early.
  return Math.round(raw / 2 + random() * (raw / 2));
}
