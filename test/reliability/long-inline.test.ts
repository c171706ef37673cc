import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import type { GitRepo } from '../helpers/git-repo.js';
import { HealthSampler, api, committedRepo, peakRssMb } from '../helpers/daemon-probes.js';
import { runStatus, runsOf } from '../helpers/runs-cli-db.js';
import { StnCli, type WorkerProcess } from '../helpers/runs-cli-procs.js';
import { startServe, until, type ServeProc } from '../helpers/serve-proc.js';

/**
 * Long inline work (docs/reliability.md): a foreach of 20,000 inject-only iterations runs in bounded transactions,
 * so the daemon running it keeps answering, and another process on the same database keeps working.
 */

const ITEMS = 20_000;

const BIG = `id: big
version: "1"
name: Big inline foreach
states:
  - name: loop
    type: foreach
    itemsPath: input.items
    iterator:
      states:
        - {name: each, type: inject, data: {seen: "{{ item }}"}, end: true}
    end: true
`;

const TICK = `id: tick
version: "1"
name: Small work
states:
  - {name: a, type: operation, action: noop, next: b}
  - {name: b, type: operation, action: shell.exec, input: {command: [sh, -c, "echo tick"]}, next: c}
  - {name: c, type: operation, action: noop, end: true}
`;

let repo: GitRepo | undefined;
let daemon: ServeProc | undefined;
let worker: WorkerProcess | undefined;

beforeAll(() => {
  ensureBuilt();
});

afterEach(async () => {
  await daemon?.stop();
  await worker?.killHard();
  repo?.cleanup();
  daemon = undefined;
  worker = undefined;
  repo = undefined;
});

describe('a 20,000-item inline foreach in a daemon sharing its database with a worker', () => {
  it('completes with bounded memory; the daemon answers /healthz promptly and the other processes keep working', async () => {
    repo = committedRepo('stn-rel-inline-', {
      'environments/default/workflows/big.workflow.yaml': BIG,
      'environments/default/workflows/tick.workflow.yaml': TICK,
    });
    const db = path.join(repo.dir, '.station', 'station.db');
    const cli = new StnCli(repo.dir, db);
    const sync = cli.run(['sync']);
    expect(sync.status, sync.stderr).toBe(0);
    daemon = await startServe(repo.dir, {}, ['--no-watch']);
    worker = await cli.startWorker(path.join(repo.dir, 'worker.log'));

    const sampler = new HealthSampler(daemon.url);
    const started = Date.now();
    const created = await api<{ id: string }>(daemon.url, 'POST', '/api/v1/workflow-runs', {
      workflowId: 'big',
      input: { items: Array.from({ length: ITEMS }, (_, i) => i) },
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const runId = created.json.id;

    // Other work while the foreach runs: runs in a third process (a foreground `stn run`), one after another.
    const foreground: number[] = [];
    let bigDone = false;
    const others = (async () => {
      while (!bigDone && foreground.length < 5) {
        const t0 = Date.now();
        const r = await cli.runAsync(['run', 'tick']);
        expect(r.status, r.stdout + r.stderr).toBe(0);
        foreground.push(Date.now() - t0);
      }
    })();

    const status = await until(() => {
      const s = runStatus(db, runId);
      return s === 'RUNNING' || s === 'PENDING' ? undefined : s;
    }, 150_000, 'the big run to end');
    bigDone = true;
    const elapsed = Date.now() - started;
    const health = await sampler.stop();
    await others;

    expect(status).toBe('COMPLETED');
    const big = runsOf(db).find((r) => r.id === runId);
    expect(((big?.output as { steps: { loop: unknown[] } }).steps.loop)).toHaveLength(ITEMS);
    // Before: one 70 s transaction of 263 MB. Bounds generous for a loaded 2-core machine.
    expect(elapsed).toBeLessThan(120_000);
    const daemonPeak = peakRssMb(daemon.proc.pid as number);
    expect(daemonPeak).toBeLessThan(300);
    // Before, the daemon did not answer at all for the whole run. An idle daemon on a loaded 2-core test machine has
    // outliers of a few hundred ms by itself, so the median carries the "promptly", the slowest answer the "never
    // frozen" (a transaction waiting out another process's lock would show as ~5 s, the busy timeout).
    const shown = `healthz ${JSON.stringify(health)}`;
    expect(health.n).toBeGreaterThan(20); // the run takes a few seconds: tens of samples
    expect(health.p50, shown).toBeLessThan(50);
    expect(health.max, shown).toBeLessThan(1000);
    // The other processes ran their own work meanwhile and are still up.
    expect(foreground.length).toBeGreaterThan(0);
    for (const ms of foreground) expect(ms).toBeLessThan(15_000);
    expect(worker.running).toBe(true);
    expect(daemon.proc.exitCode).toBeNull();
    const errors = [...daemon.logs(), ...worker.log().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)]
      .filter((l) => typeof l.level === 'number' && l.level >= 50);
    expect(errors).toEqual([]);
    console.log(`inline foreach of ${ITEMS}: ${elapsed} ms, daemon peak RSS ${daemonPeak.toFixed(0)} MB, healthz ${JSON.stringify(health)}, foreground runs ${foreground.join(', ')} ms`);
  }, 200_000);
});
