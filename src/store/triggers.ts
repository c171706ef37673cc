import type { Db } from './db.js';

/** What happened to one cron slot. */
export type FireOutcome = 'pending' | 'fired' | 'skipped' | 'error';

export interface FireRow {
  environment: string;
  workflow_id: string;
  trigger: string;
  /** The slot, in epoch milliseconds. */
  scheduled_at: number;
  fired_at: string;
  outcome: FireOutcome;
  run_id: string | null;
  detail: string | null;
}

export interface DeliveryRow {
  environment: string;
  workflow_id: string;
  trigger: string;
  delivery_id: string;
  received_at: string;
  run_id: string | null;
}

/** A run that has not ended, with the trigger that started it (JSON, as stored on the run). */
export interface ActiveRunRow {
  id: string;
  status: string;
  trigger: string;
}

export interface TriggerKey {
  environment: string;
  workflowId: string;
  trigger: string;
}

/**
 * Every SQL statement about trigger fires and webhook deliveries (README "Triggers"). The primary keys of both tables
 * are what make a cron slot fire once and a webhook delivery start one run, across every process on the database.
 */
export class TriggerStore {
  private readonly s;

  constructor(readonly db: Db) {
    this.s = {
      fireInsert: db.prepare(
        `INSERT INTO trigger_fires (environment, workflow_id, trigger, scheduled_at, fired_at, outcome)
         VALUES (?, ?, ?, ?, ?, 'pending') ON CONFLICT DO NOTHING`,
      ),
      fireUpdate: db.prepare(
        `UPDATE trigger_fires SET outcome = ?, run_id = ?, detail = ?
         WHERE environment = ? AND workflow_id = ? AND trigger = ? AND scheduled_at = ?`,
      ),
      fireLast: db.prepare<[string, string, string], FireRow>(
        `SELECT * FROM trigger_fires WHERE environment = ? AND workflow_id = ? AND trigger = ?
         ORDER BY scheduled_at DESC LIMIT 1`,
      ),
      fireList: db.prepare<[string, string, string, number], FireRow>(
        `SELECT * FROM trigger_fires WHERE environment = ? AND workflow_id = ? AND trigger = ?
         ORDER BY scheduled_at DESC LIMIT ?`,
      ),
      firePrune: db.prepare(
        `DELETE FROM trigger_fires WHERE environment = ? AND workflow_id = ? AND trigger = ? AND scheduled_at < (
           SELECT scheduled_at FROM trigger_fires WHERE environment = ? AND workflow_id = ? AND trigger = ?
           ORDER BY scheduled_at DESC LIMIT 1 OFFSET ?)`,
      ),
      activeRuns: db.prepare<[string, string], ActiveRunRow>(
        `SELECT id, status, trigger FROM workflow_runs
         WHERE workflow_id = ? AND environment = ? AND status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
           AND parent_run_id IS NULL
         ORDER BY created_at`,
      ),
      deliveryGet: db.prepare<[string, string, string, string], DeliveryRow>(
        `SELECT * FROM webhook_deliveries WHERE environment = ? AND workflow_id = ? AND trigger = ? AND delivery_id = ?`,
      ),
      deliveryInsert: db.prepare(
        `INSERT INTO webhook_deliveries (environment, workflow_id, trigger, delivery_id, received_at, run_id)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      deliveryPrune: db.prepare('DELETE FROM webhook_deliveries WHERE received_at < ?'),
    };
  }

  /**
   * Claims a cron slot: true when this call recorded it, false when a row exists already (this or another process
   * handled the slot). Call it inside the transaction that starts the run, so the claim and the run commit together.
   */
  claimSlot(k: TriggerKey, scheduledAt: number, firedAt: string): boolean {
    return this.s.fireInsert.run(k.environment, k.workflowId, k.trigger, scheduledAt, firedAt).changes > 0;
  }

  /** Records the outcome of a claimed slot. */
  settleSlot(k: TriggerKey, scheduledAt: number, outcome: Exclude<FireOutcome, 'pending'>, runId: string | null, detail: string | null): void {
    this.s.fireUpdate.run(outcome, runId, detail, k.environment, k.workflowId, k.trigger, scheduledAt);
  }

  /** The latest recorded slot of a trigger (fired, skipped or failed), if any. */
  lastFire(k: TriggerKey): FireRow | undefined {
    return this.s.fireLast.get(k.environment, k.workflowId, k.trigger);
  }

  /** The most recent slots of a trigger, newest first. */
  fires(k: TriggerKey, limit = 100): FireRow[] {
    return this.s.fireList.all(k.environment, k.workflowId, k.trigger, limit);
  }

  /** Keeps the newest `keep` slot records of a trigger (catch-up only needs the latest one). */
  pruneFires(k: TriggerKey, keep: number): number {
    const { environment: e, workflowId: w, trigger: t } = k;
    return this.s.firePrune.run(e, w, t, e, w, t, keep - 1).changes;
  }

  /** The top-level runs of a workflow that have not ended, oldest first (for a trigger's concurrency policy). */
  activeRuns(environment: string, workflowId: string): ActiveRunRow[] {
    return this.s.activeRuns.all(workflowId, environment);
  }

  delivery(k: TriggerKey, deliveryId: string): DeliveryRow | undefined {
    return this.s.deliveryGet.get(k.environment, k.workflowId, k.trigger, deliveryId);
  }

  /** Records an accepted delivery; the primary key refuses a second row for the same delivery id. */
  insertDelivery(k: TriggerKey, deliveryId: string, receivedAt: string, runId: string): void {
    this.s.deliveryInsert.run(k.environment, k.workflowId, k.trigger, deliveryId, receivedAt, runId);
  }

  /** Forgets deliveries received before `before` (ISO time); a redelivery after that starts a new run. */
  pruneDeliveries(before: string): number {
    return this.s.deliveryPrune.run(before).changes;
  }
}
