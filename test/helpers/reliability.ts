import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { openStation } from '../../src/context.js';
import type { JsonValue } from '../../src/definitions/types.js';
import { ensureBuilt } from './cli.js';
import { createGitRepo, type GitRepo } from './git-repo.js';
import { eventsOf, look, runsOf, stepsOf, type StepRecord } from './runs-cli-db.js';
import { StnCli, type WorkerProcess } from './runs-cli-procs.js';

/**
 * A repository for the reliability tests: a `ledger` workflow of `steps` shell.exec steps, each appending its
 * idempotency key to a ledger file (one line per execution) and then sleeping `input.sleep` seconds, synced into a real
 * SQLite file that real `stn worker` processes share.
 */
export class LedgerRepo {
  readonly repo: GitRepo;
  readonly cli: StnCli;
  readonly db: string;
  readonly ledger: string;
  readonly workers: WorkerProcess[] = [];

  constructor(opts: { leaseSeconds: number; steps: number }) {
    ensureBuilt();
    this.repo = createGitRepo('stn-rel-');
    this.repo.write('.gitignore', '.station/\nledger.txt\n*.log\n');
    this.repo.write('station.yaml', `engine:\n  leaseSeconds: ${opts.leaseSeconds}\n`);
    this.repo.write('environments/default/workflows/ledger.workflow.yaml', ledgerYaml(opts.steps));
    this.repo.commit('workflows');
    this.db = path.join(this.repo.dir, '.station', 'station.db');
    this.ledger = path.join(this.repo.dir, 'ledger.txt');
    fs.writeFileSync(this.ledger, '');
    this.cli = new StnCli(this.repo.dir, this.db);
    const sync = this.cli.run(['sync']);
    expect(sync.status, sync.stdout + sync.stderr).toBe(0);
  }

  /** Starts a `stn worker` logging to `<name>.log`. */
  async worker(name: string, args: string[] = []): Promise<WorkerProcess> {
    const w = await this.cli.startWorker(path.join(this.repo.dir, `${name}.log`), args);
    this.workers.push(w);
    return w;
  }

  /** Enqueues runs the way `stn run --detach` does (the run service on the same file), from this process. */
  async start(count: number, sleep: string | ((n: number) => string)): Promise<string[]> {
    const station = openStation({ repo: this.repo.dir, db: this.db, logLevel: 'silent', mustExist: true }, {});
    try {
      return Array.from({ length: count }, (_, n) => {
        const input = { ledger: this.ledger, sleep: typeof sleep === 'string' ? sleep : sleep(n) } as JsonValue;
        return station.runs.start({ workflowId: 'ledger', input, trigger: { type: 'manual', via: 'test' } }).run.id;
      });
    } finally {
      await station.close();
    }
  }

  /** How many times each idempotency key was executed. */
  ledgerCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const key of fs.readFileSync(this.ledger, 'utf8').split('\n').filter(Boolean)) counts.set(key, (counts.get(key) ?? 0) + 1);
    return counts;
  }

  /** Steps whose delivery is running in the given worker process (committed RUNNING, exec task leased to it). */
  inFlightOf(pid: number): string[] {
    return look(this.db, (d) =>
      d
        .prepare<[string], { id: string }>(
          `SELECT s.id FROM workflow_tasks t JOIN workflow_run_steps s ON s.id = t.step_id
           WHERE t.kind = 'exec' AND t.lease_owner LIKE ? AND s.status = 'RUNNING' AND s.wait IS NULL`,
        )
        .all(`%:${pid}:%`)
        .map((r) => r.id),
    );
  }

  countWhere(sql: string): number {
    return look(this.db, (d) => d.prepare<[], { n: number }>(sql).get()?.n ?? 0);
  }

  terminalRuns(): number {
    return this.countWhere("SELECT COUNT(*) AS n FROM workflow_runs WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT')");
  }

  /**
   * What a user would notice: every run COMPLETED with one run:completed event, every step SUCCEEDED once (one
   * step:succeeded event), no unfinished run left without a task, and each side effect executed once, or twice for a
   * step in `mayRepeat` (in flight when its engine stalled or died).
   */
  expectAllCompletedOnce(ids: string[], steps: number, mayRepeat: ReadonlySet<string>): { repeated: StepRecord[] } {
    const runs = runsOf(this.db);
    expect(runs.filter((r) => r.status !== 'COMPLETED').map((r) => [r.id, r.status, r.error])).toEqual([]);
    expect(runs).toHaveLength(ids.length);
    expect(this.countWhere(
      `SELECT COUNT(*) AS n FROM workflow_runs r WHERE r.status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
         AND NOT EXISTS (SELECT 1 FROM workflow_tasks t WHERE t.run_id = r.id)`,
    )).toBe(0);
    const all = stepsOf(this.db);
    expect(all).toHaveLength(ids.length * steps);
    const events = eventsOf(this.db);
    for (const id of ids) {
      const own = events.filter((e) => e.runId === id);
      expect(own.filter((e) => e.type === 'run:completed'), `run ${id}`).toHaveLength(1);
      expect(own.map((e) => e.seq), `run ${id}`).toEqual(own.map((_, i) => i + 1));
    }
    const succeeded = new Map<string, number>();
    for (const e of events) if (e.type === 'step:succeeded' && e.stepId) succeeded.set(e.stepId, (succeeded.get(e.stepId) ?? 0) + 1);
    const counts = this.ledgerCounts();
    const repeated: StepRecord[] = [];
    for (const s of all) {
      const where = `${s.runId}/${s.path}`;
      expect(s.status, where).toBe('SUCCEEDED');
      expect(s.attempt, where).toBe(1);
      expect(succeeded.get(s.id), where).toBe(1);
      const n = counts.get(`${s.runId}:${s.id}:1`) ?? 0;
      expect(n, `${where} executed`).toBeGreaterThanOrEqual(1);
      if (n > 1) {
        expect(mayRepeat.has(s.id), `${where} executed ${n} times but was not in flight at a stall or kill`).toBe(true);
        expect(n, `${where} executed`).toBeLessThanOrEqual(2);
        repeated.push(s);
      }
    }
    return { repeated };
  }

  async cleanup(): Promise<void> {
    for (const w of this.workers.splice(0)) await w.killHard();
    this.repo.cleanup();
  }
}

function ledgerYaml(steps: number): string {
  const states: string[] = [];
  for (let i = 1; i <= steps; i++) {
    states.push(
      [
        `  - name: s${i}`,
        '    type: operation',
        '    action: shell.exec',
        `    input: {command: [sh, -c, 'echo "$STN_IDEMPOTENCY_KEY" >> "$1"; sleep "$2"', sh, "{{ input.ledger }}", "{{ input.sleep }}"]}`,
        i === steps ? '    end: true' : `    next: s${i + 1}`,
      ].join('\n'),
    );
  }
  return ['id: ledger', 'version: "1"', 'name: Ledger', 'states:', ...states, ''].join('\n');
}
