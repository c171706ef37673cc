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
import { RunTx, WAKE_REASONS, type InterpreterDeps, type WakeReason } from './interpreter.js';
import { Scopes } from './scopes.js';
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
  executors?: ExecutorRegistry;
  clock?: Clock;
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
  private readonly executing = new Map<string, { controller: AbortController; reason?: string }>();
  private wakeUp: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private readonly startedAt = new Date().toISOString();

  constructor(private readonly o: EngineOptions) {
    this.id = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.now = () => (o.clock ?? Date).now();
    this.executors = o.executors ?? EXECUTORS;
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
    };
  }

  /** Starts claiming work. Leases left by dead engines on this host are released first, so their steps resume now. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.heartbeat();
    try {
      this.reclaimDeadWorkers();
    } catch (err) {
      // A read-only or full database: the store's health reports it; claims are retried by the loop.
      this.o.logger.warn({ err }, 'could not release the leases of dead engines');
    }
    this.timers.push(setInterval(() => this.heartbeat(), 5000));
    this.timers.push(setInterval(() => this.watchExecuting(), 100));
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
    for (const e of this.executing.values()) {
      e.reason = 'shutdown';
      e.controller.abort(new Error('engine shutting down'));
    }
    while (this.inflight > 0) await new Promise((r) => setTimeout(r, 10));
    await this.loopDone;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.o.store.releaseLeases(this.id);
    this.o.store.removeWorker(this.id);
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

  private async loop(): Promise<void> {
    while (this.running) {
      while (this.running && this.inflight < this.o.concurrency) {
        let task: TaskRow | undefined;
        try {
          task = this.o.store.transaction(() =>
            this.o.store.claimTask(this.id, this.now(), this.o.leaseMs, this.o.onlyRunTree ?? null),
          );
        } catch (err) {
          this.o.logger.error({ err, error_type: 'claim' }, 'claiming a task failed');
        }
        if (!task) break;
        this.launch(task);
      }
      if (!this.running) break;
      await this.idle();
    }
  }

  private idle(): Promise<void> {
    const poll = this.o.pollMs ?? 100;
    let wait = poll;
    if (this.inflight < this.o.concurrency) {
      const at = this.o.store.nextWakeAt();
      if (at !== null) wait = Math.max(0, Math.min(poll, at - this.now() + 1));
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, wait);
      this.wakeUp = () => {
        clearTimeout(timer);
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
        this.o.store.releaseLease(task.id, this.id);
        return;
      }
      task = task.kind === 'exec' ? await this.exec(task) : this.control(task);
    }
  }

  /** Runs `fn` on one run in one transaction, then publishes its events. */
  private tx<T>(task: TaskRow, fn: (rt: RunTx, run: RunRow) => T): { value: T | undefined; chained: TaskRow | undefined } {
    let rt: RunTx | undefined;
    let value: T | undefined;
    try {
      this.o.store.transaction(() => {
        if (!this.o.store.ownedTask(task.id, this.id)) return; // lease lost (we stalled): someone else has it
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
      this.failRunOnBug(task, err);
      return { value: undefined, chained: undefined };
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

  private control(task: TaskRow): TaskRow | undefined {
    const payload = task.payload ? (JSON.parse(task.payload) as Record<string, unknown>) : {};
    return this.tx(task, (rt, run) => {
      const step = task.step_id ? rt.stepRow(task.step_id) : undefined;
      switch (task.kind) {
        case 'start':
          if (run.status === 'PENDING') rt.start();
          break;
        case 'wake':
          if (step) {
            rt.wake(
              step,
              wakeReason(payload.reason),
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
    }).chained;
  }

  /** Delivers an operation step: begin (commit RUNNING), execute, complete (commit the outcome). */
  private async exec(task: TaskRow): Promise<TaskRow | undefined> {
    let current = this.tx(task, (rt, run) => this.begin(rt, run, task) ?? this.continueChain(rt, run));
    for (;;) {
      const work = current.value;
      if (!work) return current.chained;
      const result = await this.execute(work);
      if (!result) {
        this.o.store.releaseLease(work.task.id, this.id); // shutdown: delivered again on the next start
        return undefined;
      }
      current = this.tx(work.task, (rt, run) => {
        const step = rt.stepRow(work.step.id);
        if (step && step.status === 'RUNNING' && step.attempt === work.step.attempt) rt.complete(step, result);
        return this.continueChain(rt, run);
      });
    }
  }

  /**
   * Goes on with the run's next step inside the same transaction while it is due now: steps of inline executors (no
   * side effects outside Station) complete here too, so a chain of them shares one commit; the first step with real
   * work is begun (committed RUNNING with its input) and returned to be executed. Bounded, so other runs get a turn.
   */
  private continueChain(rt: RunTx, run: RunRow): Work | undefined {
    const deadline = performance.now() + CHAIN_BUDGET_MS;
    for (let n = 0; n < CHAIN_MAX_STEPS && this.running && performance.now() < deadline; n++) {
      const next = rt.chained;
      if (!next || next.kind !== 'exec' || run.paused || TERMINAL_RUN.has(run.status)) return undefined;
      rt.continueWith(next);
      const work = this.begin(rt, run, next);
      if (work) return work;
    }
    return undefined;
  }

  private begin(rt: RunTx, run: RunRow, task: TaskRow): Work | undefined {
    const step = task.step_id ? rt.stepRow(task.step_id) : undefined;
    if (!step || TERMINAL_STEP.has(step.status) || TERMINAL_RUN.has(run.status) || step.wait !== null) return undefined;
    if (run.paused) {
      // Paused after this task was chained or claimed: leave it for resume.
      rt.keepTask();
      this.o.store.releaseLease(task.id, this.id);
      return undefined;
    }
    rt.beginDelivery(step);
    const op = rt.operationOf(step);
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

  /** Runs an executor with its timeout, lease heartbeat and cancel/shutdown abort. undefined: aborted by shutdown. */
  private async execute(work: Work): Promise<ExecResult | undefined> {
    const controller = new AbortController();
    const entry: { controller: AbortController; reason?: string } = { controller };
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
    timers.push(
      setInterval(() => {
        if (!this.o.store.extendLease(work.task.id, this.id, this.now() + this.o.leaseMs)) {
          entry.reason = 'lease';
          controller.abort(new Error('lease lost'));
        }
      }, Math.max(50, this.o.leaseMs / 3)),
    );
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
    this.o.logger.debug({ run_id: work.ctx.runId, step_id: work.step.id, attempt: work.ctx.attempt, duration_ms: Date.now() - started }, 'executor returned');
    return result;
  }

  /** Aborts executors whose step was cancelled (by this or another process) or whose run ended. */
  private watchExecuting(): void {
    for (const [stepId, entry] of this.executing) {
      const step = this.o.store.step(stepId);
      if (!step || step.status !== 'RUNNING') {
        entry.reason = 'cancelled';
        entry.controller.abort(new Error('step cancelled'));
      }
    }
  }

  private heartbeat(): void {
    try {
      this.o.store.heartbeat(this.id, os.hostname(), process.pid, this.startedAt, this.now());
    } catch (err) {
      this.o.logger.warn({ err }, 'engine heartbeat failed');
    }
  }

  /** Engines on this host whose process is gone: their leases are released at once instead of after expiry. */
  private reclaimDeadWorkers(): void {
    for (const w of this.o.store.workersOnHost(os.hostname())) {
      if (w.id === this.id || isAlive(w.pid)) continue;
      const released = this.o.store.transaction(() => {
        const n = this.o.store.releaseLeases(w.id);
        this.o.store.removeWorker(w.id);
        return n;
      });
      if (released > 0) this.o.logger.info({ worker: w.id, tasks: released }, 'reclaimed the leases of a dead engine');
    }
  }

  private publish(events: RunEvent[]): void {
    for (const e of events) {
      this.o.events.emit(e);
      logEvent(this.o.logger, e);
    }
  }
}

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

/** The outcome of an attempt that ran out of its state's timeoutSeconds. */
function stepTimedOut(step: StepRow, seconds: number): ExecResult {
  return { kind: 'error', error: { code: 'STN_E_STEP_TIMEOUT', message: `state "${step.state_name}" timed out after ${seconds} s` } };
}

function wakeReason(reason: unknown): WakeReason {
  return (WAKE_REASONS as readonly unknown[]).includes(reason) ? (reason as WakeReason) : 'timer';
}
