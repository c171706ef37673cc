/**
 * Transform benchmark: what a `transform` step (a Starlark expression evaluated inline) costs in a run.
 * (a) the expression alone: the typical multi-line dict of Station's files, parsed once, evaluated over and over;
 * (b) runs of a foreach over ITEMS items whose iteration is one transform of the fetched data (each iteration's input
 *     is the previous output: the fetched object with its item), and as the baseline measured in the same process
 *     runs of the same foreach with an inject step instead: per-step cost of each (run time / items), and their ratio.
 * Target: a transform step costs <= 0.2 ms (p50 over the runs) in process.
 */
import { compileStarlark, evaluateStarlark } from '../src/expressions/starlark/index.js';
import { bounded, ENVIRONMENT, prepare, RunWaiter, teardown } from './runs.js';
import { percentile, report } from './stats.js';

const ITEMS = 200;
const RUNS = 30;
const WARMUP_RUNS = 5;
const EVALS = 20_000;
const PART_TIMEOUT_MS = Number(process.env.BENCH_PART_TIMEOUT_MS ?? 120_000);

/** The typical transform of Station's files: a multi-line dict with .get, a filtered comprehension, a slice, str and +. */
export const TYPICAL_EXPRESSION = `{
    "incident_id": input.incident_id,
    "host": input.host,
    "severity": ctx.steps.seed.get("severity", "low"),
    "services": [s["name"] for s in input.services if s.get("enabled", True)],
    "summary": "Incident " + str(input.incident_id) + ": " + input.title,
    "recent_logs": input.logs[-20:] if input.get("logs") else [],
}`;

const SEED = {
  incident_id: 4711,
  title: 'disk pressure on db-1',
  severity: 'high',
  services: Array.from({ length: 8 }, (_, i) => ({ name: `svc-${i}`, enabled: i % 3 !== 0 })),
  logs: Array.from({ length: 80 }, (_, i) => `2026-12-03T10:00:${String(i % 60).padStart(2, '0')}Z line ${i}`),
  hosts: Array.from({ length: ITEMS }, (_, i) => `db-${i}`),
};

function foreachYaml(id: string, kind: 'transform' | 'inject'): string {
  const lines = [`id: ${id}`, 'version: "1"', `name: Bench ${id}`, 'states:'];
  lines.push('  - name: seed', '    type: operation', '    action: noop', `    input: ${JSON.stringify(SEED)}`, '    next: each');
  lines.push('  - name: each', '    type: foreach', '    itemsPath: steps.seed.hosts', '    itemName: host', '    iterator:', '      states:');
  lines.push('        - name: step', '          resultPath: last', '          end: true');
  if (kind === 'transform') lines.push('          type: transform', '          expression: |', ...TYPICAL_EXPRESSION.split('\n').map((l) => `            ${l}`));
  else lines.push('          type: inject', '          data: {summary: "Incident {{ steps.seed.incident_id }} on {{ host }}", n: 1}');
  lines.push('    end: true');
  return `${lines.join('\n')}\n`;
}

function evaluationAlone(): number[] {
  const program = compileStarlark(TYPICAL_EXPRESSION);
  const globals = { input: { ...SEED, host: 'db-1' }, ctx: { steps: { seed: SEED } } };
  for (let i = 0; i < 2_000; i++) evaluateStarlark(program, globals);
  const samples: number[] = [];
  for (let i = 0; i < EVALS; i++) {
    const t = performance.now();
    evaluateStarlark(program, globals);
    samples.push(performance.now() - t);
  }
  return samples;
}

/** Per-step cost (ms) of each measured run: the run's time divided by its items. */
async function foreachRuns(kind: 'transform' | 'inject'): Promise<number[]> {
  const id = `bench-${kind}`;
  const { root, station } = await prepare(`stn-bench-${kind}-`, { [id]: foreachYaml(id, kind) });
  const waiter = new RunWaiter(station);
  try {
    station.engine({ concurrency: 1 }).start();
    const perStep: number[] = [];
    for (let i = 0; i < WARMUP_RUNS + RUNS; i++) {
      const t = performance.now();
      const runId = station.runs.start({ workflowId: id, environment: ENVIRONMENT, input: {} }).run.id;
      await bounded(`${kind} run ${i + 1}`, PART_TIMEOUT_MS, waiter.wait(runId));
      if (i >= WARMUP_RUNS) perStep.push((performance.now() - t) / ITEMS);
    }
    return perStep;
  } finally {
    waiter.off();
    await teardown(root, station);
  }
}

export async function benchTransform(): Promise<void> {
  process.stdout.write(`\n== transform: Starlark transform steps, in process\n`);
  const alone = evaluationAlone();
  report(`(a) the typical expression alone (${EVALS} evaluations)`, `${(percentile(alone, 50) * 1000).toFixed(1)} µs p50`);
  report('  p99', `${(percentile(alone, 99) * 1000).toFixed(1)} µs`);

  const inject = await foreachRuns('inject');
  const transform = await foreachRuns('transform');
  const tP50 = percentile(transform, 50);
  const iP50 = percentile(inject, 50);
  report(`(b) runs of a foreach of ${ITEMS} items, one step each (${RUNS} runs each)`, '');
  report('  inject step (baseline) p50', `${iP50.toFixed(3)} ms`);
  report('  transform step p50', `${tP50.toFixed(3)} ms`, '<= 0.2 ms', tP50 <= 0.2);
  report('  transform step p90', `${percentile(transform, 90).toFixed(3)} ms`);
  report('  transform / inject', `${(tP50 / iP50).toFixed(2)}x`);
}
