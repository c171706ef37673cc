/**
 * Engine benchmark: what one step and one run cost on top of the durable store.
 * (a) the floor: durable SQLite commits per second with the store's own pragmas (one tiny INSERT per IMMEDIATE tx);
 * (b) one run of 1,000 sequential noop steps: steps/s, per-step overhead, and its ratio to the floor;
 * (c) 1,000 runs of a 3-step noop workflow one after another: start-to-complete latency;
 * (d) 1,000 concurrent runs × 10 noop steps: wall time, steps/s, peak RSS, and that none were lost.
 * Every part uses its own temp repository and database and fails after PART_TIMEOUT_MS instead of hanging.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/store/db.js';
import { bounded, ENVIRONMENT, prepare, RunWaiter, teardown } from './runs.js';
import { fmtMb, fmtMs, percentile, report } from './stats.js';

const FLOOR_COMMITS = 20_000;
const SEQ_STEPS = 1_000;
const SEQ_REPEATS = 5;
const SEQ_WARMUP = 2;
const FLOOR_REPEATS = 3;
const SERIAL_RUNS = 1_000;
const SERIAL_STEPS = 3;
const CONCURRENT_RUNS = 1_000;
const CONCURRENT_STEPS = 10;
const CONCURRENCY = 8;
const PART_TIMEOUT_MS = Number(process.env.BENCH_PART_TIMEOUT_MS ?? 120_000);

/** A workflow of `steps` sequential noop operation states s1..sN. */
export function sequentialWorkflowYaml(id: string, steps: number): string {
  const lines = [`id: ${id}`, 'version: "1.0"', `name: Bench ${id}`, 'states:'];
  for (let i = 1; i <= steps; i++) {
    lines.push(`  - name: s${i}`, '    type: operation', '    action: noop');
    lines.push(i < steps ? `    next: s${i + 1}` : '    end: true');
  }
  return `${lines.join('\n')}\n`;
}

/** The element whose key is the median (the lower middle one for an even count). */
function medianBy<T>(items: T[], key: (item: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)] as T;
}

