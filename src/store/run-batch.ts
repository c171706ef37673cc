import type { Db } from './db.js';
import { storedRunFlags } from './run-rows.js';
import type { FrameRow, PatchRow, RunRow, StepRow, TaskRow } from './runs.js';

/** One event row as the engine appends it (data already serialized). */
export interface EventInsert {
  seq: number;
  type: string;
  step_id: string | null;
  data: string;
  created_at: string;
}

/** One context patch as the engine appends it (value and path already serialized). */
export type PatchInsert = Omit<PatchRow, 'run_id'>;

/**
 * The handled task turned into the next one, possibly several times in one transaction (a chain of inline steps
 * reuses one row for each step): written once, its fencing token bumped once per reuse.
 */
export type TaskReuse = Pick<TaskRow, 'id' | 'kind' | 'step_id' | 'payload' | 'lease_owner' | 'lease_until' | 'lease_boot'> & {
  /** The latest due time asked; the row keeps its own if later. */
  run_at: number;
  /** How many times the row was reused (its fencing token moves by as much). */
  bumps: number;
};

/**
 * The writes of one engine transaction on one run, decided in memory and handed to the store at once: a store whose
 * round trips cost a millisecond pays for one batch, not for one call per change. Steps created in the transaction
 * are inserted with their final row; a step changed several times is written once.
 */
export interface RunWriteBatch {
  runId: string;
  frames: FrameRow[];
  frameStatuses: Array<{ id: number; status: string }>;
  newSteps: StepRow[];
  changedSteps: StepRow[];
  /** Steps whose counters only (pending, next_index) changed: their item list is not written again. */
  counters: StepRow[];
  events: EventInsert[];
  /** Context patches, in sequence order. */
  patches: PatchInsert[];
  /** The pending rewrite of a reused task row. */
  task: TaskReuse | undefined;
  /** The handled task, when it was not reused for what comes next. */
  deleteTask: number | null;
  run: RunRow;
}

/**
 * How many rows one INSERT statement carries. Measured on the engine benchmark's run of 1,000 inline steps: 4 was
 * clearly faster than 1, 8 or 16 (wider statements cost more to bind, and each row count is one more statement to
 * prepare per connection).
 */
const ROW_CHUNK = 4;

const EVENT_COLUMNS = ['run_id', 'seq', 'type', 'step_id', 'data', 'created_at'] as const;
const PATCH_COLUMNS = ['run_id', 'seq', 'frame_id', 'path', 'op', 'value'] as const;

const STEP_COLUMNS = [
  'id', 'run_id', 'seq', 'frame_id', 'state_name', 'path', 'visit', 'type', 'action', 'status', 'attempt', 'deliveries',
  'input', 'output', 'error', 'wait', 'items', 'pending', 'next_index', 'compensation_of', 'completed_seq', 'created_at',
  'started_at', 'attempt_started_ms', 'finished_at', 'duration_ms',
] as const;

/** The statements the store shares with the batch (one text each). */
export const FRAME_INSERT_SQL = `INSERT INTO workflow_run_frames (run_id, id, parent_id, owner_step_id, key, path, def_path, vars, status)
  VALUES (@run_id, @id, @parent_id, @owner_step_id, @key, @path, @def_path, @vars, @status)`;
export const STEP_UPDATE_SQL = `UPDATE workflow_run_steps SET status = @status, attempt = @attempt, deliveries = @deliveries, input = @input,
    output = @output, error = @error, wait = @wait, items = @items, pending = @pending, next_index = @next_index,
    completed_seq = @completed_seq, started_at = @started_at, attempt_started_ms = @attempt_started_ms,
    finished_at = @finished_at, duration_ms = @duration_ms
  WHERE id = @id`;
export const TASK_REUSE_SQL = `UPDATE workflow_tasks SET kind = ?, step_id = ?, payload = ?, run_at = max(run_at, ?), lease_owner = ?,
    lease_until = ?, lease_boot = ?, lease_token = lease_token + ? WHERE id = ?`;
