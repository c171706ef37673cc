/**
 * Runs-list benchmark: one page (50 runs, newest first) of `GET /workflow-runs` / `stn runs list` read from a database
 * holding RUNS runs, for each filter, on the first page and deep in the list (a cursor in the middle). The baseline,
 * measured in the same run on the same rows, is the index set before the run-list indexes (status and workflow without
 * the id, no environment or trigger index). Target: every page <= 5 ms p50.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { newRunId } from '../src/engine/ids.js';
import { openDatabase, type Db } from '../src/store/db.js';
import { RunStore, type RunFilter } from '../src/store/runs.js';
import { percentile, report } from './stats.js';

const RUNS = 100_000;
const PAGE = 50;
const REPEATS = 100;
const TRIGGERS = ['manual', 'cron', 'webhook', 'workflow'];

/** One run a second, going back from now: 20 workflows, 3 environments, 1 % FAILED, the four trigger types. */
function seed(db: Db, t0: number): string[] {
  const insert = db.prepare(
    `INSERT INTO workflow_runs (id, workflow_id, environment, version, status, input, trigger, root_run_id, created_at, updated_at)
     VALUES (?, ?, ?, 1, ?, '{}', ?, ?, ?, ?)`,
  );
  const ids: string[] = [];
  db.transaction(() => {
    for (let i = 0; i < RUNS; i++) {
      const at = t0 + i * 1000;
      const id = newRunId(at);
      const iso = new Date(at).toISOString();
      const trigger = JSON.stringify({ type: TRIGGERS[i % TRIGGERS.length], name: 't' });
      insert.run(id, `wf-${i % 20}`, ['prod', 'staging', 'dev'][i % 3], i % 100 === 0 ? 'FAILED' : 'COMPLETED', trigger, id, iso, iso);
      ids.push(id);
    }
  })();
  return ids;
}

interface Case {
  name: string;
  filter: RunFilter;
}

function cases(ids: string[], t0: number): Case[] {
  const middle = ids[Math.floor(RUNS / 2)] as string;
  const hour = (h: number) => new Date(t0 + h * 3_600_000).toISOString();
  return [
    { name: 'no filter, first page', filter: {} },
    { name: 'no filter, deep page', filter: { before: middle } },
    { name: 'workflow + environment, first page', filter: { workflowId: 'wf-3', environment: 'prod' } },
    { name: 'workflow + environment, deep page', filter: { workflowId: 'wf-3', environment: 'prod', before: middle } },
    { name: 'environment, deep page', filter: { environment: 'staging', before: middle } },
    { name: 'status FAILED (1 %), first page', filter: { status: 'FAILED' } },
    { name: 'status FAILED (1 %), deep page', filter: { status: 'FAILED', before: middle } },
    { name: 'trigger cron, deep page', filter: { trigger: 'cron', before: middle } },
    { name: 'one hour in the middle', filter: { since: hour(13), until: hour(14) } },
  ];
}

function measure(store: RunStore, c: Case): number {
  for (let i = 0; i < 5; i++) store.listRuns({ ...c.filter, limit: PAGE + 1 });
  const samples: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const t = performance.now();
    const rows = store.listRuns({ ...c.filter, limit: PAGE + 1 });
    samples.push(performance.now() - t);
    if (rows.length === 0) throw new Error(`${c.name}: no runs`);
  }
  return percentile(samples, 50);
}

/** The run indexes as they were before the run-list indexes (migration 15). */
function oldIndexes(db: Db): void {
  db.exec(`
    DROP INDEX workflow_runs_status; CREATE INDEX workflow_runs_status ON workflow_runs(status);
    DROP INDEX workflow_runs_workflow; CREATE INDEX workflow_runs_workflow ON workflow_runs(workflow_id, environment);
    DROP INDEX workflow_runs_environment; DROP INDEX workflow_runs_trigger;
    ANALYZE;`);
}

export function benchRunsList(): Promise<void> {
  process.stdout.write(`\n== runs list: one page of ${PAGE} runs out of ${RUNS.toLocaleString('en')} (median of ${REPEATS})\n`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-bench-runs-list-'));
  const db = openDatabase(path.join(root, 'runs.db'));
  try {
    const t0 = Date.now() - RUNS * 1000;
    const ids = seed(db, t0);
    db.exec('ANALYZE');
    const store = new RunStore(db);
    const all = cases(ids, t0);
    all.forEach((c) => measure(store, c)); // warm-up: the first cases measured would also pay for the page cache and the JIT
    const now = all.map((c) => measure(store, c));
    oldIndexes(db);
    const before = all.map((c) => measure(store, c));
    all.forEach((c, i) => {
      const ms = now[i] as number;
      const was = before[i] as number;
      report(`  ${c.name}`, `${ms.toFixed(2)} ms`, '<= 5 ms', ms <= 5);
      report('    before the run-list indexes', `${was.toFixed(2)} ms`);
    });
  } finally {
    db.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
  return Promise.resolve();
}
