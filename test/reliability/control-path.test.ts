import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import type { GitRepo } from '../helpers/git-repo.js';
import { alive, api, committedRepo } from '../helpers/daemon-probes.js';
import { eventsOf, runStatus, stepsOf } from '../helpers/runs-cli-db.js';
import { StnCli } from '../helpers/runs-cli-procs.js';
import { startServe, until, type ServeProc } from '../helpers/serve-proc.js';

/**
 * Cancel, signals and timeouts do not wait for a slot (docs/reliability.md): with one execution slot, busy with a
 * long shell step, a cancel kills that step, a signal completes a waiting run and an approval times out, each
 * within the documented 250 ms.
 */

const BOUND_MS = 250;

const LONG = `id: long
version: "1"
name: Long step
states:
  - name: hang
    type: operation
    action: shell.exec
    input: {command: [sh, -c, 'echo $$ > "$1"; exec sleep 60', sh, "{{ input.pidFile }}"]}
    end: true
`;

const WAITSIG = `id: waitsig
version: "1"
name: Waits for a signal
states:
  - {name: before, type: operation, action: noop, next: wait}
  - {name: wait, type: operation, action: signal.wait, input: {name: go}, next: after}
  - {name: after, type: operation, action: noop, end: true}
`;

const GATE = `id: gate
version: "1"
name: Approval with a short timeout
states:
  - name: gate
    type: operation
    action: human.approval
    input: {message: "Proceed?", timeoutSeconds: 1, onTimeout: reject}
    end: true
`;

let repo: GitRepo | undefined;
let daemon: ServeProc | undefined;

beforeAll(() => {
  ensureBuilt();
});

afterEach(async () => {
  await daemon?.stop();
  repo?.cleanup();
  daemon = undefined;
  repo = undefined;
});

async function readPid(file: string): Promise<number> {
  return until(() => {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
    return text ? Number(text) : undefined;
  }, 20_000, `pid in ${file}`);
}

/** Polls (every few ms, so the measured time is the event's, not the poll's) until `check` holds; the time it took. */
async function timeUntil(check: () => boolean, what: string, timeoutMs = 10_000, from = Date.now()): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - from;
}

describe('one execution slot, busy with a long step', () => {
  it('a cancel (API and CLI) kills the step and ends the run, a signal and an approval timeout act, all within 250 ms', async () => {
    repo = committedRepo('stn-rel-control-', {
      'station.yaml': 'engine:\n  concurrency: 1\n',
      'environments/default/workflows/long.workflow.yaml': LONG,
      'environments/default/workflows/waitsig.workflow.yaml': WAITSIG,
      'environments/default/workflows/gate.workflow.yaml': GATE,
    });
    const db = path.join(repo.dir, '.station', 'station.db');
    const cli = new StnCli(repo.dir, db);
    expect(cli.run(['sync']).status).toBe(0);
    daemon = await startServe(repo.dir, {}, ['--no-watch']);
    const start = async (workflowId: string, input: object = {}) => {
      const r = await api<{ id: string }>(daemon!.url, 'POST', '/api/v1/workflow-runs', { workflowId, input });
      expect(r.status, JSON.stringify(r.json)).toBe(201);
      return r.json.id;
    };

    // The only slot: a shell step that would run for a minute.
    const pidFile1 = path.join(repo.dir, 'one.pid');
    const long1 = await start('long', { pidFile: pidFile1 });
    const pid1 = await readPid(pidFile1);

    // Inline steps (noop, signal.wait, human.approval) need no slot: both runs reach their wait.
    const sig = await start('waitsig');
    const gate = await start('gate');
    await until(() => stepsOf(db, sig).find((s) => s.stateName === 'wait' && s.status === 'WAITING_SIGNAL'), 5_000, 'the signal wait');
    await until(() => (runStatus(db, gate) === 'WAITING_APPROVAL' ? true : undefined), 5_000, 'the approval wait');

    // A signal completes its run (the noop after it included) while the slot stays busy.
    const signalled = Date.now();
    const sent = await api(daemon.url, 'POST', `/api/v1/workflow-runs/${sig}/signals`, { name: 'go', payload: { ok: true } });
    expect(sent.status).toBe(202);
    const signalMs = await timeUntil(() => runStatus(db, sig) === 'COMPLETED', 'the signalled run to complete', 10_000, signalled);

    // The approval's timeout (1 s after its request) fires on time.
    await until(() => (runStatus(db, gate) === 'FAILED' ? true : undefined), 10_000, 'the approval to time out');
    const events = eventsOf(db, gate);
    const requested = events.find((e) => e.type === 'approval:requested');
    const timedOut = events.find((e) => e.type === 'approval:timed_out');
    const approvalLateMs = (timedOut?.at ?? Infinity) - Date.parse(String(requested?.data.timeoutAt));

    // Cancel through the API: the step's process is killed and the run ends CANCELLED.
    const cancelled = Date.now();
    const answer = await api<{ cancelRequested: boolean }>(daemon.url, 'POST', `/api/v1/workflow-runs/${long1}/cancel`, {});
    expect(answer.status).toBe(202);
    expect(answer.json.cancelRequested).toBe(true);
    const [killMs, endMs] = await Promise.all([
      timeUntil(() => !alive(pid1), `process ${pid1} to be killed`, 10_000, cancelled),
      timeUntil(() => runStatus(db, long1) === 'CANCELLED', 'the run to end CANCELLED', 10_000, cancelled),
    ]);
    expect(stepsOf(db, long1).find((s) => s.stateName === 'hang')?.status).toBe('CANCELLED');

    // Cancel from another process (the CLI writes to the database; the daemon notices it).
    const pidFile2 = path.join(repo.dir, 'two.pid');
    const long2 = await start('long', { pidFile: pidFile2 });
    const pid2 = await readPid(pidFile2);
    const byCli = cli.run(['runs', 'cancel', long2]);
    expect(byCli.status, byCli.stderr).toBe(0);
    const cliKillMs = await timeUntil(() => !alive(pid2), `process ${pid2} to be killed`, 10_000, byCli.exitedAt);
    expect(runStatus(db, long2)).toBe('CANCELLED');

    const figures = { signalMs, approvalLateMs, killMs, endMs, cliKillMs };
    console.log(`control path with the only slot busy: ${JSON.stringify(figures)}`);
    for (const [what, ms] of Object.entries(figures)) expect(ms, what).toBeLessThan(BOUND_MS);
  }, 90_000);
});
