import type { Db } from './db.js';
import { storageHealth, type StorageHealth } from './health.js';
import { FRAME_INSERT_SQL, RUN_UPDATE_SQL, RunBatchWriter, STEP_UPDATE_SQL, type EventInsert, type RunWriteBatch } from './run-batch.js';

import type { CancelRequest, RunPhase, RunStatus, StepStatus, TaskKind, TaskPayloads } from '../model/run.js';
import { readPatch, writeTaskPayload } from './payloads.js';
import { fromStoredRun, storedRunFlags, type StoredRunRow } from './run-rows.js';

// The statuses and terminal sets belong to the run model; re-exported for the store's consumers.
export { RUN_STATUSES, RUN_TRIGGERS, TERMINAL_RUN, TERMINAL_STEP } from '../model/run.js';
export type { RunStatus, StepStatus } from '../model/run.js';

export interface RunRow {
  id: string;
  workflow_id: string;
  environment: string;
  version: number;
  status: RunStatus;
  input: string;
  output: string | null;
  error: string | null;
  trigger: string;
  vars: string | null;
  idempotency_key: string | null;
  parent_run_id: string | null;
  parent_step_id: string | null;
  /** The run at the top of a tree of child runs (itself for a top-level run). */
  root_run_id: string;
  initiator: string | null;
  deadline_at: number | null;
  /** Paused: no new step starts (a running one finishes). */
  paused: boolean;
  /** A cancel asked of the run and not yet applied (the engine applies it before any step result). */
  cancel: CancelRequest | null;
  phase: RunPhase;
  final_status: string | null;
  /** Whether every compensation succeeded; null: the run did not compensate. */
  compensated: boolean | null;
  compensation_errors: string | null;
  event_seq: number;
  completion_seq: number;
  patch_seq: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

export interface FrameRow {
  run_id: string;
  id: number;
  parent_id: number | null;
  owner_step_id: string | null;
  key: string;
  /** Where the scope is in the run, for people: `fanout/logs/`, `sweep[2]/`. */
  path: string;
  /** Where its states are in the definition: '' (top level), `fanout/branch:logs`, `sweep/iterator`. */
  def_path: string;
  vars: string | null;
  status: string;
}

export interface StepRow {
  id: string;
  run_id: string;
  /** Orders the steps of a run (the run's event number when the step was created). */
  seq: number;
  frame_id: number;
  state_name: string;
  path: string;
  visit: number;
  type: string;
  action: string | null;
  status: StepStatus;
  attempt: number;
  deliveries: number;
  input: string | null;
  output: string | null;
  error: string | null;
  wait: string | null;
  items: string | null;
  pending: number | null;
  next_index: number | null;
  compensation_of: string | null;
  completed_seq: number | null;
  created_at: string;
  started_at: string | null;
  attempt_started_ms: number | null;
  finished_at: string | null;
  duration_ms: number | null;
}

export interface EventRow {
  run_id: string;
  seq: number;
  type: string;
  step_id: string | null;
  data: string | null;
  created_at: string;
}

export type { TaskKind } from '../model/run.js';

export interface TaskRow {
  id: number;
  run_id: string;
  kind: TaskKind;
  step_id: string | null;
  payload: string | null;
  run_at: number;
  lease_owner: string | null;
  /** Lease deadline on the host's monotonic clock (ms), valid within the boot `lease_boot`. */
  lease_until: number | null;
  /** Fencing token: bumped by every claim and every reuse of the row; a delivery commits only while it still matches. */
  lease_token: number;
  lease_boot: string | null;
}

/** What a claim needs: who claims, the due time (wall clock) and the lease (monotonic clock of this boot). */
export interface ClaimParams {
  owner: string;
  /** Tasks due at or before this wall-clock time (ms). */
  now: number;
  /** The lease clock's now and the lease's length (ms). */
  leaseNow: number;
  leaseMs: number;
  boot: string;
  /** Only this tree of runs (a foreground `stn run`); null: every run. */
  root: string | null;
  /** `control`: control tasks and exec tasks of inline actions; `exec` (default): exec tasks. */
  kind?: 'control' | 'exec';
  /** A JSON array of step ids whose tasks this engine leaves to others. */
  skip?: string;
  /** A JSON array of the actions whose executors are inline. */
  inline?: string;
}

/** An engine process, as its heartbeat recorded it. */
export interface WorkerRow {
  id: string;
  pid: number;
  heartbeat_at: number;
  boot_id: string | null;
  pid_ns: string | null;
}

/** A context write, decoded: at `path` (segments; none: the whole scope) of frame `frame_id`, `op` with `value`. */
export interface ContextPatch {
  seq: number;
  frame_id: number;
  path: string[];
  op: 'set' | 'merge';
  value: unknown;
}

export interface PatchRow {
  run_id: string;
  seq: number;
  frame_id: number;
  path: string;
  op: 'set' | 'merge';
  value: string | null;
}

export interface SignalRow {
  id: number;
  run_id: string;
  name: string;
  payload: string | null;
  consumed_by: string | null;
  created_at: string;
}

export interface RunFilter {
  workflowId?: string | undefined;
  environment?: string | undefined;
  status?: string | undefined;
  /** How the run was started: `manual`, `cron`, `webhook` or `workflow` (a child run). */
  trigger?: string | undefined;
  /** Runs created at or after this time (ISO-8601). */
  since?: string | undefined;
  /** Runs created before this time (ISO-8601). */
  until?: string | undefined;
  /** Runs created before this id (ids sort by creation time): cursor pagination. */
  before?: string | undefined;
  limit?: number | undefined;
}

/**
 * The smallest run id of a time: ids start with their creation time (`newRunId`), so a time window is a range of ids
 * and pages through it use the primary key or the `(…, id)` indexes instead of a scan and a sort.
 */
function runIdFloor(iso: string): string {
  return `r${Date.parse(iso).toString(36).padStart(9, '0')}`;
}

/**
 * Which tasks a claim of a kind takes (@exec = 1: exec tasks; else control tasks and the exec tasks of inline actions,
 * @inline being a JSON array of action names).
 */
const CLAIMABLE_KIND = `(CASE WHEN @exec = 1 THEN t.kind = 'exec' ELSE t.kind != 'exec'
  OR (SELECT s.action FROM workflow_run_steps s WHERE s.id = t.step_id) IN (SELECT value FROM json_each(@inline)) END)`;

/** Every SQL statement about runs, steps, events, context patches, signals and the task queue. */
export class RunStore {
  private readonly s;
  /** Failed and committed writes are reported here (a full disk or read-only file makes /readyz not ready). */
  private readonly health: StorageHealth;

