import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, STN, stn } from '../helpers/cli.js';
import { spawnServe, until, type ServeProcess } from '../helpers/daemon-proc.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';

// Start-up order, a vanished / full / read-only database and cron after a stall, each with a real `stn serve`.

let repo: GitRepo | undefined;
const daemons: ServeProcess[] = [];
const cleanups: Array<() => void> = [];

beforeAll(() => ensureBuilt());
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
  for (const c of cleanups.splice(0).reverse()) c();
  repo?.cleanup();
  repo = undefined;
});

function freshRepo(files: Record<string, string>): GitRepo {
  repo = createGitRepo('stn-rel-');
  repo.write('.gitignore', '.station/\n');
  for (const [f, c] of Object.entries(files)) repo.write(f, c);
  repo.commit('fixtures');
  return repo;
}

async function serve(r: GitRepo, env: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<ServeProcess> {
  const d = await spawnServe(r.dir, args, env);
  daemons.push(d);
  return d;
}

const errorLines = (d: ServeProcess) => d.logs().filter((l) => (l.level as number) >= 50);

/** A shell step that appends a line to `marker` each time it really runs. */
const markerWorkflow = (id: string, marker: string) => `id: ${id}
version: "1"
name: ${id}
states:
  - {name: mark, type: operation, action: shell.exec, input: {command: [sh, -c, "echo ran >> ${marker}"]}, end: true}
`;

/** A per-second cron workflow whose runs write some output (they fill a small disk quickly). */
const tickWorkflow = (catchUp: string) => `id: tick
version: "1"
name: tick
triggers:
  - {type: cron, name: every, schedule: "* * * * * *", catchUp: ${catchUp}, concurrency: allow}
states:
  - {name: a, type: operation, action: shell.exec, input: {command: [sh, -c, "head -c 3000 /dev/zero | od -An -v | head -c 20000"]}, end: true}
`;

function countRuns(db: string, where = '1 = 1'): number {
  const conn = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return (conn.prepare(`SELECT count(*) AS n FROM workflow_runs WHERE ${where}`).get() as { n: number }).n;
  } finally {
    conn.close();
  }
}

/** Whether this machine lets the test mount a small tmpfs (root with CAP_SYS_ADMIN: CI here has it). */
function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-mnt-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
const MOUNTS = canMount();
if (!MOUNTS) console.warn('daemon-storage: cannot mount tmpfs here (needs root): the full-disk and read-only database tests did NOT run');

