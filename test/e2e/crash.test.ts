import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStation } from '../../src/context.js';
import type { JsonValue } from '../../src/definitions/types.js';
import { ensureBuilt } from '../helpers/cli.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { eventOf, eventsOf, look, runsOf, stepsOf, type EventRecord, type StepRecord } from '../helpers/runs-cli-db.js';
import { StnCli, waitFor, type WorkerProcess } from '../helpers/runs-cli-procs.js';

/**
 * The crash soak (docs/runs.md "Durability") with real processes: a `stn worker` executing runs whose `shell.exec`
 * steps append their idempotency key to a ledger is SIGKILLed at random moments and restarted, at least eight times
 * mid-step, while a hundred runs are enqueued in batches (so every kill finds runs at every stage). Side effects may
 * repeat (at least once), transitions may not (exactly once): every run completes with the right output, a key shows up
 * at most twice and only for a step that was in flight at a kill, and every run's event log is complete.
 */

const STEPS = 5;
const RUNS = 100;
const MIN_KILLS_MID_STEP = 8;
/** Runs enqueued before each kill, so the last batch is in by the last required kill. */
const BATCH = Math.ceil(RUNS / MIN_KILLS_MID_STEP);

/** A small seeded PRNG, so a failing schedule of kills can be replayed from the seed in the failure message. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Five shell.exec steps in a chain: each appends its key to the ledger, sleeps (a different time per run and step, so
 * kills land mid-step), and prints the trail so far plus its own number, so the output proves each step saw the
 * output of the one before.
 */
function chainYaml(): string {
  const states: string[] = [];
  for (let i = 1; i <= STEPS; i++) {
    const before = i === 1 ? 'run{{ input.n }}' : `{{ steps.s${i - 1}.stdout }}`;
    states.push(
      [
        `  - name: s${i}`,
        '    type: operation',
        '    action: shell.exec',
        '    input:',
        `      command: [sh, -c, 'echo "$STN_IDEMPOTENCY_KEY" >> "$1"; sleep "$2"; printf "%s-%s" "$3" "$4"', sh, "{{ input.ledger }}", "{{ input.sleeps[${i - 1}] }}", "${before}", "${i}"]`,
        i === STEPS ? '    end: true' : `    next: s${i + 1}`,
      ].join('\n'),
    );
  }
  return [
    'id: chain',
    'version: "1"',
    'name: Chain',
    'inputSchema:',
    '  type: object',
    '  required: [n, ledger, sleeps]',
    '  properties:',
    '    n: {type: integer}',
    '    ledger: {type: string}',
    `    sleeps: {type: array, items: {type: string}, minItems: ${STEPS}}`,
    'states:',
    ...states,
    `output: {n: "{{ input.n }}", trail: "{{ steps.s${STEPS}.stdout }}"}`,
    '',
  ].join('\n');
}

/** A durable sleep between two side effects. */
const NAP = `
id: nap
version: "1"
name: Nap
states:
  - name: before
    type: operation
    action: shell.exec
    input: {command: [sh, -c, 'echo "$STN_IDEMPOTENCY_KEY" >> "$1"', sh, "{{ input.ledger }}"]}
    next: nap
  - {name: nap, type: operation, action: sleep, input: {seconds: 6}, next: after}
  - name: after
    type: operation
    action: shell.exec
    input: {command: [sh, -c, 'echo "$STN_IDEMPOTENCY_KEY" >> "$1"', sh, "{{ input.ledger }}"]}
    end: true
`;

let repo: GitRepo;
let cli: StnCli;
let db: string;
let ledger: string;
let workerLog: string;
const workers: WorkerProcess[] = [];

