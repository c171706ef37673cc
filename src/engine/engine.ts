import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { compileSchema } from '../definitions/json-schema.js';
import { schemaIssues } from '../definitions/schema-check.js';
import type { JsonValue } from '../definitions/types.js';
import { ExpressionError } from '../expressions/index.js';
import { ACTION_CATALOG } from '../executors/catalog.js';
import { EXECUTORS, type ExecutorRegistry } from '../executors/registry.js';
import type { ExecContext, ExecResult, Executor, WaitSpec } from '../executors/types.js';
import type { Logger } from '../log.js';
import type { DefinitionStore } from '../store/definitions.js';
import { TERMINAL_RUN, TERMINAL_STEP, type RunRow, type RunStore, type StepRow, type TaskRow } from '../store/runs.js';
import type { RunEvent, RunEvents } from './events.js';
import { idempotencyKey } from './ids.js';
import { Checkpointer } from '../store/checkpointer.js';
import { isTransientStorageError, TransientEpisode } from '../store/transient.js';
import { hostIdentity, hostLeaseClock, samePidSpace, StallWatch, type LeaseClock } from './lease.js';
import { RunTx, type InterpreterDeps } from './interpreter.js';
import { readTaskPayload, wakeReasonOf } from '../store/payloads.js';
import { JsonCache } from './json-cache.js';
import { Scopes } from './scopes.js';
import { secretsNeeded } from './secret-refs.js';
import type { Secrets } from './secrets.js';
import { Specs } from './specs.js';

export interface Clock {
  now(): number;
}

export interface EngineOptions {
  store: RunStore;
  definitions: DefinitionStore;
  events: RunEvents;
  secrets: Secrets;
  logger: Logger;
  repo: string;
  /** Steps executing at once in this process. */
  concurrency: number;
  leaseMs: number;
  /** Creates child runs for workflow.run, inside the parent's transaction. */
  createChildRun: InterpreterDeps['createChildRun'];
  /** Records and decides human.approval steps, inside the engine's transactions. */
  approvals?: InterpreterDeps['approvals'];
  /** Posts Slack messages for slack.post steps (absent: Slack is not configured in station.yaml). */
  slack?: ExecContext['slack'];
  /** station.yaml's limits on steps (step environment, http egress); executors use their defaults without it. */
  policy?: ExecContext['policy'];
  executors?: ExecutorRegistry;
  /** The clock of due times (timers, retries, deadlines: wall-clock instants that survive restarts). */
  clock?: Clock;
  /** The clock of leases (default: the host's monotonic clock; see lease.ts). */
  leaseClock?: LeaseClock;
  random?: () => number;
  /** How often an idle engine looks for work written by other processes (signals, cancels, new runs). */
  pollMs?: number;
  specs?: Specs;
  /** Only work on this run and its child runs (a foreground `stn run`); default: every run in the database. */
  onlyRunTree?: string;
}

interface Work {
  task: TaskRow;
  step: StepRow;
  executor: Executor;
  ctx: ExecContext;
  timeoutMs: number | undefined;
  /** The state's timeout as written (timeoutMs is what is left of it for this delivery). */
  timeoutSeconds: number | undefined;
}

/**
 * The engine: claims due tasks from the durable queue under a lease, runs them, and commits each outcome in one
 * transaction (DESIGN §5.2). Any number of engines (processes) may share a database.
 */
export class Engine {
  readonly id: string;
  private readonly now: () => number;
  private readonly executors: ExecutorRegistry;
  private readonly scopes: Scopes;
  private readonly specs: Specs;
  private readonly deps: InterpreterDeps;
  private running = false;
  private inflight = 0;
  private readonly executing = new Map<string, Executing>();
  private wakeUp: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private readonly startedAt = new Date().toISOString();
  private readonly lease: LeaseClock;
  /** Lease renewal period: a stall longer than this may have cost leases, so they are checked at once. */
  private readonly renewMs: number;
  private readonly stall = new StallWatch();
  /** Tasks this process is handling now (their leases are its own and must not be swept as leaked). */
  private readonly held = new Set<number>();
  private readonly storage: TransientEpisode;
  /** Waiting before the next claim after a transient storage error. */
  private claimBackoffMs = 0;
  /** Set by stop() after the grace period: commits still retrying a busy database give up (the lease lapses). */
  private abandon = false;
  private readonly secretNames: readonly string[];
  /** The actions whose executors work inside the transaction (JSON array): their steps need no execution slot. */
  private readonly inlineActions: string;