/** (a) Durable commits per second with the store's pragmas: one small INSERT per IMMEDIATE transaction. */
function floorCommits(): { perSecond: number; usPerCommit: number } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-bench-floor-'));
  const db = openDatabase(path.join(root, 'floor.db'));
  try {
    db.exec('CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, n INTEGER NOT NULL)');
    const insert = db.prepare('INSERT INTO bench_floor (run_id, n) VALUES (?, ?)');
    const commit = db.transaction((n: number) => insert.run('run-0123456789abcdef', n));
    const t = performance.now();
    for (let i = 0; i < FLOOR_COMMITS; i++) {
      commit.immediate(i);
      if ((i & 1023) === 0 && performance.now() - t > PART_TIMEOUT_MS) {
        throw new Error(`floor: ${i} of ${FLOOR_COMMITS} commits after ${PART_TIMEOUT_MS} ms`);
      }
    }
    const ms = performance.now() - t;
    const rows = (db.prepare('SELECT count(*) AS n FROM bench_floor').get() as { n: number }).n;
    if (rows !== FLOOR_COMMITS) throw new Error(`floor: ${rows} rows after ${FLOOR_COMMITS} commits`);
    return { perSecond: FLOOR_COMMITS / (ms / 1000), usPerCommit: (ms * 1000) / FLOOR_COMMITS };
  } finally {
    db.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** (b) One run of SEQ_STEPS sequential noop steps. */
async function sequentialRun(): Promise<{ ms: number; stepGaps: number[]; steps: number }> {
  const { root, station } = await prepare('stn-bench-seq-', { 'bench-seq': sequentialWorkflowYaml('bench-seq', SEQ_STEPS) });
  try {
    // A chain of inline steps shares one commit, whose events are published together in one synchronous burst: each
    // step's overhead is its burst's time since the previous burst, divided among the burst's steps.
    const stepGaps: number[] = [];
    let steps = 0;
    let burst: { at: number; steps: number } | undefined;
    let prev = 0;
    let runId: string | undefined;
    let completedAt = 0;
    const offSteps = station.events.on((e) => {
      if (e.runId !== runId) return;
      if (!burst) {
        const b = (burst = { at: performance.now(), steps: 0 });
        queueMicrotask(() => {
          for (let k = 0; k < b.steps; k++) stepGaps.push((b.at - prev) / b.steps);
          if (b.steps > 0) prev = b.at;
          burst = undefined;
        });
      }
      if (e.type === 'step:succeeded') {
        burst.steps++;
        steps++;
      } else if (e.type === 'run:completed') completedAt = performance.now();
    });
    const waiter = new RunWaiter(station);
    try {
      station.engine({ concurrency: CONCURRENCY }).start();
      const t0 = performance.now();
      prev = t0;
      runId = station.runs.start({ workflowId: 'bench-seq', environment: ENVIRONMENT, input: {} }).run.id;
      await bounded(`(b) run of ${SEQ_STEPS} steps`, PART_TIMEOUT_MS, waiter.wait(runId));
      const ms = completedAt - t0;
      if (steps !== SEQ_STEPS) throw new Error(`(b) saw ${steps} step:succeeded events, expected ${SEQ_STEPS}`);
      // A chain of inline steps shares one commit, and its events are published together after it: each step's
      // overhead is its commit group's time since the previous group, divided among the group's steps.
      return { ms, stepGaps, steps };
    } finally {
      offSteps();
      waiter.off();
    }
  } finally {
    await teardown(root, station);
  }
}

/** (c) SERIAL_RUNS runs of a SERIAL_STEPS-step workflow, each started after the previous one completed. */
async function serialRuns(): Promise<number[]> {
  const { root, station } = await prepare('stn-bench-serial-', { 'bench-serial': sequentialWorkflowYaml('bench-serial', SERIAL_STEPS) });
  const waiter = new RunWaiter(station);
  try {
    station.engine({ concurrency: CONCURRENCY }).start();
    const latencies: number[] = [];
    const deadline = performance.now() + PART_TIMEOUT_MS;
    for (let i = 0; i < SERIAL_RUNS; i++) {
      const t = performance.now();
      const id = station.runs.start({ workflowId: 'bench-serial', environment: ENVIRONMENT, input: {} }).run.id;
      const left = deadline - t;
      if (left <= 0) throw new Error(`(c) ${i} of ${SERIAL_RUNS} runs done after ${PART_TIMEOUT_MS} ms`);
      await bounded(`(c) run ${i + 1} of ${SERIAL_RUNS}`, left, waiter.wait(id));
      latencies.push(performance.now() - t);
    }
    return latencies;
  } finally {
    waiter.off();
    await teardown(root, station);
  }
}

interface ConcurrentResult {
  ms: number;
  startMs: number;
  maxRss: number;
  sampledRss: number;
  completedRuns: number;
  succeededSteps: number;
}

/** (d) CONCURRENT_RUNS runs of CONCURRENT_STEPS steps, all started at once. */
async function concurrentRuns(): Promise<ConcurrentResult> {
  const { root, station } = await prepare('stn-bench-conc-', { 'bench-conc': sequentialWorkflowYaml('bench-conc', CONCURRENT_STEPS) });
  let sampledRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    sampledRss = Math.max(sampledRss, process.memoryUsage().rss);
  }, 50);
  const waiter = new RunWaiter(station);
  try {
    station.engine({ concurrency: CONCURRENCY }).start();
    const t0 = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < CONCURRENT_RUNS; i++) {
      ids.push(station.runs.start({ workflowId: 'bench-conc', environment: ENVIRONMENT, input: {} }).run.id);
    }
    const startMs = performance.now() - t0;
    await bounded(
      `(d) ${CONCURRENT_RUNS} concurrent runs`,
      PART_TIMEOUT_MS,
      Promise.all(ids.map((id) => waiter.wait(id))),
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message} (${waiter.completed} of ${CONCURRENT_RUNS} completed)`);
    });
    const ms = performance.now() - t0;
    sampledRss = Math.max(sampledRss, process.memoryUsage().rss);
    const placeholders = ids.map(() => '?').join(',');
    const completedRuns = (
      station.db.prepare(`SELECT count(*) AS n FROM workflow_runs WHERE status = 'COMPLETED' AND id IN (${placeholders})`).get(...ids) as { n: number }
    ).n;
    const succeededSteps = (
      station.db
        .prepare(`SELECT count(*) AS n FROM workflow_run_steps WHERE status = 'SUCCEEDED' AND run_id IN (${placeholders})`)
        .get(...ids) as { n: number }
    ).n;
    return { ms, startMs, maxRss: process.resourceUsage().maxRSS * 1024, sampledRss, completedRuns, succeededSteps };
  } finally {
    clearInterval(sampler);
    waiter.off();
    await teardown(root, station);
  }
}

export async function benchEngine(): Promise<void> {
  process.stdout.write(`\n== engine: noop steps, concurrency ${CONCURRENCY}, store pragmas WAL + synchronous=NORMAL\n`);

  // Medians: the floor of 3 measurements, (b) of 5 runs (each on a fresh database); single short runs swing with
  // JIT warm-up and GC on a 2-core machine.
  const floor = medianBy(Array.from({ length: FLOOR_REPEATS }, () => floorCommits()), (f) => f.perSecond);
  report(`(a) floor: ${FLOOR_COMMITS} commits, 1 INSERT each (median of ${FLOOR_REPEATS})`, `${floor.perSecond.toFixed(0)}/s`);
  report('  per commit', `${floor.usPerCommit.toFixed(1)} µs`);

  // Steady state: the first runs also measure V8 compiling the engine's hot paths (they are listed, not counted).
  const warmup: number[] = [];
  for (let i = 0; i < SEQ_WARMUP; i++) warmup.push((await sequentialRun()).ms);
  const seqRuns: Array<Awaited<ReturnType<typeof sequentialRun>>> = [];
  for (let i = 0; i < SEQ_REPEATS; i++) seqRuns.push(await sequentialRun());
  const seq = medianBy(seqRuns, (r) => r.ms);
  report('(b) warm-up runs, not counted (ms)', warmup.map((ms) => ms.toFixed(1)).join(' '));
  report('(b) measured runs (ms)', seqRuns.map((r) => r.ms.toFixed(1)).join(' '));
  const seqPerSecond = seq.steps / (seq.ms / 1000);
  const gapP50 = percentile(seq.stepGaps, 50);
  const ratio = (seqPerSecond / floor.perSecond) * 100;
  report(`(b) one run of ${SEQ_STEPS} sequential steps (median of ${SEQ_REPEATS} runs)`, fmtMs(seq.ms));
  report('  steps/s', `${seqPerSecond.toFixed(0)}/s`);
  report('  per-step overhead (total / steps)', `${(seq.ms / seq.steps).toFixed(3)} ms`);
  report('  per-step overhead p50 (per commit group)', `${gapP50.toFixed(3)} ms`, '<= 0.1 ms', gapP50 <= 0.1);
  report('  per-step overhead p99 (per commit group)', `${percentile(seq.stepGaps, 99).toFixed(3)} ms`);
  report('  steps/s as share of (a) commits/s', `${ratio.toFixed(1)} %`, '>= 45 %', ratio >= 45);

  const lat = await serialRuns();
  const latP50 = percentile(lat, 50);
  report(`(c) ${SERIAL_RUNS} runs × ${SERIAL_STEPS} steps, one after another`, fmtMs(lat.reduce((a, b) => a + b, 0)));
  report('  start-to-complete p50', fmtMs(latP50), '<= 3 ms', latP50 <= 3);
  report('  start-to-complete p99', fmtMs(percentile(lat, 99)));

  const conc = await concurrentRuns();
  const steps = CONCURRENT_RUNS * CONCURRENT_STEPS;
  const lost = conc.completedRuns !== CONCURRENT_RUNS || conc.succeededSteps !== steps;
  report(`(d) ${CONCURRENT_RUNS} concurrent runs × ${CONCURRENT_STEPS} steps`, fmtMs(conc.ms));
  report(`  starting all ${CONCURRENT_RUNS} runs (runs.start)`, fmtMs(conc.startMs));
  report('  steps/s', `${(steps / (conc.ms / 1000)).toFixed(0)}/s`);
  report('  peak RSS (maxRSS, whole process)', fmtMb(conc.maxRss), '<= 400 MB', conc.maxRss <= 400 * 1024 * 1024);
  report('  peak RSS (sampled every 50 ms in (d))', fmtMb(conc.sampledRss));
  report(
    '  none lost: COMPLETED runs / SUCCEEDED steps',
    `${conc.completedRuns} / ${conc.succeededSteps}`,
    `${CONCURRENT_RUNS} / ${steps}`,
    !lost,
  );
  if (lost) process.exitCode = 1;
}