beforeEach(() => {
  ensureBuilt();
  repo = createGitRepo('stn-crash-');
  repo.write('.gitignore', '.station/\nledger.txt\nworker.log\n');
  // A short lease is only the safety net: a restarted worker releases the leases of a dead one on this host at once.
  repo.write('station.yaml', 'engine:\n  leaseSeconds: 5\n');
  repo.write('environments/default/workflows/chain.workflow.yaml', chainYaml());
  repo.write('environments/default/workflows/nap.workflow.yaml', NAP);
  repo.commit('workflows');
  db = path.join(repo.dir, '.station', 'station.db');
  ledger = path.join(repo.dir, 'ledger.txt');
  workerLog = path.join(repo.dir, 'worker.log');
  cli = new StnCli(repo.dir, db);
  const sync = cli.run(['sync']);
  expect(sync.status, sync.stdout + sync.stderr).toBe(0);
});

afterEach(async () => {
  for (const w of workers.splice(0)) await w.killHard();
  repo.cleanup();
});

/**
 * A worker with a slot for every run: a worker carries a run from step to step in one slot, and claims due tasks
 * oldest first, so with fewer slots the steps of a killed worker would wait behind every run queued before them.
 */
async function startWorker(): Promise<WorkerProcess> {
  const w = await cli.startWorker(workerLog, ['--concurrency', String(RUNS)]);
  workers.push(w);
  return w;
}

/**
 * The steps in flight when the worker died: their exec task is still leased (by the dead worker) and the step was
 * committed RUNNING (its delivery began). A task that was claimed but whose step had not begun yet is not in flight.
 */
function inFlightSteps(): string[] {
  return look(db, (d) =>
    d
      .prepare<[], { id: string }>(
        `SELECT s.id FROM workflow_tasks t JOIN workflow_run_steps s ON s.id = t.step_id
         WHERE t.kind = 'exec' AND t.lease_owner IS NOT NULL AND s.status = 'RUNNING' AND s.wait IS NULL`,
      )
      .all()
      .map((r) => r.id),
  );
}

/** From the event log alone: steps whose latest event is a step:started (a delivery that has no outcome yet). */
function startedWithoutOutcome(): string[] {
  const last = new Map<string, string>();
  for (const e of eventsOf(db)) if (e.stepId !== null && e.type.startsWith('step:')) last.set(e.stepId, e.type);
  return [...last].filter(([, type]) => type === 'step:started').map(([id]) => id);
}

function countSucceeded(): number {
  return look(db, (d) => d.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM workflow_run_steps WHERE status = 'SUCCEEDED'").get()?.n ?? 0);
}

function completedRuns(): number {
  return look(db, (d) => d.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM workflow_runs WHERE status = 'COMPLETED'").get()?.n ?? 0);
}

function ledgerCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const key of fs.readFileSync(ledger, 'utf8').split('\n').filter(Boolean)) counts.set(key, (counts.get(key) ?? 0) + 1);
  return counts;
}

/**
 * Enqueues runs the way `stn run --detach` and the API do (the run service over the same database file), in this
 * process: twenty CLI processes would cost more than the whole crash test on a loaded machine. The connection is
 * closed before any worker is killed.
 */
async function startRuns(inputs: object[], workflow: string): Promise<string[]> {
  const station = openStation({ repo: repo.dir, db, logLevel: 'silent', mustExist: true }, {});
  try {
    return inputs.map((input) => station.runs.start({ workflowId: workflow, input: input as JsonValue, trigger: { type: 'manual', via: 'test' } }).run.id);
  } finally {
    await station.close();
  }
}

/** The event log of a run is complete: contiguous seq, created → started → every step → completed, nothing twice. */
function expectCompleteLog(runId: string, events: EventRecord[], steps: StepRecord[]): void {
  const where = `run ${runId}`;
  expect(events.map((e) => e.seq), where).toEqual(events.map((_, i) => i + 1));
  expect(events[0]?.type, where).toBe('run:created');
  expect(events.filter((e) => e.type === 'run:started'), where).toHaveLength(1);
  expect(events.at(-1)?.type, where).toBe('run:completed');
  expect(events.filter((e) => e.type === 'run:completed'), where).toHaveLength(1);
  expect(events.filter((e) => /failed|retrying|cancelled|timed_out/.test(e.type)), where).toEqual([]);
  for (const s of steps) {
    const own = events.filter((e) => e.stepId === s.id);
    const what = `${where} step ${s.path}`;
    expect(own.filter((e) => e.type === 'state:entered'), what).toHaveLength(1);
    expect(own.filter((e) => e.type === 'step:started'), what).toHaveLength(s.deliveries);
    expect(own.filter((e) => e.type === 'step:succeeded'), what).toHaveLength(1);
    // Each delivery's step:started comes before the step's single outcome.
    const succeeded = own.find((e) => e.type === 'step:succeeded') as EventRecord;
    for (const started of own.filter((e) => e.type === 'step:started')) expect(started.seq, what).toBeLessThan(succeeded.seq);
    expect(own.filter((e) => e.type === 'step:started').map((e) => e.data.delivery), what).toEqual(
      Array.from({ length: s.deliveries }, (_, i) => i + 1),
    );
  }
}

