import { afterEach, describe, expect, it } from 'vitest';
import { LedgerRepo } from '../helpers/reliability.js';
import { waitFor } from '../helpers/runs-cli-procs.js';
import { stepsOf } from '../helpers/runs-cli-db.js';

/**
 * A `stn worker` frozen with SIGSTOP (what a laptop suspend, `docker pause` or a paused VM does to it) for longer than
 * engine.leaseSeconds, then thawed with SIGCONT. Its leases ran out while it was stopped: it must not take them back
 * from itself, and when another worker took them over, its own late outcome must be dropped, not committed.
 */

const LEASE_SECONDS = 2;
const STOPPED_MS = 3 * LEASE_SECONDS * 1000;

let r: LedgerRepo;

afterEach(async () => {
  await r.cleanup();
});

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

describe('a worker stalled past its lease', () => {
  it('alone: resumes its own deliveries after SIGCONT; every run completes and no step runs twice', async () => {
    r = new LedgerRepo({ leaseSeconds: LEASE_SECONDS, steps: 3 });
    const a = await r.worker('a', ['--concurrency', '10']);
    const ids = await r.start(6, '1.5');
    const inFlight = await waitFor('steps in flight in the worker', () => {
      const f = r.inFlightOf(a.pid);
      return f.length >= 3 && f;
    }, 30_000);

    process.kill(a.pid, 'SIGSTOP');
    await sleep(STOPPED_MS);
    process.kill(a.pid, 'SIGCONT');

    await waitFor('every run to end', () => r.terminalRuns() === ids.length, 60_000, 100);
    // Nobody else took the leases over: the deliveries running at the stall were the only ones.
    const { repeated } = r.expectAllCompletedOnce(ids, 3, new Set());
    expect(repeated).toEqual([]);
    for (const id of inFlight) expect(stepsOf(r.db).find((s) => s.id === id)?.deliveries).toBe(1);
    expect(a.log()).toContain('engine was stalled');
    a.kill('SIGTERM');
    expect(await a.waitExit()).toEqual({ code: 0, signal: null });
  }, 120_000);

  it('with a second worker: the other takes over, the stalled one drops its stale outcomes; only steps in flight at the stall run twice', async () => {
    r = new LedgerRepo({ leaseSeconds: LEASE_SECONDS, steps: 4 });
    const a = await r.worker('a', ['--concurrency', '10']);
    const ids = await r.start(8, '1');
    const b = await r.worker('b', ['--concurrency', '10']);
    const inFlight = await waitFor('steps in flight in the first worker', () => {
      const f = r.inFlightOf(a.pid);
      return f.length >= 2 && f;
    }, 30_000);

    process.kill(a.pid, 'SIGSTOP');
    // The second worker delivers the stalled worker's steps again once their lease ran out.
    await waitFor('the other worker to take over the stalled steps', () => {
      const steps = new Map(stepsOf(r.db).map((s) => [s.id, s]));
      return inFlight.every((id) => (steps.get(id)?.deliveries ?? 0) >= 2);
    }, 30_000, 100);
    await sleep(Math.max(0, STOPPED_MS - LEASE_SECONDS * 1000));
    process.kill(a.pid, 'SIGCONT');

    await waitFor('every run to end', () => r.terminalRuns() === ids.length, 90_000, 100);
    const { repeated } = r.expectAllCompletedOnce(ids, 4, new Set(inFlight));
    // The stalled worker's own deliveries ran on (their processes were not stopped), so their side effects repeat.
    expect(repeated.length).toBeGreaterThan(0);
    expect(a.log()).toContain('lease lost');
    for (const w of [a, b]) {
      w.kill('SIGTERM');
      expect(await w.waitExit()).toEqual({ code: 0, signal: null });
    }
  }, 150_000);
});
