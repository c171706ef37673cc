import os from 'node:os';
import type { Logger } from '../log.js';
import type { DefinitionStore, SyncRunRow } from '../store/definitions.js';

/** This process, as recorded on the sync runs it starts. */
export const SYNC_OWNER = { host: os.hostname(), pid: process.pid };

/**
 * A sync still running after this long is taken as dead whatever its owner (syncs take seconds): this covers other
 * hosts, whose processes cannot be seen from here, rows written before owners were recorded, and a reused pid.
 */
const STALE_MS = 60 * 60 * 1000;

/**
 * Marks the sync runs that a process killed mid-sync left `running` as `interrupted` (docs/reliability.md
 * "Interrupted syncs"). Called at start-up, before this process syncs: a row of this host is interrupted when its
 * process is gone (or is this very process: a restarted container often gets the same pid); any row once it is over
 * an hour old (another host's processes cannot be seen from here). Returns the ids marked.
 */
export function markInterruptedSyncs(store: DefinitionStore, logger: Logger, now: Date = new Date()): number[] {
  const marked: number[] = [];
  for (const row of store.runningSyncRuns()) {
    if (!gone(row, now.getTime())) continue;
    const who = row.owner_pid === null ? 'its process' : `its process (pid ${row.owner_pid} on ${row.owner_host ?? '?'})`;
    const error = `STN_E_SYNC_INTERRUPTED: ${who} ended during the sync; environments it had committed stay synced, the rest were not written`;
    if (store.interruptSyncRun(row.id, now.toISOString(), error)) marked.push(row.id);
  }
  if (marked.length > 0) {
    logger.warn({ sync_run_ids: marked, error_type: 'STN_E_SYNC_INTERRUPTED' }, 'sync runs left running by a process that is gone were marked interrupted');
  }
  return marked;
}

function gone(row: SyncRunRow, nowMs: number): boolean {
  if (nowMs - Date.parse(row.started_at) > STALE_MS) return true;
  if (row.owner_host !== SYNC_OWNER.host || row.owner_pid === null) return false;
  if (row.owner_pid === SYNC_OWNER.pid) return true;
  try {
    process.kill(row.owner_pid, 0);
    return false;
  } catch (err) {
    // EPERM: alive, owned by another user.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
