import Database from 'better-sqlite3';

/**
 * Read-only looks into the SQLite file that `stn` processes write, to check what the CLI printed against what was
 * committed (event timestamps, deliveries, the queue). The connection is opened and closed per look, so the test
 * never holds a read transaction open while the processes under test write.
 */

export interface EventRecord {
  runId: string;
  seq: number;
  type: string;
  stepId: string | null;
  data: Record<string, unknown>;
  /** created_at as epoch ms. */
  at: number;
}

export interface StepRecord {
  id: string;
  runId: string;
  stateName: string;
  path: string;
  type: string;
  action: string | null;
  status: string;
  attempt: number;
  deliveries: number;
  output: unknown;
  wait: Record<string, unknown> | null;
  attemptStartedMs: number | null;
  finishedAt: number | null;
}

export interface RunRecord {
  id: string;
  workflowId: string;
  status: string;
  output: unknown;
  error: unknown;
}

function parse(text: string | null): unknown {
  return text === null ? null : (JSON.parse(text) as unknown);
}

/** Opens the database read-only for one look. */
export function look<T>(dbFile: string, fn: (db: Database.Database) => T): T {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return fn(db);
  } finally {
    db.close();
  }
}

interface EventRow {
  run_id: string;
  seq: number;
  type: string;
  step_id: string | null;
  data: string | null;
  created_at: string;
}

function toEvent(r: EventRow): EventRecord {
  return { runId: r.run_id, seq: r.seq, type: r.type, stepId: r.step_id, data: (parse(r.data) ?? {}) as Record<string, unknown>, at: Date.parse(r.created_at) };
}

/** The run's events in sequence order (every run's when runId is omitted, grouped by run). */
export function eventsOf(dbFile: string, runId?: string): EventRecord[] {
  return rowsOfRun<EventRow>(dbFile, 'workflow_run_events', runId).map(toEvent);
}

/** The rows of a per-run table in `seq` order: one run's, or every run's grouped by run. */
function rowsOfRun<R>(dbFile: string, table: 'workflow_run_events' | 'workflow_run_steps', runId: string | undefined): R[] {
  return look(dbFile, (db) =>
    runId === undefined
      ? db.prepare<[], R>(`SELECT * FROM ${table} ORDER BY run_id, seq`).all()
      : db.prepare<[string], R>(`SELECT * FROM ${table} WHERE run_id = ? ORDER BY seq`).all(runId),
  );
}

interface StepRow {
  id: string;
  run_id: string;
  state_name: string;
  path: string;
  type: string;
  action: string | null;
  status: string;
  attempt: number;
  deliveries: number;
  output: string | null;
  wait: string | null;
  attempt_started_ms: number | null;
  finished_at: string | null;
}

function toStep(r: StepRow): StepRecord {
  return {
    id: r.id,
    runId: r.run_id,
    stateName: r.state_name,
    path: r.path,
    type: r.type,
    action: r.action,
    status: r.status,
    attempt: r.attempt,
    deliveries: r.deliveries,
    output: parse(r.output),
    wait: parse(r.wait) as Record<string, unknown> | null,
    attemptStartedMs: r.attempt_started_ms,
    finishedAt: r.finished_at === null ? null : Date.parse(r.finished_at),
  };
}

/** Steps of one run (or of every run) in creation order. */
export function stepsOf(dbFile: string, runId?: string): StepRecord[] {
  return rowsOfRun<StepRow>(dbFile, 'workflow_run_steps', runId).map(toStep);
}

interface RunRow {
  id: string;
  workflow_id: string;
  status: string;
  output: string | null;
  error: string | null;
}

export function runsOf(dbFile: string): RunRecord[] {
  return look(dbFile, (db) =>
    db
      .prepare<[], RunRow>('SELECT id, workflow_id, status, output, error FROM workflow_runs ORDER BY created_at, id')
      .all()
      .map((r) => ({ id: r.id, workflowId: r.workflow_id, status: r.status, output: parse(r.output), error: parse(r.error) })),
  );
}

export function runStatus(dbFile: string, runId: string): string | undefined {
  return look(dbFile, (db) => db.prepare<[string], { status: string }>('SELECT status FROM workflow_runs WHERE id = ?').get(runId)?.status);
}

/** The first event of `type` (after `afterSeq`) of a run, if it was committed yet. */
export function eventOf(dbFile: string, runId: string, type: string, afterSeq = 0): EventRecord | undefined {
  const row = look(dbFile, (db) =>
    db
      .prepare<[string, string, number], EventRow>('SELECT * FROM workflow_run_events WHERE run_id = ? AND type = ? AND seq > ? ORDER BY seq LIMIT 1')
      .get(runId, type, afterSeq),
  );
  return row ? toEvent(row) : undefined;
}
