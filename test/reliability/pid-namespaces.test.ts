import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { LedgerRepo } from '../helpers/reliability.js';
import { look } from '../helpers/runs-cli-db.js';
import { waitFor } from '../helpers/runs-cli-procs.js';
import { cleanEnv } from '../helpers/procs.js';

/**
 * Two engines with the same hostname in different PID namespaces (two containers of one pod, `--network host`): a PID
 * recorded by one means nothing to the other, so an engine must never call the other dead because kill(pid, 0) fails
 * in its own namespace. Liveness across namespaces is by lease expiry only.
 */

let r: LedgerRepo;
let isolated: ChildProcess | undefined;

afterEach(async () => {
  if (isolated?.pid !== undefined && isolated.exitCode === null) {
    try {
      process.kill(-isolated.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  isolated = undefined;
  await r.cleanup();
});

/** `unshare --pid --fork --mount-proc` works here (root, or a kernel that lets this user create namespaces). */
function canUnshare(): boolean {
  const res = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore' });
  return res.status === 0;
}

/** A PID that no process of this namespace has (so kill(pid, 0) here says "no such process"). */
function freePid(): number {
  const max = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  for (let p = Math.min(max - 1, 31_000); p > 1000; p--) if (!fs.existsSync(`/proc/${p}`)) return p;
  throw new Error('no free PID');
}

/**
 * Starts `stn worker` in a PID namespace of its own, as PID `pid` there (set through that namespace's ns_last_pid), so
 * the PID it records is free in this namespace. Resolves when it logged "worker started".
 */
async function startIsolatedWorker(repo: LedgerRepo, pid: number, logFile: string): Promise<ChildProcess> {
  const fd = fs.openSync(logFile, 'a');
  const argv = [process.execPath, ...repo.cli.argv(['--log-level', 'info', 'worker', '--concurrency', '10'])];
  try {
    isolated = spawn(
      'unshare',
      ['--pid', '--fork', '--mount-proc', 'sh', '-c', 'echo "$1" > /proc/sys/kernel/ns_last_pid; shift; "$@"; code=$?; exit $code', 'sh', String(pid - 1), ...argv],
      { cwd: repo.repo.dir, env: cleanEnv(), stdio: ['ignore', fd, fd], detached: true },
    );
  } finally {
    fs.closeSync(fd);
  }
  await waitFor('the isolated worker to start', () => fs.readFileSync(logFile, 'utf8').includes('"worker started"'), 30_000);
  return isolated;
}

interface Worker {
  id: string;
  pid: number;
  pid_ns: string | null;
}

function workers(db: string): Worker[] {
  return look(db, (d) => d.prepare<[], Worker>('SELECT id, pid, pid_ns FROM engine_workers').all());
}

describe('engines with one hostname and different PID namespaces', () => {
  it('a second engine does not call the first dead by its PID: no step runs twice', async () => {
    r = new LedgerRepo({ leaseSeconds: 30, steps: 3 });
    const logA = path.join(r.repo.dir, 'a.log');
    const pid = freePid();
    const namespaced = canUnshare();
    let idA: string;
    if (namespaced) {
      await startIsolatedWorker(r, pid, logA);
      const a = await waitFor('the isolated worker to record itself', () => workers(r.db).find((w) => w.pid === pid), 10_000);
      // It really runs in another PID namespace, under a PID that is free here.
      expect(a.pid_ns).not.toBe(fs.readlinkSync('/proc/self/ns/pid'));
      expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
      idA = a.id;
    } else {
      // Without the right to create namespaces, what the second engine reads is made the same: the first engine's
      // record names a PID that is free here and another PID namespace.
      const a = await r.worker('a', ['--concurrency', '10']);
      const row = await waitFor('the worker to record itself', () => workers(r.db).find((w) => w.pid === a.pid), 10_000);
      const db = new Database(r.db);
      try {
        db.pragma('busy_timeout = 5000');
        db.prepare("UPDATE engine_workers SET pid = ?, pid_ns = 'pid:[1]' WHERE id = ?").run(pid, row.id);
      } finally {
        db.close();
      }
      idA = row.id;
    }

    const ids = await r.start(6, '1.5');
    const inFlight = await waitFor('steps in flight in the first engine', () => {
      const rows = look(r.db, (d) =>
        d.prepare<[string], { id: string }>(
          `SELECT s.id FROM workflow_tasks t JOIN workflow_run_steps s ON s.id = t.step_id
           WHERE t.kind = 'exec' AND t.lease_owner = ? AND s.status = 'RUNNING'`,
        ).all(idA),
      );
      return rows.length >= 2 && rows;
    }, 30_000);
    expect(inFlight.length).toBeGreaterThanOrEqual(2);

    // The second engine: same hostname, this PID namespace. On start it looks for dead engines on this host.
    const b = await r.worker('b', ['--concurrency', '10']);
    await waitFor('every run to end', () => r.terminalRuns() === ids.length, 60_000, 100);

    const { repeated } = r.expectAllCompletedOnce(ids, 3, new Set());
    expect(repeated).toEqual([]);
    expect(b.log()).not.toContain('reclaimed the leases of a dead engine');
    // The first engine is still alive and kept its record.
    expect(workers(r.db).map((w) => w.id)).toContain(idA);
    b.kill('SIGTERM');
    expect(await b.waitExit()).toEqual({ code: 0, signal: null });
  }, 120_000);
});
