import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { RunEvent } from '../../src/engine/events.js';
import { checkoutRelease1, readManifest, readRelease1, RELEASE_1_DB, type Release1Manifest } from '../fixtures/release-1.js';
import { ensureBuilt, stnJson } from '../helpers/cli.js';
import { api } from '../helpers/daemon-probes.js';
import type { GitRepo } from '../helpers/git-repo.js';
import { startServe, until, type ServeProc } from '../helpers/serve-proc.js';

/**
 * The upgrade as a user does it: a database written by the previous release (test/fixtures/release-1, written by a
 * daemon that was SIGKILLed with runs in flight) and the same checkout, under a `stn serve` of this build. The
 * migrations run at start; then every run is driven to its end through the API (signals, resume, approval; the timer
 * and the leased shell step need nothing) and must end with the output it would have had without the upgrade, with no
 * succeeded step executed again.
 *
 * The fixture's rows are read with SQL only as release 1 wrote them (before the daemon starts); everything after the
 * upgrade is read through the API, so the test holds whatever the new schema looks like.
 */

interface RunJson {
  id: string;
  status: string;
  output: unknown;
  error: unknown;
  parentRunId: string | null;
  steps: Array<{ id: string; path: string; status: string; attempt: number; deliveries: number }>;
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT']);

let repo: GitRepo;
let db: string;
let daemon: ServeProc | undefined;

beforeEach(() => {
  ensureBuilt();
  repo = checkoutRelease1('stn-release-db-');
  db = path.join(repo.dir, '.station', 'station.db');
  fs.mkdirSync(path.dirname(db), { recursive: true });
  fs.copyFileSync(RELEASE_1_DB, db);
});

afterEach(async () => {
  if (daemon) await daemon.stop();
  daemon = undefined;
  repo.cleanup();
});

async function run(base: string, id: string): Promise<RunJson> {
  const r = await api<RunJson>(base, 'GET', `/api/v1/workflow-runs/${id}`);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json;
}

async function post(base: string, url: string, body?: unknown): Promise<void> {
  const r = await api(base, 'POST', url, body);
  expect(r.status, `${url}: ${JSON.stringify(r.json)}`).toBeLessThan(300);
}

/** Every event of the run, through the API's pages. */
async function events(base: string, id: string): Promise<RunEvent[]> {
  const all: RunEvent[] = [];
  let cursor: string | null = '';
  while (cursor !== null) {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const r = await api<{ items: RunEvent[]; nextCursor: string | null }>(base, 'GET', `/api/v1/workflow-runs/${id}/events?limit=500${q}`);
    expect(r.status).toBe(200);
    all.push(...r.json.items);
    cursor = r.json.nextCursor;
  }
  return all;
}

/** What release 1 left in the database, read before the new code touches it, and the timer's stored wake time. */
function fixtureState(m: Release1Manifest): ReturnType<typeof readRelease1> & { timerUntil: number } {
  const state = readRelease1(db);
  const nap = state.steps.find((s) => s.runId === m.runs.timer && s.path === 'nap');
  const until = nap?.wait?.until;
  if (typeof until !== 'number') throw new Error(`the fixture's timer step has no stored wake time: ${JSON.stringify(nap)}`);
  return { ...state, timerUntil: until };
}

it('a database written by release 1 with runs in flight resumes under this build, and every run ends as it would have', async () => {
  const m = readManifest();
  const before = fixtureState(m);
  expect(before.schema).toBe(8);
  // What the crash left: waits of every kind, a paused run, a foreach half done, a shell step leased by a dead process.
  const status = (runId: string, p: string) => before.steps.find((s) => s.runId === runId && s.path === p)?.status;
  expect(status(m.runs.signal, 'wait')).toBe('WAITING_SIGNAL');
  expect(status(m.runs.approval, 'gate')).toBe('WAITING_APPROVAL');
  expect(status(m.runs.fanout, 'each[1]/mark')).toBe('SUCCEEDED');
  expect(status(m.runs.fanout, 'each[2]/wait')).toBe('WAITING_SIGNAL');
  expect(status(m.runs.fanout, 'each[3]/wait')).toBeUndefined();
  expect(status(m.runs.inflight, 'work')).toBe('RUNNING');

  daemon = await startServe(repo.dir, {}, ['--no-watch']);
  const base = daemon.url;
  const r = m.runs;

  // The approval is found through the API, as an approver would.
  const approvals = await api<{ items: Array<{ id: string; status: string }> }>(base, 'GET', `/api/v1/workflow-runs/${r.approval}/approvals`);
  expect(approvals.json.items.map((a) => a.status)).toEqual(['PENDING']);
  await post(base, `/api/v1/workflow-runs/${r.approval}/approvals/${approvals.json.items[0]?.id}/approve`, { comment: 'after the upgrade' });
  await post(base, `/api/v1/workflow-runs/${r.signal}/signals`, { name: 'go', payload: { value: 42 } });
  await post(base, `/api/v1/workflow-runs/${r.paused}/resume`);
  await post(base, `/api/v1/workflow-runs/${r.paused}/signals`, { name: 'go', payload: { value: 43 } });
  await post(base, `/api/v1/workflow-runs/${r.child}/signals`, { name: 'child-go', payload: { value: 5 } });
  await post(base, `/api/v1/workflow-runs/${r.fanout}/signals`, { name: 'go-c', payload: { value: 3 } });
  await post(base, `/api/v1/workflow-runs/${r.fanout}/signals`, { name: 'go-d', payload: { value: 4 } });

  // The timer was 30 s long when written: long due by now, unless the fixture was just regenerated.
  const timeoutMs = Math.max(0, before.timerUntil - Date.now()) + 60_000;
  const ended = new Map<string, RunJson>();
  for (const id of Object.values(r)) {
    ended.set(id, await until(async () => {
      const v = await run(base, id);
      return TERMINAL.has(v.status) ? v : undefined;
    }, timeoutMs, `run ${id} ends`));
  }
  const end = (id: string) => ended.get(id) as RunJson;

  for (const id of Object.values(r)) expect({ id, status: end(id).status, error: end(id).error }).toEqual({ id, status: 'COMPLETED', error: null });
  expect(end(r.done).output).toEqual({ greeting: 'hello station', team: 'sre' });
  expect(end(r.timer).output).toEqual({ phase: 'after', team: 'sre' });
  expect(end(r.signal).output).toEqual({ phase: 'after', value: 42, tag: 'plain' });
  expect(end(r.paused).output).toEqual({ phase: 'after', value: 43, tag: 'paused' });
  expect(end(r.approval).output).toEqual({ approved: true, comment: 'after the upgrade' });
  expect(end(r.child).output).toEqual({ n: 7, got: 5 });
  expect(end(r.child).parentRunId).toBe(r.parent);
  expect(end(r.parent).output).toEqual({ fromChild: { n: 7, got: 5 } });
  expect(end(r.fanout).output).toEqual({ results: ['a-1', 'b-2', 'c-3', 'd-4'] });
  expect(end(r.inflight).output).toEqual({ out: expect.stringMatching(/^worked \S+/) as unknown });

  // Exactly once for transitions: no step succeeds twice, and no step that had succeeded under release 1 starts again.
  const succeededBefore = new Set(before.steps.filter((s) => s.status === 'SUCCEEDED').map((s) => s.id));
  for (const id of Object.values(r)) {
    const log = await events(base, id);
    expect(log.map((e) => e.seq), `run ${id}: one event per sequence number`).toEqual(log.map((_, i) => i + 1));
    const succeeded = log.filter((e) => e.type === 'step:succeeded').map((e) => e.stepId);
    expect(new Set(succeeded).size, `run ${id}: a step succeeded twice`).toBe(succeeded.length);
    const after = log.filter((e) => e.seq > (before.lastSeq.get(id) ?? 0));
    const restarted = after.filter((e) => e.type === 'step:started' && e.stepId !== null && succeededBefore.has(e.stepId));
    expect(restarted, `run ${id}: a step release 1 had finished ran again`).toEqual([]);
    for (const s of end(id).steps) expect({ path: s.path, attempt: s.attempt }).toEqual({ path: s.path, attempt: 1 });
  }
  // The shell step the crash interrupted is delivered again (same attempt, same key); nothing else is.
  const work = end(r.inflight).steps.find((s) => s.path === 'work');
  expect(work?.deliveries).toBe(2);
  const foreachWaits = end(r.fanout).steps.filter((s) => s.path.endsWith('/wait')).map((s) => s.deliveries);
  expect(foreachWaits).toEqual([1, 1, 1, 1]);

  expect(await daemon.stop()).toBe(0);
  daemon = undefined;
  // The local CLI reads the upgraded database too: every run of release 1 listed, each ended.
  const list = stnJson<Array<{ id: string; status: string }>>(['--json', 'runs', 'list'], repo.dir);
  expect(list.status, list.stderr).toBe(0);
  expect(new Map(list.json.map((x) => [x.id, x.status]))).toEqual(new Map(Object.values(r).map((id) => [id, 'COMPLETED'])));
}, 180_000);
