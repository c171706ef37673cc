import type { Db } from './db.js';

/** Read-only queries the HTTP server needs for /readyz and /metrics (kept here: SQL lives in src/store/ only). */
export class StatsStore {
  private readonly s;

  constructor(readonly db: Db) {
    this.s = {
      ping: db.prepare<[], { one: number }>('SELECT 1 AS one'),
      runsByStatus: db.prepare<[], { status: string; n: number }>(
        'SELECT status, COUNT(*) AS n FROM workflow_runs GROUP BY status',
      ),
    };
  }

  /** Throws when the database cannot answer (locked beyond busy_timeout, file gone, closed). */
  ping(): void {
    this.s.ping.get();
  }

  /** Number of runs in each status (uses the status index). */
  runsByStatus(): Map<string, number> {
    return new Map(this.s.runsByStatus.all().map((r) => [r.status, r.n]));
  }
}
