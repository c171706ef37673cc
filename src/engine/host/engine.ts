import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { EXECUTORS, type ExecutorRegistry } from '../../executors/registry.js';
import type { TaskRow } from '../../store/runs.js';
import { Checkpointer } from '../../store/checkpointer.js';
import { isTransientStorageError, TransientEpisode } from '../../store/transient.js';
import { hostLeaseClock } from '../lease.js';
import { JsonCache } from '../../store/json-cache.js';
import { RunCache } from '../run-cache.js';
import { Scopes } from '../scopes.js';
import { Specs } from '../specs.js';
import { Deliveries } from './delivery.js';
import { Executions } from './executions.js';
import { InFlight } from './inflight.js';
import type { EngineOptions, HostContext } from './options.js';
import { Pacer, yieldToEventLoop } from './pacing.js';
import { SecretDeferral } from './secret-deferral.js';
import { CHAIN_YIELD_TASKS, Tasks } from './tasks.js';
import { Transactions } from './transactions.js';
import { Workers } from './workers.js';

/** How many control tasks one round handles before exec slots are filled and the loop goes round again. */
const CONTROL_ROUND_TASKS = 64;

/**
 * The engine: claims due tasks from the durable queue under a lease, runs them, and commits each outcome in one
 * transaction (docs/runs.md, durability). Any number of engines (processes) may share a database.
 */
export class Engine {
  readonly id: string;
  private readonly host: HostContext;
  private readonly inflight = new InFlight();
  private readonly executions: Executions;
  private readonly workers: Workers;
  private readonly deferral: SecretDeferral;
  private readonly pacer: Pacer;
  private readonly txs: Transactions;
  private readonly tasks: Tasks;
  private wakeUp: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private checkpointer: Checkpointer | undefined;
  /** Waiting before the next claim after a transient storage error. */
  private claimBackoffMs = 0;
  /** The actions whose executors work inside the transaction (JSON array): their steps need no execution slot. */
  private readonly inlineActions: string;

  constructor(private readonly o: EngineOptions) {
    this.id = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    const now = () => (o.clock ?? Date).now();
    const lease = o.leaseClock ?? hostLeaseClock();
    this.host = {
      o,
      id: this.id,
      now,
      lease,
      renewMs: Math.max(50, o.leaseMs / 3),
      storage: new TransientEpisode(o.logger, 'the engine'),
      held: new Set(),
      running: false,
      abandon: false,
    };
    const executors: ExecutorRegistry = o.executors ?? EXECUTORS;
    this.inlineActions = JSON.stringify(Object.entries(executors).filter(([, e]) => e?.inline).map(([name]) => name));
    const specs = o.specs ?? new Specs(o.definitions);
    this.txs = new Transactions(this.host, {
      store: o.store,
      scopes: new Scopes(o.store),
      runCache: new RunCache(o.store),
      secrets: o.secrets,
      now,
      random: o.random ?? Math.random,
      spec: (run) => specs.forRun(run),
      createChildRun: o.createChildRun,
      approvals: o.approvals,
      owner: this.id,
      leaseMs: o.leaseMs,
      lease,
      json: new JsonCache(),
    });
    this.executions = new Executions(this.host);
    this.workers = new Workers(this.host, Object.keys(o.secrets.values).sort());
    this.deferral = new SecretDeferral(this.host);
    this.pacer = new Pacer(() => this.workers.othersAlive);
    this.tasks = new Tasks(this.host, this.txs, new Deliveries(this.host, executors, this.deferral), this.executions, this.pacer);
  }

  /** Starts claiming work. Leases left by dead engines on this host are released first, so their steps resume now. */
  start(): void {
    if (this.host.running) return;
    this.host.running = true;
    this.host.abandon = false;
    this.executions.resetStall();
    this.workers.heartbeat();
    try {
      this.workers.reclaimDead();
    } catch (err) {
      // A read-only or full database: the store's health reports it; claims are retried by the loop.
      this.o.logger.warn({ err }, 'could not release the leases of dead engines');
    }
    this.timers.push(setInterval(() => this.workers.heartbeat(), 5000));
    this.timers.push(
      setInterval(() => {
        this.executions.checkStall();
        this.executions.watch();
      }, 100),
    );
    this.checkpointer = Checkpointer.start(this.o.store.db);
    this.loopDone = this.loop();
  }