  /** Writes the batches of the engine's transactions (see RunWriteBatch). */
  readonly batch: RunBatchWriter;

  constructor(readonly db: Db) {
    this.health = storageHealth(db);
    this.batch = new RunBatchWriter(db);
    this.s = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      runInsert: db.prepare(
        `INSERT INTO workflow_runs (id, workflow_id, environment, version, status, input, trigger, vars, env_revision,
           idempotency_key, parent_run_id, parent_step_id, root_run_id, initiator, deadline_at, created_at, updated_at)
         VALUES (@id, @workflow_id, @environment, @version, @status, @input, @trigger, @vars, @env_revision,
           @idempotency_key, @parent_run_id, @parent_step_id, @root_run_id, @initiator, @deadline_at, @created_at, @created_at)`,
      ),
      runGet: db.prepare<[string], StoredRunRow>('SELECT * FROM workflow_runs WHERE id = ?'),
      runByKey: db.prepare<[string, string, string], StoredRunRow>(
        'SELECT * FROM workflow_runs WHERE environment = ? AND workflow_id = ? AND idempotency_key = ?',
      ),
      runUpdate: db.prepare(RUN_UPDATE_SQL),
      runChildren: db.prepare<[string], StoredRunRow>('SELECT * FROM workflow_runs WHERE parent_run_id = ?'),
      frameInsert: db.prepare(FRAME_INSERT_SQL),
      frameGet: db.prepare<[string, number], FrameRow>('SELECT * FROM workflow_run_frames WHERE run_id = ? AND id = ?'),
      frameMax: db.prepare<[string], { max: number | null }>('SELECT MAX(id) AS max FROM workflow_run_frames WHERE run_id = ?'),
      frameStatus: db.prepare('UPDATE workflow_run_frames SET status = ? WHERE run_id = ? AND id = ?'),
      framesOfStep: db.prepare<[string, string], FrameRow>(
        'SELECT * FROM workflow_run_frames WHERE run_id = ? AND owner_step_id = ? ORDER BY id',
      ),
      frameKeysOfStep: db.prepare<[string, string], { id: number; key: string }>(
        'SELECT id, key FROM workflow_run_frames WHERE run_id = ? AND owner_step_id = ? ORDER BY id',
      ),
      framesOfRun: db.prepare<[string], FrameRow>('SELECT * FROM workflow_run_frames WHERE run_id = ? ORDER BY id'),
      patchInsert: db.prepare(
        'INSERT INTO workflow_run_context (run_id, seq, frame_id, path, op, value) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      stepEvents: db.prepare<[string, string], EventRow>('SELECT * FROM workflow_run_events WHERE run_id = ? AND step_id = ? ORDER BY seq'),
      patchesOfRun: db.prepare<[string], PatchRow>('SELECT * FROM workflow_run_context WHERE run_id = ? ORDER BY seq'),
      patchesAfter: db.prepare<[string, number], PatchRow>(
        'SELECT * FROM workflow_run_context WHERE run_id = ? AND seq > ? ORDER BY seq',
      ),
      stepInsert: db.prepare(
        `INSERT INTO workflow_run_steps (id, run_id, seq, frame_id, state_name, path, visit, type, action, status, attempt,
           input, items, pending, next_index, compensation_of, created_at)
         VALUES (@id, @run_id, @seq, @frame_id, @state_name, @path, @visit, @type, @action, @status, @attempt,
           @input, @items, @pending, @next_index, @compensation_of, @created_at)`,
      ),
      stepGet: db.prepare<[string], StepRow>('SELECT * FROM workflow_run_steps WHERE id = ?'),
      stepUpdate: db.prepare(STEP_UPDATE_SQL),
      stepCounters: db.prepare('UPDATE workflow_run_steps SET pending = @pending, next_index = @next_index WHERE id = @id'),
      stepExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM workflow_run_steps WHERE id = ?'),
      stepsOfRun: db.prepare<[string], StepRow>('SELECT * FROM workflow_run_steps WHERE run_id = ? ORDER BY seq'),
      lastSucceeded: db.prepare<[string, number], Pick<StepRow, 'id' | 'output' | 'completed_seq'>>(
        `SELECT id, output, completed_seq FROM workflow_run_steps
         WHERE run_id = ? AND frame_id = ? AND completed_seq IS NOT NULL AND type != 'switch' AND compensation_of IS NULL
         ORDER BY completed_seq DESC LIMIT 1`,
      ),
      activeSteps: db.prepare<[string], StepRow>(
        `SELECT * FROM workflow_run_steps WHERE run_id = ?
           AND status IN ('PENDING', 'RUNNING', 'WAITING_APPROVAL', 'WAITING_SIGNAL') ORDER BY seq`,
      ),
      activeStatuses: db.prepare<[string], { status: string }>(
        `SELECT DISTINCT status FROM workflow_run_steps WHERE run_id = ?
           AND status IN ('PENDING', 'RUNNING', 'WAITING_APPROVAL', 'WAITING_SIGNAL')`,
      ),
      compensable: db.prepare<[string], StepRow>(
        `SELECT s.* FROM workflow_run_steps s
         WHERE s.run_id = ? AND s.status = 'SUCCEEDED' AND s.type = 'operation' AND s.compensation_of IS NULL
           AND NOT EXISTS (SELECT 1 FROM workflow_run_steps c WHERE c.run_id = s.run_id AND c.compensation_of = s.id)
         ORDER BY s.completed_seq DESC`,
      ),
      compensations: db.prepare<[string], StepRow>(
        'SELECT * FROM workflow_run_steps WHERE run_id = ? AND compensation_of IS NOT NULL ORDER BY seq',
      ),
      waitingForSignal: db.prepare<[string, string], StepRow>(
        `SELECT * FROM workflow_run_steps WHERE run_id = ? AND status = 'WAITING_SIGNAL'
           AND json_extract(wait, '$.name') = ? ORDER BY seq LIMIT 1`,
      ),
      eventInsert: db.prepare(
        'INSERT INTO workflow_run_events (run_id, seq, type, step_id, data, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      eventsAfter: db.prepare<[string, number, number], EventRow>(
        'SELECT * FROM workflow_run_events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      taskInsert: db.prepare(
        `INSERT INTO workflow_tasks (run_id, kind, step_id, payload, run_at, lease_owner, lease_until, lease_boot)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      // A lease held by this same engine is never taken over by it, even expired: its delivery may still be running
      // (the engine stalled), and the engine revalidates or gives up its own leases itself (see Engine).
      taskClaim: db.prepare<{ owner: string; now: number; leaseNow: number; until: number; boot: string; root: string | null; exec: number; skip: string; inline: string }, TaskRow>(
        `UPDATE workflow_tasks SET lease_owner = @owner, lease_until = @until, lease_boot = @boot, lease_token = lease_token + 1
         WHERE id = (
           SELECT t.id FROM workflow_tasks t JOIN workflow_runs r ON r.id = t.run_id
           WHERE t.run_at <= @now
             AND (t.lease_owner IS NULL
               OR (t.lease_owner != @owner AND (t.lease_until < @leaseNow OR t.lease_boot IS NOT @boot)))
             AND ${CLAIMABLE_KIND}
             AND (r.paused = 0 OR t.kind IN ('cancel', 'timeout'))
             AND (@root IS NULL OR r.root_run_id = @root)
             AND (@skip = '[]' OR t.step_id IS NULL OR t.step_id NOT IN (SELECT value FROM json_each(@skip)))
           ORDER BY t.run_at, t.id LIMIT 1)
         RETURNING *`,
      ),
      taskLease: db.prepare<[number], { lease_owner: string | null; lease_token: number }>(
        'SELECT lease_owner, lease_token FROM workflow_tasks WHERE id = ?',
      ),
      taskOwnExpired: db.prepare<[string, number], { id: number; lease_token: number }>(
        'SELECT id, lease_token FROM workflow_tasks WHERE lease_owner = ? AND lease_until < ?',
      ),
      taskPendingCancel: db.prepare<[string], TaskRow>(
        "SELECT * FROM workflow_tasks WHERE run_id = ? AND kind = 'cancel' ORDER BY id LIMIT 1",
      ),
      taskDelete: db.prepare('DELETE FROM workflow_tasks WHERE id = ?'),
      taskDeleteOfRun: db.prepare('DELETE FROM workflow_tasks WHERE run_id = ? AND id != ?'),
      taskDeleteOfStep: db.prepare('DELETE FROM workflow_tasks WHERE step_id = ? AND id != ?'),
      taskExtend: db.prepare('UPDATE workflow_tasks SET lease_until = ? WHERE id = ? AND lease_owner = ? AND lease_token = ?'),
      taskRelease: db.prepare('UPDATE workflow_tasks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?'),
      taskReleaseOne: db.prepare(
        'UPDATE workflow_tasks SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ? AND lease_token = ?',
      ),
      nextDue: db.prepare<{ exec: number; root: string | null; skip: string; inline: string }, { at: number | null }>(
        `SELECT MIN(t.run_at) AS at FROM workflow_tasks t JOIN workflow_runs r ON r.id = t.run_id
         WHERE t.lease_owner IS NULL AND (r.paused = 0 OR t.kind IN ('cancel', 'timeout'))
           AND (@exec = 1 OR ${CLAIMABLE_KIND}) AND (@root IS NULL OR r.root_run_id = @root)
           AND (@skip = '[]' OR t.step_id IS NULL OR t.step_id NOT IN (SELECT value FROM json_each(@skip)))`,
      ),
      nextLeaseExpiry: db.prepare<{ owner: string; exec: number }, { at: number | null }>(
        "SELECT MIN(lease_until) AS at FROM workflow_tasks WHERE lease_owner IS NOT NULL AND lease_owner != @owner AND (@exec = 1 OR kind != 'exec')",
      ),
      queueDepth: db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM workflow_tasks WHERE run_at <= ?'),
      signalInsert: db.prepare('INSERT INTO workflow_run_signals (run_id, name, payload, created_at) VALUES (?, ?, ?, ?)'),
      signalGet: db.prepare<[number], SignalRow>('SELECT * FROM workflow_run_signals WHERE id = ?'),
      signalUnconsumed: db.prepare<[string, string], SignalRow>(
        'SELECT * FROM workflow_run_signals WHERE run_id = ? AND name = ? AND consumed_by IS NULL ORDER BY id LIMIT 1',
      ),
      signalConsume: db.prepare('UPDATE workflow_run_signals SET consumed_by = ? WHERE id = ?'),
      workerUpsert: db.prepare(
        `INSERT INTO engine_workers (id, hostname, pid, started_at, heartbeat_at, boot_id, pid_ns, secret_names) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, secret_names = excluded.secret_names`,
      ),
      workersSince: db.prepare<[number], { id: string; secret_names: string }>(
        'SELECT id, secret_names FROM engine_workers WHERE heartbeat_at >= ?',
      ),
      workerDelete: db.prepare('DELETE FROM engine_workers WHERE id = ?'),
      workersOnHost: db.prepare<[string], WorkerRow>(
        'SELECT id, pid, heartbeat_at, boot_id, pid_ns FROM engine_workers WHERE hostname = ?',
      ),
      stepStatusesOf: db.prepare<[string], { id: string; status: string }>(
        'SELECT id, status FROM workflow_run_steps WHERE id = ?',
      ),
    };
  }

  /**
   * Runs `fn` in an IMMEDIATE transaction (a nested call joins the outer one). Hand-rolled with prepared BEGIN/COMMIT:
   * `db.transaction(fn)` builds a new wrapper per call, which shows on the engine's one-transaction-per-step path.
   */
  transaction<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    try {
      this.s.begin.run();
      const result = fn();
      this.s.commit.run();
      this.health.wrote();
      return result;
    } catch (err) {
      if (this.db.inTransaction) this.s.rollback.run();
      this.health.note(err, 'transaction');
      throw err;
    }
  }

  /** Commits an engine transaction's batch of writes on one run (inside the caller's transaction). */
  commitBatch(b: RunWriteBatch): void {
    this.batch.flush(b);
    this.batch.finish(b);
  }

  // --- runs
  /** `env_revision`: the environment revision whose variables `vars` holds (null: none recorded yet). */
  insertRun(
    row: Pick<RunRow, 'id' | 'workflow_id' | 'environment' | 'version' | 'status' | 'input' | 'trigger' | 'vars' |
      'idempotency_key' | 'parent_run_id' | 'parent_step_id' | 'root_run_id' | 'initiator' | 'deadline_at' | 'created_at'> & { env_revision: number | null },
  ): void {
    this.s.runInsert.run(row);
  }
  run(id: string): RunRow | undefined {
    return fromStoredRun(this.s.runGet.get(id));
  }
  runByIdempotencyKey(env: string, workflowId: string, key: string): RunRow | undefined {
    return fromStoredRun(this.s.runByKey.get(env, workflowId, key));
  }
  updateRun(row: RunRow): void {
    this.s.runUpdate.run({ ...row, ...storedRunFlags(row) });
  }
  childRuns(parentId: string): RunRow[] {
    return this.s.runChildren.all(parentId).map((r) => fromStoredRun(r));
  }
  listRuns(filter: RunFilter): RunRow[] {
    const where: string[] = [];
    const params: Array<string | number> = [];
    const add = (clause: string, value: string | undefined) => {
      if (value === undefined) return;
      where.push(clause);
      params.push(value);
    };
    add('workflow_id = ?', filter.workflowId);
    add('environment = ?', filter.environment);
    add('status = ?', filter.status);
    add("json_extract(trigger, '$.type') = ?", filter.trigger);
    add('id >= ?', filter.since === undefined ? undefined : runIdFloor(filter.since));
    add('id < ?', filter.until === undefined ? undefined : runIdFloor(filter.until));
    add('id < ?', filter.before);
    params.push(filter.limit ?? 50);
    return this.db
      .prepare<Array<string | number>, StoredRunRow>(
        `SELECT * FROM workflow_runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
      )
      .all(...params)
      .map((r) => fromStoredRun(r));
  }

  // --- frames and context
  insertFrame(row: FrameRow): void {
    this.s.frameInsert.run(row);
  }
  frame(runId: string, id: number): FrameRow | undefined {
    return this.s.frameGet.get(runId, id);
  }
  maxFrameId(runId: string): number {
    return this.s.frameMax.get(runId)?.max ?? -1;
  }
  setFrameStatus(runId: string, id: number, status: string): void {
    this.s.frameStatus.run(status, runId, id);
  }
  framesOfStep(runId: string, stepId: string): FrameRow[] {
    return this.s.framesOfStep.all(runId, stepId);
  }
  /** The ids and keys of a step's scopes only (a foreach's join reads thousands of them). */
  frameKeysOfStep(runId: string, stepId: string): Array<{ id: number; key: string }> {
    return this.s.frameKeysOfStep.all(runId, stepId);
  }
  framesOfRun(runId: string): FrameRow[] {
    return this.s.framesOfRun.all(runId);
  }
  insertPatch(runId: string, seq: number, frameId: number, path: string, op: 'set' | 'merge', value: string): void {
    this.s.patchInsert.run(runId, seq, frameId, path, op, value);
  }
  /** The run's context patches after `afterSeq`, decoded (an unknown operation is refused, never guessed at). */
  patches(runId: string, afterSeq = 0): ContextPatch[] {
    const rows = afterSeq > 0 ? this.s.patchesAfter.all(runId, afterSeq) : this.s.patchesOfRun.all(runId);
    return rows.map(readPatch);
  }

  // --- steps
  insertStep(row: Pick<StepRow, 'id' | 'run_id' | 'seq' | 'frame_id' | 'state_name' | 'path' | 'visit' | 'type' | 'action' |
    'status' | 'attempt' | 'input' | 'items' | 'pending' | 'next_index' | 'compensation_of' | 'created_at'>): void {
    this.s.stepInsert.run(row);
  }
  step(id: string): StepRow | undefined {
    return this.s.stepGet.get(id);
  }
  updateStep(row: StepRow): void {
    this.s.stepUpdate.run(row);
  }
  /** Writes only a parallel or foreach step's progress (pending, next_index), not its item list again. */
  updateStepCounters(row: Pick<StepRow, 'id' | 'pending' | 'next_index'>): void {
    this.s.stepCounters.run({ id: row.id, pending: row.pending, next_index: row.next_index });
  }
  stepExists(id: string): boolean {
    return this.s.stepExists.get(id) !== undefined;
  }
  steps(runId: string): StepRow[] {
    return this.s.stepsOfRun.all(runId);
  }
  /** The step that succeeded last in a frame (switch steps and compensations aside): its output and completion order. */
  lastSucceeded(runId: string, frameId: number): Pick<StepRow, 'id' | 'output' | 'completed_seq'> | undefined {
    return this.s.lastSucceeded.get(runId, frameId);
  }
  activeSteps(runId: string): StepRow[] {
    return this.s.activeSteps.all(runId);
  }
  activeStatuses(runId: string): Set<string> {
    return new Set(this.s.activeStatuses.all(runId).map((r) => r.status));
  }
  /** SUCCEEDED operation steps not compensated yet, latest completion first. */
  compensable(runId: string): StepRow[] {
    return this.s.compensable.all(runId);
  }
  compensations(runId: string): StepRow[] {
    return this.s.compensations.all(runId);
  }
  stepWaitingForSignal(runId: string, name: string): StepRow | undefined {
    return this.s.waitingForSignal.get(runId, name);
  }

  // --- events
  /** Inserts one event row (see appendRunEvent). */
  insertEventRow(runId: string, row: EventInsert): void {
    this.s.eventInsert.run(runId, row.seq, row.type, row.step_id, row.data, row.created_at);
  }
  insertEvent(runId: string, seq: number, type: string, stepId: string | null, data: string | null, at: string): void {
    this.s.eventInsert.run(runId, seq, type, stepId, data, at);
  }
  events(runId: string, afterSeq = 0, limit = 10_000): EventRow[] {
    return this.s.eventsAfter.all(runId, afterSeq, limit);
  }
  /** The events of one step of one type or another, in order (a step's journal: its agent:turn and agent:tool events). */
  stepEvents(runId: string, stepId: string, types: readonly string[]): EventRow[] {
    return this.s.stepEvents.all(runId, stepId).filter((e) => types.includes(e.type));
  }
  /** Every event of one step after `afterSeq`, in order, at most `limit` (`GET /workflow-runs/{id}/events?stepId=`). */
  eventsOfStep(runId: string, stepId: string, afterSeq = 0, limit = Number.POSITIVE_INFINITY): EventRow[] {
    const rows: EventRow[] = [];
    for (const e of this.s.stepEvents.iterate(runId, stepId)) {
      if (e.seq <= afterSeq) continue;
      if (rows.length >= limit) break;
      rows.push(e);
    }
    return rows;
  }

  // --- tasks
  /** Inserts a task (lease_token 0), leased to `leaseOwner` if given; its payload is stored with its version. */
  insertTask<K extends TaskKind>(runId: string, kind: K, stepId: string | null, payload: TaskPayloads[K], runAt: number,
    leaseOwner: string | null = null, leaseUntil: number | null = null, leaseBoot: string | null = null): number {
    const text = writeTaskPayload(kind, payload);
    return Number(this.s.taskInsert.run(runId, kind, stepId, text, runAt, leaseOwner, leaseUntil, leaseBoot).lastInsertRowid);
  }
  /**
   * Leases the next due task (a new fencing token); never one this owner holds already. `kind`: `control` (start,
   * signal, wake, child, cancel, timeout, and exec tasks of the actions listed in `inline`, a JSON array: work done
   * inside a transaction) or `exec` (default). `skip` is a JSON array of step ids whose tasks this engine leaves to
   * others.
   */
  claimTask(p: ClaimParams): TaskRow | undefined {
    return this.s.taskClaim.get({
      owner: p.owner, now: p.now, leaseNow: p.leaseNow, until: p.leaseNow + p.leaseMs, boot: p.boot, root: p.root,
      exec: (p.kind ?? 'exec') === 'exec' ? 1 : 0, skip: p.skip ?? '[]', inline: p.inline ?? '[]',
    });
  }
  /** The cancel task a run has waiting, if any. */
  pendingCancel(runId: string): TaskRow | undefined {
    return this.s.taskPendingCancel.get(runId);
  }
  /**
   * Whether `owner` still holds the task under this fencing token (checked first in every commit of a delivery):
   * 'held', 'taken' (the row is leased to someone else or under a newer token) or 'gone' (the row was deleted).
   */
  taskLease(id: number, owner: string, token: number): 'held' | 'taken' | 'gone' {
    const row = this.s.taskLease.get(id);
    if (!row) return 'gone';
    return row.lease_owner === owner && row.lease_token === token ? 'held' : 'taken';
  }
  /** Tasks leased to `owner` whose lease ran out (lease clock). */
  expiredLeasesOf(owner: string, leaseNow: number): Array<{ id: number; lease_token: number }> {
    return this.s.taskOwnExpired.all(owner, leaseNow);
  }
  deleteTask(id: number): void {
    this.s.taskDelete.run(id);
  }
  deleteTasksOfRun(runId: string, exceptId: number): void {
    this.s.taskDeleteOfRun.run(runId, exceptId);
  }
  deleteTasksOfStep(stepId: string, exceptId: number): void {
    this.s.taskDeleteOfStep.run(stepId, exceptId);
  }
  /** Renews a lease, only under its fencing token: false when the lease was lost. */
  extendLease(id: number, owner: string, token: number, until: number): boolean {
    return this.s.taskExtend.run(until, id, owner, token).changes === 1;
  }
  releaseLeases(owner: string): number {
    return this.s.taskRelease.run(owner).changes;
  }
  releaseLease(id: number, owner: string, token: number): void {
    this.s.taskReleaseOne.run(id, owner, token);
  }
  /**
   * When the next unleased task falls due, or when the next lease of another engine expires, whichever is first
   * (wall-clock ms: the lease's remaining time on the lease clock is added to `now`). Without `exec`, of control tasks
   * only (an engine whose slots are all busy); `root`, `skip` and `inline` as for claimTask.
   */
  nextWakeAt(owner: string, now: number, leaseNow: number, exec = true, root: string | null = null, skip = '[]', inline = '[]'): number | null {
    const due = this.s.nextDue.get({ exec: exec ? 1 : 0, root, skip, inline })?.at ?? null;
    const until = this.s.nextLeaseExpiry.get({ owner, exec: exec ? 1 : 0 })?.at ?? null;
    const lease = until === null ? null : now + (until - leaseNow);
    if (due === null) return lease;
    if (lease === null) return due;
    return Math.min(due, lease);
  }
  queueDepth(now: number): number {
    return this.s.queueDepth.get(now)?.n ?? 0;
  }

  // --- signals
  insertSignal(runId: string, name: string, payload: string | null, at: string): number {
    return Number(this.s.signalInsert.run(runId, name, payload, at).lastInsertRowid);
  }
  signal(id: number): SignalRow | undefined {
    return this.s.signalGet.get(id);
  }
  unconsumedSignal(runId: string, name: string): SignalRow | undefined {
    return this.s.signalUnconsumed.get(runId, name);
  }
  consumeSignal(id: number, stepId: string): void {
    this.s.signalConsume.run(stepId, id);
  }

  // --- engine processes
  /** Records that an engine is alive, with the names (never the values) of the secrets it has. */
  heartbeat(id: string, hostname: string, pid: number, startedAt: string, now: number, bootId: string, pidNs: string | null,
    secretNames: readonly string[] = []): void {
    this.s.workerUpsert.run(id, hostname, pid, startedAt, now, bootId, pidNs, JSON.stringify(secretNames));
  }
  /** Engines that reported since `since` (ms), with the names of their secrets. */
  workersSince(since: number): Array<{ id: string; secretNames: string[] }> {
    return this.s.workersSince.all(since).map((w) => ({ id: w.id, secretNames: JSON.parse(w.secret_names) as string[] }));
  }
  removeWorker(id: string): void {
    this.s.workerDelete.run(id);
  }
  workersOnHost(hostname: string): WorkerRow[] {
    return this.s.workersOnHost.all(hostname);
  }
}
