import os from 'node:os';
import { isTransientStorageError } from '../../store/transient.js';
import { hostIdentity, samePidSpace } from '../lease.js';
import type { HostContext } from './options.js';

/** An engine whose heartbeat (every 5 s) is older than this is not counted on to run a step needing its secrets. */
export const WORKER_STALE_MS = 20_000;

/** This engine's row among the engines sharing the database (the workers table), and what it learns of the others. */
export class Workers {
  /** Whether other engines reported lately (refreshed with this engine's heartbeat). */
  othersAlive = false;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly host: HostContext,
    /** The names of the secrets this engine has (never their values). */
    private readonly secretNames: readonly string[],
  ) {}

  /** Records this engine as alive, and gives back leases of its own that no delivery of it holds any more. */
  heartbeat(): void {
    const { o, id, storage } = this.host;
    try {
      const host = hostIdentity();
      o.store.heartbeat(id, os.hostname(), process.pid, this.startedAt, this.host.now(), host.bootId, host.pidNs, this.secretNames);
      this.othersAlive = o.store.workersSince(this.host.now() - WORKER_STALE_MS).some((w) => w.id !== id);
      for (const t of o.store.expiredLeasesOf(id, this.host.lease.now())) {
        if (!this.host.held.has(t.id)) o.store.releaseLease(t.id, id, t.lease_token);
      }
    } catch (err) {
      if (isTransientStorageError(err)) storage.failed(err, { op: 'heartbeat' });
      else o.logger.warn({ err }, 'engine heartbeat failed');
    }
  }

  /**
   * Engines whose process is provably gone: their leases are released at once instead of after expiry. Provably means
   * same kernel boot and same PID namespace, where kill(pid, 0) speaks of that very process; an engine in another
   * container (same hostname, other PID namespace) or another boot is left to lease expiry.
   */
  reclaimDead(): void {
    const { o, id } = this.host;
    try {
      for (const w of o.store.workersOnHost(os.hostname())) {
        if (w.id === id || !samePidSpace(w) || isAlive(w.pid)) continue;
        const released = o.store.transaction(() => {
          const n = o.store.releaseLeases(w.id);
          o.store.removeWorker(w.id);
          return n;
        });
        if (released > 0) o.logger.info({ worker: w.id, tasks: released }, 'reclaimed the leases of a dead engine');
      }
    } catch (err) {
      if (!isTransientStorageError(err)) throw err;
      this.host.storage.failed(err, { op: 'reclaim' });
    }
  }

  /** Leaves: gives back every lease of this engine and removes its row (storage failing: the leases lapse). */
  leave(): void {
    const { o, id } = this.host;
    try {
      o.store.releaseLeases(id);
      o.store.removeWorker(id);
    } catch (err) {
      // Busy or failing storage at shutdown: the leases lapse on their own after engine.leaseSeconds.
      o.logger.warn({ err, error_type: 'storage' }, 'could not release leases at shutdown; they expire on their own');
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
