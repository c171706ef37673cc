import type { Db } from './db.js';

/** Why the database cannot take writes right now, as `/readyz` and the logs name it. */
export type StorageProblemCode = 'database_full' | 'database_read_only' | 'database_io_error' | 'database_missing';

export interface StorageProblem {
  code: StorageProblemCode;
  /** The first error of this episode, as SQLite (or the file system) worded it. */
  message: string;
  /** When the episode began and when its newest error was seen (epoch ms). */
  since: number;
  lastAt: number;
  /** Errors seen in this episode (only the first is logged). */
  count: number;
}

interface Sink {
  error(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
}

/** An episode ends once no storage error has been seen for this long and a write has succeeded since. */
export const STORAGE_QUIET_MS = 10_000;

/**
 * The storage problem an error stands for, or undefined for any other error (a bug, a constraint, a busy lock: busy
 * is contention, retried where it happens, not a broken disk).
 */
export function storageProblemOf(err: unknown): StorageProblemCode | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return 'database_full';
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS') return 'database_read_only';
  if (code.startsWith('SQLITE_IOERR') || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || code === 'EIO') {
    return 'database_io_error';
  }
  return undefined;
}

/**
 * What this process knows about the health of its database: a full disk, a read-only file system, I/O errors or a
 * vanished file. Every writer reports what it sees (`note`, `wrote`); the first error of an episode is logged once,
 * the rest are counted, and `/readyz` answers "not ready" while the episode lasts. One per database connection.
 */
export class StorageHealth {
  private current: StorageProblem | undefined;
  private currentWhere = '';
  private wroteSince = false;
  private sink: Sink | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** Where the first error of each episode and the recovery are logged (the daemon's logger). */
  logTo(sink: Sink): void {
    this.sink = sink;
    // A problem found before there was a logger (at open) is reported now.
    if (this.current) this.announce(this.current, this.currentWhere);
  }

  /** Records `err` if it is a storage problem; answers whether it was one (the caller then retries later). */
  note(err: unknown, where: string): boolean {
    const code = storageProblemOf(err);
    if (!code) return false;
    this.raise(code, err instanceof Error ? err.message : String(err), where);
    return true;
  }

  /** Records a problem found by a check rather than by a failed write (a vanished database file). */
  raise(code: StorageProblemCode, message: string, where: string): void {
    const now = this.now();
    this.wroteSince = false;
    if (this.current && this.current.code === code) {
      this.current.count++;
      this.current.lastAt = now;
      return;
    }
    this.current = { code, message, since: now, lastAt: now, count: 1 };
    this.currentWhere = where;
    this.announce(this.current, where);
  }

  private announce(p: StorageProblem, where: string): void {
    const after = p.code === 'database_missing' ? '' : '; writes are retried, and further errors of this kind are not logged until it clears';
    this.sink?.error({ error_type: p.code, where, error: p.message }, `storage problem: ${describe(p.code)}${after}`);
  }

  /** A write committed: once the errors have been quiet for STORAGE_QUIET_MS, the episode ends. */
  wrote(): void {
    if (!this.current) return;
    this.wroteSince = true;
    this.settle();
  }

  /** The open episode, if any (ends it first when it has gone quiet and a write has succeeded since). */
  problem(): StorageProblem | undefined {
    this.settle();
    return this.current;
  }

  private settle(): void {
    const p = this.current;
    if (!p || !this.wroteSince || p.code === 'database_missing' || this.now() - p.lastAt < STORAGE_QUIET_MS) return;
    this.current = undefined;
    this.sink?.info({ error_type: p.code, errors: p.count, duration_ms: this.now() - p.since }, 'storage problem cleared: writes succeed again');
  }
}

function describe(code: StorageProblemCode): string {
  switch (code) {
    case 'database_full':
      return 'the disk holding the database is full';
    case 'database_read_only':
      return 'the database is read-only';
    case 'database_io_error':
      return 'the database reports I/O errors';
    case 'database_missing':
      return 'the database file was deleted or replaced';
    default: {
      const never: never = code;
      return never;
    }
  }
}

const healthOf = new WeakMap<Db, StorageHealth>();

/** The StorageHealth of a database connection (created on first use). */
export function storageHealth(db: Db): StorageHealth {
  let h = healthOf.get(db);
  if (!h) {
    h = new StorageHealth();
    healthOf.set(db, h);
  }
  return h;
}