  /**
   * Stops: no new work is claimed; running steps get `graceMs` to finish and commit, the rest are aborted and their
   * leases released (they are delivered again, with the same attempt, on the next start). Resolves as soon as the
   * last of them has settled: at once when nothing runs.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.host.running) return;
    this.host.running = false;
    this.poke();
    await this.inflight.settledWithin(graceMs);
    this.host.abandon = true;
    this.executions.abortAll();
    await this.inflight.settled();
    await this.loopDone;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.workers.leave();
    await this.checkpointer?.stop();
    this.checkpointer = undefined;
  }

  /** Wakes the loop: new work may be due (a run was created, a signal written, the fake clock moved). */
  poke(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  /** Steps executing in this engine's slots now. */
  get busy(): number {
    return this.inflight.size;
  }

  /**
   * Each round handles the due control tasks first (start, signal, wake, child, cancel, timeout, and the steps of
   * inline actions: short transactions that never wait for an execution slot), then fills free slots with exec tasks.
   * Nothing thrown here may end the loop (the process would run on without an engine): errors are logged.
   */
  private async loop(): Promise<void> {
    while (this.host.running) {
      let more = false;
      try {
        // Woken after a stall: find out which in-flight deliveries lost their lease before anything else happens.
        this.executions.checkStallIfLate();
        more = await this.controlRound();
        this.fillSlots();
      } catch (err) {
        this.o.logger.error({ err, error_type: 'engine' }, 'engine loop error');
      }
      if (!this.host.running) break;
      if (more && this.claimBackoffMs === 0) await yieldToEventLoop();
      else await this.idle().catch((err: unknown) => this.o.logger.error({ err, error_type: 'engine' }, 'engine idle error'));
    }
  }

  /** Handles due control tasks, one transaction each with the event loop free in between; true if more may be due. */
  private async controlRound(): Promise<boolean> {
    for (let n = 0; n < CONTROL_ROUND_TASKS; n++) {
      if (!this.host.running) return false;
      const task = this.claim('control');
      if (!task) return false;
      await this.withoutSlot(task);
      // A cancel, a run timeout or a failure may have ended steps that run here: stop them now, not at the next tick.
      if (this.executions.size > 0) this.executions.watch(task.run_id);
      await this.pacer.breathe();
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
      if (n > 0) await this.pacer.breathe();
      if (!this.host.running) break;
      if (task.kind === 'exec' && this.inflight.size < this.o.concurrency) {
        this.launch(task);
        return;
      }
      task = await this.tasks.handle(task, true);
    }
    if (task) await this.txs.releaseLease(task);
  }

  private fillSlots(): void {
    while (this.host.running && this.inflight.size < this.o.concurrency) {
      const task = this.claim('exec');
      if (!task) return;
      this.launch(task);
    }
  }

  private launch(task: TaskRow): void {
    const work = this.tasks
      .process(task)
      .catch((err: unknown) => this.o.logger.error({ err, run_id: task.run_id, error_type: 'engine' }, 'task failed'));
    this.inflight.add(work, () => this.poke());
  }

  /** Claims a due task of a kind; undefined when none is due (or storage is busy: the loop then backs off). */
  private claim(kind: 'control' | 'exec'): TaskRow | undefined {
    if (this.claimBackoffMs > 0) return undefined;
    const { o, id, storage, lease } = this.host;
    try {
      const task = o.store.transaction(() =>
        o.store.claimTask({
          owner: id,
          now: this.host.now(),
          leaseNow: lease.now(),
          leaseMs: o.leaseMs,
          boot: lease.boot,
          root: o.onlyRunTree ?? null,
          kind,
          skip: this.deferral.skipped(),
          inline: this.inlineActions,
        }),
      );
      storage.ok();
      return task;
    } catch (err) {
      if (isTransientStorageError(err)) this.claimBackoffMs = storage.failed(err, { op: 'claim' });
      else o.logger.error({ err, error_type: 'claim' }, 'claiming a task failed');
      return undefined;
    }
  }

  /** Waits until the next task is due (at most pollMs: other processes write work too), or until poked. */
  private idle(): Promise<void> {
    const { o } = this.host;
    const poll = o.pollMs ?? 100;
    let wait = poll;
    if (this.claimBackoffMs > 0) {
      wait = this.claimBackoffMs;
      this.claimBackoffMs = 0;
    } else {
      try {
        // With every slot busy only control tasks can be taken: an exec task that is due must not wake the loop.
        const now = this.host.now();
        const exec = this.inflight.size < o.concurrency;
        const at = o.store.nextWakeAt(this.id, now, this.host.lease.now(), exec, o.onlyRunTree ?? null, this.deferral.skipped(), this.inlineActions);
        if (at !== null) wait = Math.max(0, Math.min(poll, at - now + 1));
      } catch (err) {
        if (!isTransientStorageError(err)) throw err;
      }
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        this.pacer.rested();
        resolve();
      }, wait);
      this.wakeUp = () => {
        clearTimeout(timer);
        this.pacer.rested();
        resolve();
      };
    });
  }
}
