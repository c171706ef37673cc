import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { LedgerRepo } from '../helpers/reliability.js';
import { waitFor } from '../helpers/runs-cli-procs.js';

/**
 * Another process holds SQLite's write lock for longer than busy_timeout (5 s) while runs execute: a backup, an
 * operator's `sqlite3` shell with an open transaction. Station's writes fail with SQLITE_BUSY meanwhile; they are retried
 * with backoff, and no run fails for it.
 */

const HOLD_MS = 7000;

let r: LedgerRepo;
let holder: ChildProcess | undefined;

afterEach(async () => {
  holder?.kill('SIGKILL');
  holder = undefined;
  await r.cleanup();
});

/** A node process with better-sqlite3 that takes the write lock (BEGIN IMMEDIATE), holds it, then commits. */
function holdWriteLock(db: string, ms: number): Promise<{ locked: Promise<void>; done: Promise<number | null> }> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    db.prepare("UPDATE engine_workers SET heartbeat_at = heartbeat_at").run();
    process.stdout.write('locked\\n');
    setTimeout(() => { db.exec('COMMIT'); db.close(); process.exit(0); }, Number(process.argv[2]));
  `;
  const child = spawn(process.execPath, ['-e', script, db, String(ms)], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  holder = child;
  const locked = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.on('exit', (code) => reject(new Error(`the lock holder exited (${code}) before taking the lock`)));
  });
  const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return Promise.resolve({ locked, done });
}

describe('a database locked by another process for longer than busy_timeout', () => {
  it('runs executing meanwhile all complete: busy commits are retried, never a failed run', async () => {
    r = new LedgerRepo({ leaseSeconds: 2, steps: 5 });
    const w = await r.worker('w', ['--concurrency', '8']);
    const ids = await r.start(8, '0.3');
    await waitFor('some steps to succeed', () => r.countWhere("SELECT COUNT(*) AS n FROM workflow_run_steps WHERE status = 'SUCCEEDED'") >= 4, 30_000);

    const lock = await holdWriteLock(r.db, HOLD_MS);
    await lock.locked;
    const lockedAt = Date.now();
    expect(await lock.done).toBe(0);
    expect(Date.now() - lockedAt).toBeGreaterThanOrEqual(HOLD_MS - 100);
    // The lock outlasted busy_timeout, and runs were still unfinished when it was released.
    expect(r.terminalRuns()).toBeLessThan(ids.length);

    await waitFor('every run to end', () => r.terminalRuns() === ids.length, 60_000, 100);
    expect(r.countWhere("SELECT COUNT(*) AS n FROM workflow_runs WHERE error LIKE '%STN_E_INTERNAL%'")).toBe(0);
    // Nothing was lost or taken over: each side effect ran exactly once.
    const { repeated } = r.expectAllCompletedOnce(ids, 5, new Set());
    expect(repeated).toEqual([]);
    // The episode is logged once when it starts and once when it ends, not once per retry.
    const log = w.log();
    const busyLines = log.split('\n').filter((l) => l.includes('storage busy or failing (SQLITE_BUSY'));
    expect(busyLines.length).toBeGreaterThanOrEqual(1);
    expect(busyLines.length).toBeLessThanOrEqual(8);
    expect(log).toContain('storage available again');
    w.kill('SIGTERM');
    expect(await w.waitExit()).toEqual({ code: 0, signal: null });
  }, 120_000);
});