  constructor(private readonly o: EngineOptions) {
    this.id = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.now = () => (o.clock ?? Date).now();
    this.lease = o.leaseClock ?? hostLeaseClock();
    this.renewMs = Math.max(50, o.leaseMs / 3);
    this.storage = new TransientEpisode(o.logger, 'the engine');
    this.executors = o.executors ?? EXECUTORS;
    this.secretNames = Object.keys(o.secrets.values).sort();
    this.inlineActions = JSON.stringify(Object.entries(this.executors).filter(([, e]) => e?.inline).map(([name]) => name));
    this.scopes = new Scopes(o.store);
    this.specs = o.specs ?? new Specs(o.definitions);
    this.deps = {
      store: o.store,
      scopes: this.scopes,
      secrets: o.secrets,
      now: this.now,
      random: o.random ?? Math.random,
      spec: (run) => this.specs.forRun(run),
      createChildRun: o.createChildRun,
      approvals: o.approvals,
      owner: this.id,
      leaseMs: o.leaseMs,
      lease: this.lease,
      json: new JsonCache(),
    };
  }

  /** Starts claiming work. Leases left by dead engines on this host are released first, so their steps resume now. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.abandon = false;
    this.stall.sample();
    this.heartbeat();
    try {
      this.reclaimDeadWorkers();
    } catch (err) {
      // A read-only or full database: the store's health reports it; claims are retried by the loop.
      this.o.logger.warn({ err }, 'could not release the leases of dead engines');
    }
    this.timers.push(setInterval(() => this.heartbeat(), 5000));
    this.timers.push(
      setInterval(() => {
        this.checkStall();
        this.watchExecuting();
      }, 100),
    );
    this.checkpointer = Checkpointer.start(this.o.store.db);
    this.loopDone = this.loop();
  }

  private checkpointer: Checkpointer | undefined;

  /**
   * Stops: no new work is claimed; running steps get `graceMs` to finish and commit, the rest are aborted and their
   * leases released (they are delivered again, with the same attempt, on the next start).
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.poke();
    const deadline = Date.now() + graceMs;
    while (this.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.abandon = true;
    for (const e of this.executing.values()) {
      e.reason = 'shutdown';
      e.controller.abort(new Error('engine shutting down'));
    }
    while (this.inflight > 0) await new Promise((r) => setTimeout(r, 10));
    await this.loopDone;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    try {
      this.o.store.releaseLeases(this.id);
      this.o.store.removeWorker(this.id);
    } catch (err) {
      // Busy or failing storage at shutdown: the leases lapse on their own after engine.leaseSeconds.
      this.o.logger.warn({ err, error_type: 'storage' }, 'could not release leases at shutdown; they expire on their own');
    }
    await this.checkpointer?.stop();
    this.checkpointer = undefined;
  }

  /** Wakes the loop: new work may be due (a run was created, a signal written, the fake clock moved). */
  poke(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  get busy(): number {
    return this.inflight;
  }

  /**
   * Each round handles the due control tasks first (start, signal, wake, child, cancel, timeout, and the steps of
   * inline actions: short transactions that never wait for an execution slot), then fills free slots with exec tasks.
   * Nothing thrown here may end the loop (the process would run on without an engine): errors are logged.
   */
  private async loop(): Promise<void> {
    while (this.running) {
      let more = false;
      try {
        // Woken after a stall: find out which in-flight deliveries lost their lease before anything else happens.
        if (this.stall.peek() > this.renewMs) this.checkStall();
        more = await this.controlRound();
        this.fillSlots();
      } catch (err) {
        this.o.logger.error({ err, error_type: 'engine' }, 'engine loop error');
      }
      if (!this.running) break;
      if (more && this.claimBackoffMs === 0) await yieldToEventLoop();
      else await this.idle().catch((err: unknown) => this.o.logger.error({ err, error_type: 'engine' }, 'engine idle error'));
    }
  }

  /** Handles due control tasks, one transaction each with the event loop free in between; true if more may be due. */
  private async controlRound(): Promise<boolean> {
    for (let n = 0; n < CONTROL_ROUND_TASKS; n++) {
      if (!this.running) return false;
      const task = this.claim('control');
      if (!task) return false;
      await this.withoutSlot(task);
      // A cancel, a run timeout or a failure may have ended steps that run here: stop them now, not at the next tick.
      if (this.executing.size > 0) this.watchExecuting();
      await this.breathe();
    }
    return true;
  }

  /**
   * Handles a control task, and what it chains as long as that is inline work (steps of inline actions, done inside
   * the transaction): the first step with real work goes to a free slot, or back to the queue for the next one.
   */
  private async withoutSlot(first: TaskRow): Promise<void> {
    let task: TaskRow | undefined = first;
    for (let n = 0; task && n < CHAIN_YIELD_TASKS; n++) {
      if (n > 0) await this.breathe();
      if (!this.running) break;
      if (task.kind === 'exec' && this.inflight < this.o.concurrency) {
        this.launch(task);
        return;
      }
      const current: TaskRow = task;
      this.held.add(current.id);
      try {
        task = current.kind === 'exec' ? await this.execInline(current) : await this.control(current);
      } finally {
        this.held.delete(current.id);
      }
    }
    if (task) await this.releaseLease(task);
  }

  /** Delivers an exec task if its action is inline, with the inline steps it chains; leaves the first other one. */
  private async execInline(task: TaskRow): Promise<TaskRow | undefined> {
    const outcome = await this.tx(task, (rt, run) => {
      if (!this.begin(rt, run, task, true)) this.continueChain(rt, run, true);
    });
    return outcome.chained;
  }

  private fillSlots(): void {
    while (this.running && this.inflight < this.o.concurrency) {
      const task = this.claim('exec');
      if (!task) return;
      this.launch(task);
    }
  }

  /** Claims a due task of a kind; undefined when none is due (or storage is busy: the loop then backs off). */
  private claim(kind: 'control' | 'exec'): TaskRow | undefined {
    if (this.claimBackoffMs > 0) return undefined;
    try {
      const task = this.o.store.transaction(() =>
        this.o.store.claimTask({
          owner: this.id,
          now: this.now(),
          leaseNow: this.lease.now(),
          leaseMs: this.o.leaseMs,
          boot: this.lease.boot,
          root: this.o.onlyRunTree ?? null,
          kind,
          skip: this.skipped(),
          inline: this.inlineActions,
        }),
      );
      this.storage.ok();
      return task;
    } catch (err) {
      if (isTransientStorageError(err)) this.claimBackoffMs = this.storage.failed(err, { op: 'claim' });
      else this.o.logger.error({ err, error_type: 'claim' }, 'claiming a task failed');
      return undefined;
    }
  }

  /**
   * Pauses the engine's work once it has run for BREATHE_MS without a pause, so the event loop gets a turn (API
   * requests, cron, timers). When other engines share the database and the work is sustained (SUSTAINED_MS without
   * an idle moment), the pause is as long as the work before it (up to MAX_PAUSE_MS) and every slot waits for it: the write lock is then free half the time, so another process waiting
   * for it (in SQLite's busy handler, which retries at growing intervals) gets it within a few tries instead of
   * being locked out while this engine goes from one transaction to the next.
   */
  private async breathe(): Promise<void> {
    if (this.pausing) {
      await this.pausing;
      return;
    }
    const now = performance.now();
    const worked = now - this.lastBreath;
    if (worked < BREATHE_MS) return;
    // Only sustained work pauses: a run's few steps after an idle moment go at full speed.
    const sustained = now - this.busySince > SUSTAINED_MS;
    this.pausing = this.othersAlive && sustained ? sleep(Math.min(worked, MAX_PAUSE_MS)) : yieldToEventLoop();
    await this.pausing;
    this.pausing = undefined;
    this.lastBreath = performance.now();
  }

  private lastBreath = 0;
  /** When the loop last came out of an idle wait: work since then without a break is sustained work. */
  private busySince = 0;
  private pausing: Promise<void> | undefined;
  /** Whether other engines reported lately (refreshed with this engine's heartbeat). */
  private othersAlive = false;

  private idle(): Promise<void> {
    const poll = this.o.pollMs ?? 100;
    let wait = poll;
    if (this.claimBackoffMs > 0) {
      wait = this.claimBackoffMs;
      this.claimBackoffMs = 0;
    } else {
      try {
        // With every slot busy only control tasks can be taken: an exec task that is due must not wake the loop.
        const now = this.now();
        const exec = this.inflight < this.o.concurrency;
        const at = this.o.store.nextWakeAt(this.id, now, this.lease.now(), exec, this.o.onlyRunTree ?? null, this.skipped(), this.inlineActions);
        if (at !== null) wait = Math.max(0, Math.min(poll, at - now + 1));
      } catch (err) {
        if (!isTransientStorageError(err)) throw err;
      }
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        this.lastBreath = this.busySince = performance.now();
        resolve();
      }, wait);
      this.wakeUp = () => {
        clearTimeout(timer);
        this.lastBreath = this.busySince = performance.now();
        resolve();
      };
    });
  }

  private launch(task: TaskRow): void {
    this.inflight++;
    void this.process(task)
      .catch((err: unknown) => this.o.logger.error({ err, run_id: task.run_id, error_type: 'engine' }, 'task failed'))
      .finally(() => {
        this.inflight--;
        this.poke();
      });
  }

  /** Handles a task and whatever it chains (the next step of the same run, leased to this process directly). */
  private async process(first: TaskRow): Promise<void> {
    let task: TaskRow | undefined = first;
    for (let handled = 0; task; handled++) {
      // A slot follows one run's chain for a while, then hands the chained task back to the queue, where older due
      // work (other runs, steps reclaimed after a crash) is claimed first: no run waits for another to finish.
      if (!this.running || handled >= CHAIN_YIELD_TASKS) {
        await this.releaseLease(task);
        return;
      }
      const current: TaskRow = task;
      this.held.add(current.id);
      try {
        task = current.kind === 'exec' ? await this.exec(current) : await this.control(current);
      } finally {
        this.held.delete(current.id);
      }
      await this.breathe();
    }
  }

  /** Gives a task back to the queue (only under its fencing token), retrying while storage is busy. */
  private async releaseLease(task: TaskRow): Promise<void> {
    for (;;) {
      try {
        this.o.store.releaseLease(task.id, this.id, task.lease_token);
        return;
      } catch (err) {
        if (!isTransientStorageError(err) || this.abandon) return; // the lease lapses on its own
        await sleep(this.storage.failed(err, { op: 'release', run_id: task.run_id }));
      }
    }
  }

  /**
   * Runs `fn` on one run in one transaction, then publishes its events. Busy, full or failing storage rolls the
   * transaction back and runs it again after a backoff (never a failed run); the wait ends only if the engine stops.
   */
  private async tx<T>(task: TaskRow, fn: (rt: RunTx, run: RunRow) => T): Promise<TxOutcome<T>> {
    for (;;) {
      const outcome = this.txOnce(task, fn);
      if (!('retryMs' in outcome)) return outcome;
      if (this.abandon) return { value: undefined, chained: undefined };
      await sleep(outcome.retryMs);
    }
  }

  private txOnce<T>(task: TaskRow, fn: (rt: RunTx, run: RunRow) => T): TxOutcome<T> | Retry {
    let rt: RunTx | undefined;
    let value: T | undefined;
    let lease: 'held' | 'taken' | 'gone' = 'held';
    try {
      this.o.store.transaction(() => {
        // Fencing: this delivery commits only while its lease token is still the task's. A delivery that lost its
        // lease (its engine stalled and another engine claimed the task), or whose task was cancelled or finished by
        // another delivery, changes nothing.
        lease = this.o.store.taskLease(task.id, this.id, task.lease_token);
        if (lease !== 'held') return;
        const run = this.o.store.run(task.run_id);
        if (!run) {
          this.o.store.deleteTask(task.id);
          return;
        }
        rt = new RunTx(this.deps, run, task);
        value = fn(rt, run);
        rt.finish();
      });
    } catch (err) {
      this.scopes.forget(task.run_id);
      if (isTransientStorageError(err)) {
        return { retryMs: this.storage.failed(err, { op: 'commit', run_id: task.run_id, step_id: task.step_id }) };
      }
      this.failRunOnBug(task, err);
      return { value: undefined, chained: undefined };
    }
    this.storage.ok();
    if (lease !== 'held') {
      const fields = { run_id: task.run_id, step_id: task.step_id, task: task.id, error_type: 'lease_lost' };
      if (lease === 'taken') this.o.logger.warn(fields, 'lease lost: this delivery is dropped without committing (another engine took the task over)');
      else this.o.logger.debug(fields, 'task gone (cancelled or finished elsewhere): this delivery is dropped without committing');
    }
    if (rt) this.publish(rt.events);
    return { value, chained: rt?.chained };
  }

  /** A bug must not leave a task crash-looping: the run fails with STN_E_INTERNAL and the error is logged. */
  private failRunOnBug(task: TaskRow, err: unknown): void {
    this.o.logger.error({ err, run_id: task.run_id, step_id: task.step_id, error_type: 'internal' }, 'engine error');
    try {
      let rt: RunTx | undefined;
      this.o.store.transaction(() => {
        const run = this.o.store.run(task.run_id);
        if (!run || TERMINAL_RUN.has(run.status)) return;
        rt = new RunTx(this.deps, run, task);
        rt.finishRun('FAILED', { code: 'STN_E_INTERNAL', message: `internal error: ${(err as Error).message}` });
        rt.finish();
      });
      if (rt) this.publish(rt.events);
    } catch (again) {
      this.o.logger.error({ err: again, run_id: task.run_id }, 'could not record the internal error');
    }
  }

  private async control(task: TaskRow): Promise<TaskRow | undefined> {
    const outcome = await this.tx(task, (rt, run) => {
      // Inside the transaction: a payload this release cannot read fails the run (STN_E_STORED_PAYLOAD), loudly.
      const payload = readTaskPayload(task);
      const step = task.step_id ? rt.stepRow(task.step_id) : undefined;
      switch (task.kind) {
        case 'start':
          if (run.status === 'PENDING') rt.start();
          break;
        case 'wake':
          if (step && payload.reason === 'enter') rt.enterDeferred(step, visitCounts(payload.visits));
          else if (step) {
            rt.wake(
              step,
              wakeReasonOf(payload.reason),
              typeof payload.attempt === 'number' ? payload.attempt : undefined,
              typeof payload.approvalId === 'string' ? payload.approvalId : undefined,
            );
          }
          break;
        case 'signal':
          if (!TERMINAL_RUN.has(run.status)) rt.deliverSignal(Number(payload.signalId));
          break;
        case 'child': {
          const child = this.o.store.run(String(payload.childRunId));
          if (step && child) rt.childFinished(step, child);
          break;
        }
        case 'cancel':
          rt.cancel(payload.compensate === true, typeof payload.by === 'string' ? payload.by : null);
          break;
        case 'timeout':
          rt.timeout();
          break;
        case 'exec':
          break;
        default: {
          const never: never = task.kind;
          throw new Error(`unknown task kind ${String(never)}`);
        }
      }
    });
    return outcome.chained;
  }

  /** Delivers an operation step: begin (commit RUNNING), execute, complete (commit the outcome). */
  private async exec(task: TaskRow): Promise<TaskRow | undefined> {
    let current = await this.tx(task, (rt, run) => this.begin(rt, run, task) ?? this.continueChain(rt, run));
    for (;;) {
      const work = current.value;
      if (!work) return current.chained;
      const result = await this.execute(work);
      // Resumed by the executor's end (a new turn of the event loop): the work done before does not count.
      this.lastBreath = performance.now();
      if (!result) {
        // Shutdown: delivered again on the next start. Lease lost: a no-op (the token is no longer ours).
        await this.releaseLease(work.task);
        return undefined;
      }
      current = await this.tx(work.task, (rt, run) => {
        // A cancel requested while the step ran is applied before its result: a run whose cancel was accepted
        // ends CANCELLED, never COMPLETED by a step that finished just before the cancel's own task was handled.
        if (run.cancel && !TERMINAL_RUN.has(run.status)) this.cancelFirst(rt, run);
        const step = rt.stepRow(work.step.id);
        if (step && step.status === 'RUNNING' && step.attempt === work.step.attempt) rt.complete(step, result);
        return this.continueChain(rt, run);
      });
    }
  }

  /** Applies a run's pending cancel task inside the current transaction (its payload says who and how). */
  private cancelFirst(rt: RunTx, run: RunRow): void {
    const task = this.o.store.pendingCancel(run.id);
    if (!task) return;
    const payload = readTaskPayload(task);
    rt.cancel(payload.compensate === true, typeof payload.by === 'string' ? payload.by : null);
  }

  /**
   * Goes on with the run's next step inside the same transaction while it is due now: steps of inline executors (no
   * side effects outside Station) complete here too, so a chain of them shares one commit; the first step with real
   * work is begun (committed RUNNING with its input) and returned to be executed. Bounded, so other runs get a turn.
   */
  private continueChain(rt: RunTx, run: RunRow, inlineOnly = false): Work | undefined {
    const deadline = performance.now() + CHAIN_BUDGET_MS;
    for (let n = 0; n < CHAIN_MAX_STEPS && this.running && performance.now() < deadline; n++) {
      const next = rt.chained;
      if (!next || next.kind !== 'exec' || run.paused || TERMINAL_RUN.has(run.status)) return undefined;
      rt.continueWith(next);
      const work = this.begin(rt, run, next, inlineOnly);
      if (work) return work;
    }
    return undefined;
  }

  /**
   * Begins an operation step's delivery. `inlineOnly` (no execution slot is free): a step whose action has real work
   * is left to the queue, untouched, for the next free slot.
   */
  private begin(rt: RunTx, run: RunRow, task: TaskRow, inlineOnly = false): Work | undefined {
    const step = task.step_id ? rt.stepRow(task.step_id) : undefined;
    if (!step || TERMINAL_STEP.has(step.status) || TERMINAL_RUN.has(run.status) || step.wait !== null) return undefined;
    const op = rt.operationOf(step);
    if (run.paused || (inlineOnly && !this.executors[op.action]?.inline)) {
      // Paused after this task was chained or claimed (it waits for resume), or real work without a slot.
      rt.keepTask();
      this.o.store.releaseLease(task.id, this.id, task.lease_token);
      return undefined;
    }
    const lacking = this.o.secrets.missing(secretsNeeded(op.input));
    if (lacking.length > 0) return this.lackSecrets(rt, task, step, lacking);
    rt.beginDelivery(step);
    const fail = (code: string, message: string) => {
      rt.complete(step, { kind: 'error', error: { code, message, retryable: false } });
      return undefined;
    };
    let input: { real: JsonValue; stored: JsonValue };
    try {
      input = rt.renderInput(step);
    } catch (err) {
      if (err instanceof ExpressionError) return fail(err.code, err.message);
      throw err;
    }
    if (step.deliveries === 1) step.input = JSON.stringify(input.stored);
    const spec = (ACTION_CATALOG as Record<string, { inputSchema: object } | undefined>)[op.action];
    if (spec) {
      const validate = compileSchema(spec.inputSchema);
      if (!validate(input.real)) {
        const issues = schemaIssues(input.stored, validate.errors ?? [], `the ${op.action} input`);
        return fail('STN_E_ACTION_INPUT', `state "${step.state_name}": ${issues.map((i) => i.message).join('; ')}`);
      }
    }
    const executor = this.executors[op.action];
    if (!executor) {
      return fail('STN_E_EXECUTOR_MISSING', `action "${op.action}" has no executor in this version of Station (state "${step.state_name}")`);
    }
    const timeoutSeconds = op.timeoutSeconds;
    // A step delivered again after a crash keeps its attempt's deadline: it gets what is left, not a fresh timeout.
    const startedAt = step.attempt_started_ms ?? this.now();
    const timeoutMs = timeoutSeconds !== undefined ? startedAt + timeoutSeconds * 1000 - this.now() : undefined;
    if (timeoutMs !== undefined && timeoutMs <= 0 && !executor.inline) {
      rt.complete(step, stepTimedOut(step, timeoutSeconds ?? 0));
      return undefined;
    }
    const ctx: ExecContext = {
      runId: run.id,
      stepId: step.id,
      attempt: step.attempt,
      idempotencyKey: idempotencyKey(run.id, step.id, step.attempt),
      input: input.real,
      signal: NEVER_ABORTED,
      startedAt,
      timeoutMs,
      repo: this.o.repo,
      now: this.now,
      logger: this.o.logger,
      slack: this.o.slack,
      policy: this.o.policy,
      addMask: (value) => this.o.secrets.addRunMask(run.id, value),
      containsSecret: (text) => this.o.secrets.contains(run.id, text),
    };
    if (executor.inline) {
      // No side effects outside Station: the whole delivery happens in this transaction.
      rt.complete(step, executor.inline(ctx));
      return undefined;
    }
    this.o.store.updateStep(step); // RUNNING, with its input, committed before the executor starts
    rt.keepTask();
    return { task, step, executor, ctx, timeoutMs: ctx.timeoutMs, timeoutSeconds };
  }

  /**
   * A step needs secrets this engine does not have (another engine on the database may): it is left, PENDING, to a
   * running engine that reported having them (its task goes back to the queue and this engine stops claiming it for
   * a while); when no running engine has them, the step fails at once with STN_E_SECRET_MISSING instead of waiting
   * for an engine that may never come. Only names are compared; values never leave their process.
   */
  private lackSecrets(rt: RunTx, task: TaskRow, step: StepRow, lacking: string[]): undefined {
    const holders = this.o.store
      .workersSince(this.now() - WORKER_STALE_MS)
      .filter((w) => w.id !== this.id && lacking.every((name) => w.secretNames.includes(name)));
    const where = { run_id: rt.run.id, step_id: step.id, state: step.state_name, secrets: lacking, engine: this.id };
    if (holders.length === 0) {
      this.o.logger.warn(where, 'no running engine has the secrets this step needs: the step fails');
      rt.beginDelivery(step);
      rt.complete(step, {
        kind: 'error',
        error: {
          code: 'STN_E_SECRET_MISSING',
          message: `state "${step.state_name}" needs the secret${lacking.length > 1 ? 's' : ''} ${lacking.join(', ')}, which no running engine has (set STN_SECRET_${lacking[0] ?? ''} or add it to the secrets file of at least one engine)`,
          retryable: false,
          details: { secrets: lacking, engine: this.id },
        },
      });
      return undefined;
    }
    rt.keepTask();
    this.o.store.releaseLease(task.id, this.id, task.lease_token);
    const known = this.leftToOthers.has(step.id);
    this.leftToOthers.set(step.id, this.now() + SECRET_RECHECK_MS);
    if (!known) {
      this.o.logger.warn({ ...where, holders: holders.map((w) => w.id) }, 'this engine lacks secrets the step needs: left to another engine');
      rt.event('step:deferred', step.id, { state: step.state_name, path: step.path, reason: 'secret_missing', secrets: lacking, engine: this.id });
    }
    return undefined;
  }

  /** Steps left to engines that have their secrets: step id → until when this engine does not claim them (ms). */
  private readonly leftToOthers = new Map<string, number>();

  /**
   * The steps this engine does not claim now (see lackSecrets), as the JSON array the claim query takes. An entry
   * expires so the step is looked at again (the engine that had the secret may be gone); one not renewed for a
   * minute is forgotten.
   */
  private skipped(): string {
    if (this.leftToOthers.size === 0) return '[]';
    const now = this.now();
    const ids: string[] = [];
    for (const [stepId, until] of this.leftToOthers) {
      if (until > now) ids.push(stepId);
      else if (until < now - 60_000) this.leftToOthers.delete(stepId);
    }
    return JSON.stringify(ids);
  }

  /** Runs an executor with its timeout, lease heartbeat and cancel/shutdown abort. undefined: aborted by shutdown. */
  private async execute(work: Work): Promise<ExecResult | undefined> {
    const controller = new AbortController();
    const entry: Executing = { controller, renew: () => this.renewLease(work, entry) };
    this.executing.set(work.step.id, entry);
    const timers: NodeJS.Timeout[] = [];
    if (work.timeoutMs !== undefined) {
      timers.push(
        setTimeout(() => {
          entry.reason = 'timeout';
          controller.abort(new Error('step timeout'));
        }, work.timeoutMs),
      );
    }
    timers.push(setInterval(entry.renew, this.renewMs));
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
    result = this.o.secrets.scrubResult(work.ctx.runId, result);
    this.o.logger.debug({ run_id: work.ctx.runId, step_id: work.step.id, attempt: work.ctx.attempt, duration_ms: Date.now() - started }, 'executor returned');
    return result;
  }

  /**
   * Renews a running delivery's lease under its fencing token. Lost (another engine claimed the task after this one
   * stalled past the lease): the executor is aborted (its process killed) and its outcome will not be committed; the
   * new owner delivers the step again. Storage busy: the lease is kept as it is and renewed on the next tick.
   */
  private renewLease(work: Work, entry: Executing): void {
    if (entry.reason !== undefined) return;
    let kept: boolean;
    try {
      kept = this.o.store.extendLease(work.task.id, this.id, work.task.lease_token, this.lease.now() + this.o.leaseMs);
    } catch (err) {
      // Called from a timer: an error thrown here would end the process. The lease is tried again at the next tick.
      if (isTransientStorageError(err)) this.storage.failed(err, { op: 'lease', run_id: work.ctx.runId, step_id: work.step.id });
      else this.o.logger.error({ err, run_id: work.ctx.runId, step_id: work.step.id, error_type: 'lease' }, 'renewing a lease failed; retrying');
      return;
    }
    if (kept) return;
    entry.reason = 'lease';
    entry.controller.abort(new Error('lease lost'));
    this.o.logger.warn(
      { run_id: work.ctx.runId, step_id: work.step.id, attempt: work.ctx.attempt, error_type: 'lease_lost' },
      'lease lost while the step ran (this engine stalled past engine.leaseSeconds): its work is stopped and not committed',
    );
  }

  /**
   * Measures how long this process did not run since the last check (monotonic clock). Longer than the lease renewal
   * period: the leases of every running delivery are checked (and renewed) now, so one that was taken over is given up
   * before anything else happens.
   */
  private checkStall(): void {
    const gap = this.stall.sample();
    if (gap <= this.renewMs) return;
    const level = gap >= this.o.leaseMs / 2 ? 'warn' : 'debug';
    this.o.logger[level]({ stalled_ms: gap, lease_ms: this.o.leaseMs, running: this.executing.size }, 'engine was stalled; checking its leases');
    for (const entry of this.executing.values()) entry.renew();
  }

  /** Aborts executors whose step was cancelled (by this or another process) or whose run ended. */
  private watchExecuting(): void {
    for (const [stepId, entry] of this.executing) {
      let step: StepRow | undefined;
      try {
        step = this.o.store.step(stepId);
      } catch (err) {
        // Called from a timer: nothing may be thrown. The check runs again in 100 ms.
        if (!isTransientStorageError(err)) this.o.logger.error({ err, error_type: 'engine' }, 'checking running steps failed; retrying');
        return;
      }
      if (!step || step.status !== 'RUNNING') {
        entry.reason = 'cancelled';
        entry.controller.abort(new Error('step cancelled'));
      }
    }
  }

  /** Records this engine as alive, and gives back leases of its own that no delivery of it holds any more. */
  private heartbeat(): void {
    try {
      const host = hostIdentity();
      this.o.store.heartbeat(this.id, os.hostname(), process.pid, this.startedAt, this.now(), host.bootId, host.pidNs, this.secretNames);
      this.othersAlive = this.o.store.workersSince(this.now() - WORKER_STALE_MS).some((w) => w.id !== this.id);
      for (const t of this.o.store.expiredLeasesOf(this.id, this.lease.now())) {
        if (!this.held.has(t.id)) this.o.store.releaseLease(t.id, this.id, t.lease_token);
      }
    } catch (err) {
      if (isTransientStorageError(err)) this.storage.failed(err, { op: 'heartbeat' });
      else this.o.logger.warn({ err }, 'engine heartbeat failed');
    }
  }

  /**
   * Engines whose process is provably gone: their leases are released at once instead of after expiry. Provably means
   * same kernel boot and same PID namespace, where kill(pid, 0) speaks of that very process; an engine in another
   * container (same hostname, other PID namespace) or another boot is left to lease expiry.
   */
  private reclaimDeadWorkers(): void {
    try {
      for (const w of this.o.store.workersOnHost(os.hostname())) {
        if (w.id === this.id || !samePidSpace(w) || isAlive(w.pid)) continue;
        const released = this.o.store.transaction(() => {
          const n = this.o.store.releaseLeases(w.id);
          this.o.store.removeWorker(w.id);
          return n;
        });
        if (released > 0) this.o.logger.info({ worker: w.id, tasks: released }, 'reclaimed the leases of a dead engine');
      }
    } catch (err) {
      if (!isTransientStorageError(err)) throw err;
      this.storage.failed(err, { op: 'reclaim' });
    }
  }

  private publish(events: RunEvent[]): void {
    for (const e of events) {
      this.o.events.emit(e);
      logEvent(this.o.logger, e);
    }
  }
}