describe('stn worker killed with SIGKILL and restarted', () => {
  it(`completes ${RUNS} runs of a ${STEPS}-step workflow through ${MIN_KILLS_MID_STEP} kills; side effects repeat only for steps in flight at a kill`, async () => {
    const seed = Date.now() % 1_000_000;
    const random = prng(seed);
    const ctx = `(seed ${seed})`;
    const inputs = Array.from({ length: RUNS }, (_, n) => ({
      n,
      ledger,
      sleeps: Array.from({ length: STEPS }, () => (0.5 + random() * 0.4).toFixed(3)),
    }));
    const ids: string[] = [];

    let worker = await startWorker();
    /** For each kill, the steps that were in flight. */
    const kills: Array<Set<string>> = [];
    let killsMidStep = 0;
    while (killsMidStep < MIN_KILLS_MID_STEP) {
      if (kills.length >= 20) throw new Error(`only ${killsMidStep} of ${kills.length} kills landed mid-step ${ctx}`);
      if (ids.length < RUNS) ids.push(...(await startRuns(inputs.slice(ids.length, ids.length + BATCH), 'chain')));
      // Let the worker make progress first: every step in flight at the last kill finishes (so no step is in flight at
      // two kills), and at least two more steps succeed.
      const previous = kills.at(-1) ?? new Set<string>();
      const base = countSucceeded();
      await waitFor(`progress after restart ${kills.length} ${ctx}`, () => {
        const done = new Set(stepsOf(db).filter((s) => s.status === 'SUCCEEDED').map((s) => s.id));
        return [...previous].every((id) => done.has(id)) && done.size >= Math.min(base + 2, ids.length * STEPS);
      }, 30_000);
      await new Promise((r) => setTimeout(r, 50 + random() * 250));
      if (completedRuns() === RUNS) throw new Error(`all runs completed after only ${killsMidStep} kills mid-step ${ctx}`);
      await worker.killHard();
      const inFlight = new Set(inFlightSteps());
      // The event log tells the same: exactly these steps have a step:started without an outcome after it.
      expect(new Set(startedWithoutOutcome()), ctx).toEqual(inFlight);
      kills.push(inFlight);
      if (inFlight.size > 0) killsMidStep++;
      worker = await startWorker();
    }

    if (ids.length < RUNS) ids.push(...(await startRuns(inputs.slice(ids.length), 'chain')));
    await waitFor(`all ${RUNS} runs to complete ${ctx}`, () => completedRuns() === RUNS, 60_000, 100);
    worker.kill('SIGTERM');
    expect(await worker.waitExit(), ctx).toEqual({ code: 0, signal: null });

    // Every run COMPLETED with the right output (as the CLI reports it).
    const listed = cli.json<Array<{ id: string; status: string }>>(['runs', 'list', '--workflow', 'chain', '--limit', String(RUNS)]);
    expect(listed.json.map((r) => r.status), ctx).toEqual(Array<string>(RUNS).fill('COMPLETED'));
    const runs = new Map(runsOf(db).map((r) => [r.id, r]));
    for (const [n, id] of ids.entries()) {
      const trail = `run${n}-${Array.from({ length: STEPS }, (_, i) => i + 1).join('-')}`;
      expect(runs.get(id)?.output, `${ctx} run ${n}`).toEqual({ n, trail });
    }

    // Deliveries: one, plus one per kill the step was in flight at.
    const inFlightAt = new Map<string, number>();
    for (const k of kills) for (const id of k) inFlightAt.set(id, (inFlightAt.get(id) ?? 0) + 1);
    const steps = stepsOf(db);
    expect(steps).toHaveLength(RUNS * STEPS);
    for (const s of steps) {
      expect(s.status, `${ctx} ${s.runId}/${s.path}`).toBe('SUCCEEDED');
      expect(s.attempt, `${ctx} ${s.runId}/${s.path}`).toBe(1);
      expect(s.deliveries, `${ctx} ${s.runId}/${s.path} (in flight at ${inFlightAt.get(s.id) ?? 0} kills)`).toBe(1 + (inFlightAt.get(s.id) ?? 0));
    }

    // The ledger: every step's key at least once, at most twice, twice only for a step in flight at a kill.
    const counts = ledgerCounts();
    const keyOf = (s: StepRecord) => `${s.runId}:${s.id}:1`;
    const byKey = new Map(steps.map((s) => [keyOf(s), s]));
    expect([...counts.keys()].filter((k) => !byKey.has(k)), `${ctx} unknown keys in the ledger`).toEqual([]);
    for (const s of steps) expect(counts.get(keyOf(s)), `${ctx} ledger count of ${s.runId}/${s.path}`).toBeGreaterThanOrEqual(1);
    const twice = [...counts].filter(([, c]) => c > 1);
    expect(twice.filter(([, c]) => c > 2), ctx).toEqual([]);
    expect(twice.filter(([k]) => !inFlightAt.has(byKey.get(k)?.id ?? '')), `${ctx} repeated keys of steps not in flight at a kill`).toEqual([]);
    // The kills did land while side effects were happening.
    expect(twice.length, ctx).toBeGreaterThan(0);

    // The event log of every run is complete.
    const events = eventsOf(db);
    for (const id of ids) {
      expectCompleteLog(id, events.filter((e) => e.runId === id), steps.filter((s) => s.runId === id));
    }
  }, 180_000);

  it('a durable sleep that spans a kill fires once, at its deadline', async () => {
    let worker = await startWorker();
    const id = (await startRuns([{ ledger }], 'nap'))[0] as string;
    const waiting = await waitFor('the sleep to start waiting', () => eventOf(db, id, 'step:waiting'), 30_000);
    await worker.killHard();
    const nap = stepsOf(db, id).find((s) => s.stateName === 'nap') as StepRecord;
    expect(nap).toMatchObject({ status: 'RUNNING', deliveries: 1, wait: { type: 'timer' } });
    const until = nap.wait?.until as number;
    expect(until).toBe((nap.attemptStartedMs as number) + 6000);
    expect(waiting.at).toBeLessThan(until);
    // Down for a while, so a timer that restarted from zero would fire well after the deadline.
    await new Promise((r) => setTimeout(r, 1500));
    worker = await startWorker();
    expect(Date.now()).toBeLessThan(until); // the worker is back before the deadline

    await waitFor('the run to complete', () => eventOf(db, id, 'run:completed'), 30_000);
    worker.kill('SIGTERM');
    expect(await worker.waitExit()).toEqual({ code: 0, signal: null });

    const events = eventsOf(db, id);
    const own = events.filter((e) => e.stepId === nap.id);
    expect(own.map((e) => e.type)).toEqual(['state:entered', 'step:started', 'step:waiting', 'step:succeeded']);
    const fired = own.at(-1) as EventRecord;
    expect(fired.at).toBeGreaterThanOrEqual(until);
    expect(fired.at - until).toBeLessThan(1000);
    expect(stepsOf(db, id).map((s) => [s.stateName, s.status, s.deliveries])).toEqual([
      ['before', 'SUCCEEDED', 1],
      ['nap', 'SUCCEEDED', 1],
      ['after', 'SUCCEEDED', 1],
    ]);
    expect([...ledgerCounts().values()]).toEqual([1, 1]);
    expectCompleteLog(id, events, stepsOf(db, id));
  }, 60_000);
});