function tmpfs(sizeKb: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', dir]);
  cleanups.push(() => {
    spawnSync('umount', ['-l', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

describe('start-up order', () => {
  it('a daemon that cannot bind its port exits 2 before its engine starts any step', async () => {
    const marker = path.join(os.tmpdir(), `stn-bind-${process.pid}-${Date.now()}`);
    const r = freshRepo({ 'environments/default/workflows/m.workflow.yaml': markerWorkflow('m', marker) });
    expect(stn(['sync'], r.dir).status).toBe(0);
    for (let i = 0; i < 3; i++) expect(stn(['run', 'm', '--detach'], r.dir).status).toBe(0);
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => blocker.close());
    const port = (blocker.address() as net.AddressInfo).port;

    const res = spawnSync(process.execPath, [STN, 'serve', '--port', String(port)], { cwd: r.dir, encoding: 'utf8', timeout: 30_000 });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('EADDRINUSE');
    // Nothing ran and nothing was claimed: the three runs are still waiting for a daemon that can start.
    expect(fs.existsSync(marker)).toBe(false);
    expect(countRuns(path.join(r.dir, '.station', 'station.db'), "status = 'PENDING'")).toBe(3);
    const conn = new Database(path.join(r.dir, '.station', 'station.db'), { readonly: true });
    expect((conn.prepare("SELECT count(*) AS n FROM workflow_run_events WHERE type = 'step:started'").get() as { n: number }).n).toBe(0);
    conn.close();
  });
});

describe('a vanished database', () => {
  it('deleted under a running daemon: it stops, saves every run back to the file, and the next start has them all', async () => {
    const marker = path.join(os.tmpdir(), `stn-vanish-${process.pid}-${Date.now()}`);
    const r = freshRepo({ 'environments/default/workflows/m.workflow.yaml': markerWorkflow('m', marker) });
    const d = await serve(r);
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${d.url}/api/v1/workflow-runs?wait=10`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ workflowId: 'm' }),
      });
      expect(res.status).toBe(201);
    }
    const dbFile = path.join(r.dir, '.station', 'station.db');
    fs.rmSync(path.join(r.dir, '.station'), { recursive: true, force: true });

    const code = await Promise.race([d.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 20_000))]);
    expect(code).toBe(2);
    expect(d.stderr()).toContain('STN_E_STORE_VANISHED');
    expect(d.logs().some((l) => String(l.msg).startsWith(`database saved to ${dbFile}`))).toBe(true);
    expect(countRuns(dbFile, "status = 'COMPLETED'")).toBe(5);

    const again = await serve(r);
    const list = (await (await fetch(`${again.url}/api/v1/workflow-runs`)).json()) as { items: unknown[] };
    expect(list.items).toHaveLength(5);
  });

  it('a database this checkout used is gone at start: refused, unless STN_ALLOW_NEW_DATABASE=1', async () => {
    const r = freshRepo({ 'environments/default/workflows/m.workflow.yaml': markerWorkflow('m', '/dev/null') });
    expect(stn(['sync'], r.dir).status).toBe(0);
    fs.rmSync(path.join(r.dir, '.station'), { recursive: true, force: true });

    const refused = stn(['sync'], r.dir);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('STN_E_STORE_MISSING');
    expect(fs.existsSync(path.join(r.dir, '.station', 'station.db'))).toBe(false);
    const serveRefused = spawnSync(process.execPath, [STN, 'serve', '--port', '0'], { cwd: r.dir, encoding: 'utf8', timeout: 30_000 });
    expect(serveRefused.status).toBe(2);
    expect(serveRefused.stderr).toContain('STN_E_STORE_MISSING');

    expect(stn(['sync'], r.dir, { STN_ALLOW_NEW_DATABASE: '1' }).status).toBe(0);
    expect(stn(['sync'], r.dir).status).toBe(0);
  });
});

describe.runIf(MOUNTS)('a full or read-only database', () => {
  it('disk full: reported once, /readyz not ready, the daemon answers; when space is back it recovers', async () => {
    const dir = tmpfs(3072);
    const r = freshRepo({ 'environments/default/workflows/tick.workflow.yaml': tickWorkflow('none') });
    const db = path.join(dir, 'station.db');
    const d = await serve(r, { STN_DB: db });
    // Fill what is left of the disk, then let the per-second runs hit the wall.
    const filler = path.join(dir, 'filler');
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k'], { stdio: 'ignore' });
    const notReady = await until('readyz reports the full disk', async () => {
      const res = await fetch(`${d.url}/readyz`);
      const body = (await res.json()) as { checks: { database: string } };
      return res.status === 503 && body.checks.database === 'database_full' ? body : undefined;
    }, 30_000, 200);
    expect(notReady.checks.database).toBe('database_full');
    await new Promise((r) => setTimeout(r, 3000));
    expect((await fetch(`${d.url}/healthz`)).status).toBe(200);
    const reported = d.logs().filter((l) => l.error_type === 'database_full' && (l.level as number) >= 50);
    expect(reported).toHaveLength(1);
    // Everything else the full disk makes fail is retried quietly, not a line per attempt.
    expect(errorLines(d).length).toBeLessThan(20);
    const write = await fetch(`${d.url}/api/v1/workflow-runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflowId: 'tick' }),
    });
    expect([201, 503]).toContain(write.status);

    fs.rmSync(filler);
    await until('readyz ready again', async () => ((await fetch(`${d.url}/readyz`)).status === 200 ? true : undefined), 40_000, 250);
    expect(d.logs().some((l) => l.msg === 'storage problem cleared: writes succeed again')).toBe(true);
  });

  it('read-only database at start: the daemon stays up, not ready, reads answer, writes get 503', async () => {
    const r = freshRepo({ 'environments/default/workflows/m.workflow.yaml': markerWorkflow('m', '/dev/null') });
    // A daemon killed while it ran leaves the WAL and its mmapped index (-shm) behind; then the volume turns read-only.
    const first = await serve(r);
    const made = await fetch(`${first.url}/api/v1/workflow-runs?wait=10`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflowId: 'm' }),
    });
    expect(made.status).toBe(201);
    await first.stop('SIGKILL');
    expect(fs.existsSync(path.join(r.dir, '.station', 'station.db-shm'))).toBe(true);
    const ro = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-ro-'));
    execFileSync('mount', ['--bind', '-o', 'ro', path.join(r.dir, '.station'), ro]);
    cleanups.push(() => {
      spawnSync('umount', ['-l', ro]);
      fs.rmSync(ro, { recursive: true, force: true });
    });

    const d = await serve(r, { STN_DB: path.join(ro, 'station.db') });
    const ready = await fetch(`${d.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: { database: string } }).checks.database).toBe('database_read_only');
    const runs = (await (await fetch(`${d.url}/api/v1/workflow-runs`)).json()) as { items: unknown[] };
    expect(runs.items).toHaveLength(1);
    const write = await fetch(`${d.url}/api/v1/workflow-runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflowId: 'm' }),
    });
    expect(write.status).toBe(503);
    expect(((await write.json()) as { error: { code: string } }).error.code).toBe('STN_E_STORE_UNAVAILABLE');
    await new Promise((r) => setTimeout(r, 2000));
    expect(d.proc.exitCode).toBeNull();
    expect(d.logs().filter((l) => l.error_type === 'database_read_only' && (l.level as number) >= 50)).toHaveLength(1);
  });
});

describe('cron after a stall', () => {
  it('slots missed while the process was stopped follow catchUp (latest), not all at once', async () => {
    const r = freshRepo({ 'environments/default/workflows/tick.workflow.yaml': tickWorkflow('latest') });
    const d = await serve(r);
    const db = path.join(r.dir, '.station', 'station.db');
    await until('first cron run', async () => (countRuns(db) > 0 ? true : undefined), 10_000, 100);
    d.proc.kill('SIGSTOP');
    const stoppedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 8000));
    const resumedAt = Date.now();
    d.proc.kill('SIGCONT');
    await new Promise((resolve) => setTimeout(resolve, 2500));
    // Slots inside the stall that fired: at most the newest (and those within the 2 s lag tolerance), not eight.
    const conn = new Database(db, { readonly: true });
    const fired = (
      conn.prepare("SELECT scheduled_at FROM trigger_fires WHERE outcome = 'fired'").all() as Array<{ scheduled_at: number }>
    ).filter((f) => f.scheduled_at > stoppedAt + 1000 && f.scheduled_at < resumedAt - 2000);
    conn.close();
    expect(fired.length).toBeLessThanOrEqual(1);
  });
});