interface Executing {
  controller: AbortController;
  reason?: string;
  /** Renews the delivery's lease (or gives the delivery up when the lease was lost). */
  renew: () => void;
}

type TxOutcome<T> = { value: T | undefined; chained: TaskRow | undefined };
/** A transaction rolled back by busy, full or failing storage: to be run again after `retryMs`. */
type Retry = { retryMs: number };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Inline executors never block, so they share one signal that is never aborted; real work gets its own. */
const NEVER_ABORTED = new AbortController().signal;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
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

export type { WaitSpec };

/** How many chained steps one transaction may take, and for how long, before the chain goes back to the queue. */
const CHAIN_MAX_STEPS = 64;
const CHAIN_BUDGET_MS = 4;
/** How many chained tasks (each one commit or an executor run) one slot handles before going back to the queue. */
const CHAIN_YIELD_TASKS = 16;
/** How many control tasks one round handles before exec slots are filled and the loop goes round again. */
const CONTROL_ROUND_TASKS = 64;
/** How long the engine works synchronously at most before it lets the event loop run (API, cron, timers). */
const BREATHE_MS = 5;
/** The longest pause between two stretches of work when other engines share the database. */
const MAX_PAUSE_MS = 20;
/** Work that went on this long without an idle moment pauses for other engines (see breathe). */
const SUSTAINED_MS = 100;
/** An engine whose heartbeat (every 5 s) is older than this is not counted on to run a step needing its secrets. */
const WORKER_STALE_MS = 20_000;
/** How long an engine lacking a step's secrets leaves it to the others before it looks at the step again. */
const SECRET_RECHECK_MS = 10_000;

/** Resolves after the event loop has handled pending I/O and timers (a promise alone only yields to microtasks). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The per-state entry counts a deferred inline state carries (see RunTx.enterDeferred). */
function visitCounts(value: unknown): Record<string, number> {
  const counts: Record<string, number> = {};
  if (value === null || typeof value !== 'object') return counts;
  for (const [state, n] of Object.entries(value)) if (typeof n === 'number') counts[state] = n;
  return counts;
}

/** The outcome of an attempt that ran out of its state's timeoutSeconds. */
function stepTimedOut(step: StepRow, seconds: number): ExecResult {
  return { kind: 'error', error: { code: 'STN_E_STEP_TIMEOUT', message: `state "${step.state_name}" timed out after ${seconds} s` } };
}

