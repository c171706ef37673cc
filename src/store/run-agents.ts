import type { Db } from './db.js';

/**
 * The agent versions runs use: one row per run and agent reference (`input.agent` as the step wrote it, `name` or
 * `name@env`). A run pins the agents its workflow names literally when it starts; an agent named by a template is
 * pinned the first time a step of the run uses it. Every later step, retry and redelivery of the run uses the pinned
 * version, whatever the agent's file became since.
 */
export class RunAgentPins {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      pin: db.prepare('INSERT OR IGNORE INTO workflow_run_agents (run_id, ref, version_id) VALUES (?, ?, ?)'),
      pinned: db.prepare<[string, string], { version_id: number }>('SELECT version_id FROM workflow_run_agents WHERE run_id = ? AND ref = ?'),
      ofRun: db.prepare<[string], { ref: string; version_id: number }>('SELECT ref, version_id FROM workflow_run_agents WHERE run_id = ? ORDER BY ref'),
    };
  }

  /** Pins `ref` to a version unless the run pinned it already; the version the run uses from now on. */
  pin(runId: string, ref: string, versionId: number): number {
    this.s.pin.run(runId, ref, versionId);
    return this.pinned(runId, ref) ?? versionId;
  }

  pinned(runId: string, ref: string): number | undefined {
    return this.s.pinned.get(runId, ref)?.version_id;
  }

  /** Every pin of a run, by reference. */
  ofRun(runId: string): Array<{ ref: string; version_id: number }> {
    return this.s.ofRun.all(runId);
  }
}