export const RUN_UPDATE_SQL = `UPDATE workflow_runs SET status = @status, output = @output, error = @error, paused = @paused,
    cancel_requested = @cancel_requested, phase = @phase, final_status = @final_status,
    compensated = @compensated, compensation_errors = @compensation_errors, event_seq = @event_seq,
    completion_seq = @completion_seq, patch_seq = @patch_seq, started_at = @started_at,
    finished_at = @finished_at, updated_at = @updated_at
  WHERE id = @id`;

/** Applies RunWriteBatch values (inside the caller's transaction). SQL for the batch only. */
export class RunBatchWriter {
  private readonly s;
  /** Multi-row INSERT statements, by table and row count. */
  private readonly inserts = new Map<string, ReturnType<Db['prepare']>>();

  constructor(private readonly db: Db) {
    this.s = {
      frameInsert: db.prepare(FRAME_INSERT_SQL),
      frameStatus: db.prepare('UPDATE workflow_run_frames SET status = ? WHERE run_id = ? AND id = ?'),
      stepUpdate: db.prepare(STEP_UPDATE_SQL),
      stepCounters: db.prepare('UPDATE workflow_run_steps SET pending = @pending, next_index = @next_index WHERE id = @id'),
      taskReuse: db.prepare(TASK_REUSE_SQL),
      taskDelete: db.prepare('DELETE FROM workflow_tasks WHERE id = ?'),
      runUpdate: db.prepare(RUN_UPDATE_SQL),
    };
  }

  /** Writes a batch's frames, steps and events (what reads later in the same transaction must see). */
  flush(b: Pick<RunWriteBatch, 'runId' | 'frames' | 'frameStatuses' | 'newSteps' | 'changedSteps' | 'events' | 'patches' | 'task'>): void {
    for (const f of b.frames) this.s.frameInsert.run(f);
    for (const f of b.frameStatuses) this.s.frameStatus.run(f.status, b.runId, f.id);
    this.insertRows('workflow_run_steps', STEP_COLUMNS, b.newSteps, (params, step) => {
      for (const c of STEP_COLUMNS) params.push(step[c]);
    });
    for (const step of b.changedSteps) this.s.stepUpdate.run(step);
    this.insertRows('workflow_run_events', EVENT_COLUMNS, b.events, (params, e) => {
      params.push(b.runId, e.seq, e.type, e.step_id, e.data, e.created_at);
    });
    this.insertRows('workflow_run_context', PATCH_COLUMNS, b.patches, (params, p) => {
      params.push(b.runId, p.seq, p.frame_id, p.path, p.op, p.value);
    });
    if (b.task) this.reuseTask(b.task);
  }

  /** Rewrites a reused task row (see TaskReuse). */
  reuseTask(t: TaskReuse): void {
    this.s.taskReuse.run(t.kind, t.step_id, t.payload, t.run_at, t.lease_owner, t.lease_until, t.lease_boot, t.bumps, t.id);
  }

  /** Writes the rest of a batch: counters, the handled task's deletion and the run row. */
  finish(b: Pick<RunWriteBatch, 'counters' | 'deleteTask' | 'run'>): void {
    for (const step of b.counters) this.s.stepCounters.run({ id: step.id, pending: step.pending, next_index: step.next_index });
    if (b.deleteTask !== null) this.s.taskDelete.run(b.deleteTask);
    this.s.runUpdate.run({ ...b.run, ...storedRunFlags(b.run) });
  }

  /** Inserts rows ROW_CHUNK at a time; `push` appends one row's values in the order of `columns`. */
  private insertRows<T>(table: string, columns: readonly string[], rows: T[], push: (params: unknown[], row: T) => void): void {
    for (let i = 0; i < rows.length; i += ROW_CHUNK) {
      const n = Math.min(ROW_CHUNK, rows.length - i);
      const params: unknown[] = [];
      for (let k = i; k < i + n; k++) push(params, rows[k] as T);
      this.insert(table, columns, n).run(params);
    }
  }

  private insert(table: string, columns: readonly string[], rows: number): ReturnType<Db['prepare']> {
    const key = `${table}\0${rows}`;
    let stmt = this.inserts.get(key);
    if (!stmt) {
      const values = Array.from({ length: rows }, () => `(${columns.map(() => '?').join(', ')})`).join(', ');
      stmt = this.db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values}`);
      this.inserts.set(key, stmt);
    }
    return stmt;
  }
}
