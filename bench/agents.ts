/**
 * Agent benchmark: what an agent.run step costs on top of its model, against a fake OpenAI-compatible server on
 * loopback (the production client speaks real HTTP to it).
 * (a) engine overhead of one agent step: its time from step:started to step:succeeded minus the model's time (the
 *     latency the loop measured around each model call), one step after another, one model turn each;
 * (b) 200 agent steps at once against a model answering in 200 ms: wall time (no serialization of the I/O) and RSS.
 */
import type { Station } from '../src/context.js';
import { FakeOpenAI } from '../test/helpers/fake-openai.js';
import { bounded, prepare, RunWaiter, teardown } from './runs.js';
import { fmtMb, fmtMs, percentile, report } from './stats.js';

const SERIAL_STEPS = 300;
const SERIAL_WARMUP = 30;
const CONCURRENT_STEPS = 200;
const CONCURRENT_LATENCY_MS = 200;
const PART_TIMEOUT_MS = Number(process.env.BENCH_PART_TIMEOUT_MS ?? 120_000);

const AGENT = `---
model: llm/bench-model
---
{{role "system"}}
You answer briefly.
{{role "user"}}
{{userInput}}
`;

const WORKFLOW = `id: ask
version: "1"
name: Ask
states:
  - {name: ask, type: operation, action: agent.run, input: {agent: helper, task: "{{ input.task }}"}, end: true}
`;

async function agentRepo(prefix: string, fake: FakeOpenAI): Promise<{ root: string; station: Station }> {
  return prepare(prefix, { ask: WORKFLOW }, {
    'station.yaml': `agents:\n  providers:\n    llm: {type: openai, baseUrl: "${fake.url}"}\n`,
    'environments/bench/agents/helper.prompt': AGENT,
  });
}

/** Per step: its time from step:started to step:succeeded, and the model's time inside it (from its journal). */
function stepClock(station: Station): { samples: Array<{ stepMs: number; modelMs: number }>; off: () => void } {
  const open = new Map<string, { at: number; modelMs: number }>();
  const samples: Array<{ stepMs: number; modelMs: number }> = [];
  const off = station.events.on((e) => {
    if (e.type === 'step:started') open.set(e.stepId ?? '', { at: performance.now(), modelMs: 0 });
    else if (e.type === 'agent:turn') {
      const s = open.get(e.stepId ?? '');
      if (s) s.modelMs += e.data.latencyMs;
    } else if (e.type === 'step:succeeded') {
      const s = open.get(e.stepId ?? '');
      if (s) samples.push({ stepMs: performance.now() - s.at, modelMs: s.modelMs });
      open.delete(e.stepId ?? '');
    }
  });
  return { samples, off };
}

/** (a) Agent steps one after another, one model turn each, the model answering at once. */
async function serialSteps(): Promise<{ overhead: number[]; step: number[]; model: number[] }> {
  const fake = new FakeOpenAI({ respond: () => ({ content: 'ok', usage: { input: 10, output: 1 } }) });
  await fake.start();
  const { root, station } = await agentRepo('stn-bench-agent-serial-', fake);
  const waiter = new RunWaiter(station);
  const clock = stepClock(station);
  try {
    station.engine({ concurrency: 8 }).start();
    const deadline = performance.now() + PART_TIMEOUT_MS;
    for (let i = 0; i < SERIAL_WARMUP + SERIAL_STEPS; i++) {
      const id = station.runs.start({ workflowId: 'ask', environment: 'bench', input: { task: `question ${i}` } }).run.id;
      await bounded(`(a) agent step ${i + 1}`, Math.max(1, deadline - performance.now()), waiter.wait(id));
    }
    const measured = clock.samples.slice(SERIAL_WARMUP);
    if (measured.length !== SERIAL_STEPS) throw new Error(`(a) timed ${measured.length} of ${SERIAL_STEPS} steps`);
    return {
      overhead: measured.map((s) => s.stepMs - s.modelMs),
      step: measured.map((s) => s.stepMs),
      model: measured.map((s) => s.modelMs),
    };
  } finally {
    clock.off();
    waiter.off();
    await teardown(root, station);
    await fake.stop();
  }
}

/** (b) CONCURRENT_STEPS agent steps started at once, the model taking CONCURRENT_LATENCY_MS per answer. */
async function concurrentSteps(): Promise<{ ms: number; completed: number; maxRss: number; peakInFlight: number }> {
  let inFlight = 0;
  let peakInFlight = 0;
  const fake = new FakeOpenAI({ latencyMs: CONCURRENT_LATENCY_MS, respond: () => ({ content: 'ok' }) });
  await fake.start();
  const { root, station } = await agentRepo('stn-bench-agent-conc-', fake);
  const waiter = new RunWaiter(station);
  const off = station.events.on((e) => {
    if (e.type === 'step:started') peakInFlight = Math.max(peakInFlight, ++inFlight);
    else if (e.type === 'step:succeeded') inFlight--;
  });
  try {
    // One execution slot per step: the steps wait on the model, not on each other.
    station.engine({ concurrency: CONCURRENT_STEPS }).start();
    const t0 = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < CONCURRENT_STEPS; i++) ids.push(station.runs.start({ workflowId: 'ask', environment: 'bench', input: { task: `q${i}` } }).run.id);
    await bounded(`(b) ${CONCURRENT_STEPS} concurrent agent steps`, PART_TIMEOUT_MS, Promise.all(ids.map((id) => waiter.wait(id))));
    return { ms: performance.now() - t0, completed: waiter.completed, maxRss: process.resourceUsage().maxRSS * 1024, peakInFlight };
  } finally {
    off();
    waiter.off();
    await teardown(root, station);
    await fake.stop();
  }
}

export async function benchAgents(): Promise<void> {
  process.stdout.write('\n== agents: agent.run steps against a fake OpenAI-compatible server on loopback\n');
  const a = await serialSteps();
  const p50 = percentile(a.overhead, 50);
  report(`(a) ${SERIAL_STEPS} agent steps one after another (after ${SERIAL_WARMUP} not counted)`, '');
  report('  step time p50 (step:started to step:succeeded)', fmtMs(percentile(a.step, 50)));
  report('  model time p50 (HTTP round trip to the fake)', fmtMs(percentile(a.model, 50)));
  report('  engine overhead p50 (step time - model time)', fmtMs(p50), '<= 2 ms', p50 <= 2);
  report('  engine overhead p99', fmtMs(percentile(a.overhead, 99)));
  const b = await concurrentSteps();
  report(`(b) ${CONCURRENT_STEPS} agent steps at once, model latency ${CONCURRENT_LATENCY_MS} ms`, fmtMs(b.ms), '<= 1500 ms', b.ms <= 1500);
  report('  completed', `${b.completed} / ${CONCURRENT_STEPS}`, `${CONCURRENT_STEPS}`, b.completed === CONCURRENT_STEPS);
  report('  most steps running at once', String(b.peakInFlight));
  report('  peak RSS (maxRSS, whole process incl. the fake)', fmtMb(b.maxRss), '<= 300 MB', b.maxRss <= 300 * 1024 * 1024);
}
