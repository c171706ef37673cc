import type { Db } from './db.js';

/**
 * Cheap questions for followers of run events (SSE streams, `?wait=`): did another connection commit anything, and
 * what is the last event of a run. Used by one shared poller instead of a query per stream.
 */
export class ChangeStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
      lastSeq: db.prepare<[string], number | null>('SELECT MAX(seq) FROM workflow_run_events WHERE run_id = ?').pluck(),
    };
  }

  /**
   * SQLite's `data_version`: changes when another connection (another process: `stn worker`, the CLI) has committed
   * to the database since the last call on this one; commits of this connection do not change it.
   */
  dataVersion(): number {
    return this.s.dataVersion.get() ?? 0;
  }

  /** The sequence number of the run's last event (0: none). */
  lastEventSeq(runId: string): number {
    return this.s.lastSeq.get(runId) ?? 0;
  }
}
