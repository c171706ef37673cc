import { afterEach, describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../src/agents/types.js';
import { EXECUTORS } from '../../src/executors/registry.js';
import type { ExecContext, ExecResult, Executor } from '../../src/executors/types.js';
import { EngineHarness } from '../helpers/engine-harness.js';

/**
 * The step journal the engine gives journaled executors (agent.run): each entry is committed as it is appended (a run
 * event of the step), a delivery after a crash or restart gets what the last one committed, and a delivery that is no
 * longer the step's cannot append.
 */

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const WORKFLOW = `
  id: agent
  version: "1"
  name: Agent
  states:
    - name: think
      type: operation
      action: agent.run
      input: {agent: planner, task: "{{ input.task }}"}
      retry: {maxAttempts: 2, backoff: fixed, backoffSeconds: 0}
      end: true
`;

function turn(n: number, content: string): JournalEntry {
  return { kind: 'turn', turn: n, model: 'm', provider: 'p', message: { content, toolCalls: [] }, usage: { inputTokens: 1, outputTokens: 1 }, latencyMs: 1 };
}

/** A journaled stand-in for agent.run, scripted per delivery. */
function journaled(run: (ctx: ExecContext) => Promise<ExecResult>): Executor {
  return { name: 'agent.run', journaled: true, run };
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

describe('step journal', () => {
  it('commits each entry as it is appended; a restarted engine delivers the step again with them and it goes on from there', async () => {
    const seen: number[] = [];
    let appended!: () => void;
    const twoAppended = new Promise<void>((r) => (appended = r));
    const executor = journaled(async (ctx) => {
      const journal = ctx.journal;
      if (!journal) throw new Error('no journal');
      seen.push(journal.entries.length);
      for (let n = journal.entries.length + 1; n <= 3; n++) {
        if (seen.length === 1 && n === 3) {
          appended();
          await untilAborted(ctx.signal); // the engine stops here, before the third turn
          return { kind: 'error', error: { code: 'STN_E_ABORTED', message: 'stopped' } };
        }
        await journal.append(turn(n, `turn ${n}`));
      }
      return { kind: 'ok', output: { turns: journal.entries.length } };
    });
    h = EngineHarness.create({ engine: { executors: { ...EXECUTORS, 'agent.run': executor } } });
    await h.define('agent', WORKFLOW);
    const id = h.start('agent', { task: 'plan' });
    await twoAppended;
    // Committed as appended: visible in the database while the step still runs.
    expect(h.result(id).events.filter((e) => e.type === 'agent:turn').map((e) => e.data.turn)).toEqual([1, 2]);
    await h.engine.stop();

    h.openAnother({ executors: { ...EXECUTORS, 'agent.run': executor } });
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    expect(seen).toEqual([0, 2]);
    const turns = r.events.filter((e) => e.type === 'agent:turn');
    expect(turns.map((e) => [e.data.turn, e.data.attempt])).toEqual([[1, 1], [2, 1], [3, 1]]);
    expect(r.step('think')).toMatchObject({ attempt: 1, deliveries: 2 });
  });

  it('a new attempt starts with an empty journal; entries are masked like everything stored', async () => {
    const seen: number[] = [];
    const executor = journaled(async (ctx) => {
      const journal = ctx.journal;
      if (!journal) throw new Error('no journal');
      seen.push(journal.entries.length);
      await journal.append(turn(journal.entries.length + 1, `working on ${String((ctx.input as { task: string }).task)}`));
      if (ctx.attempt === 1) return { kind: 'error', error: { code: 'STN_E_EXECUTOR', message: 'flaky' } };
      return { kind: 'ok', output: {} };
    });
    h = EngineHarness.create({ env: { STN_SECRET_TOKEN: 'hunter2-secret-value' }, engine: { executors: { ...EXECUTORS, 'agent.run': executor } } });
    await h.define('agent', WORKFLOW.replace('{{ input.task }}', 'token {{ secrets.TOKEN }}'));
    const r = await h.run('agent', {});
    expect(r.status).toBe('COMPLETED');
    expect(seen).toEqual([0, 0]);
    const turns = r.events.filter((e) => e.type === 'agent:turn');
    expect(turns.map((e) => e.data.attempt)).toEqual([1, 2]);
    expect(JSON.stringify(turns)).not.toContain('hunter2');
    expect(JSON.stringify(turns)).toContain('working on token ***');
    expect(h.dumpDatabase()).not.toContain('hunter2-secret-value');
  });

  it('a delivery whose step was cancelled cannot append: the append is refused and nothing is recorded', async () => {
    let refused: unknown;
    let aborted!: () => void;
    const wasAborted = new Promise<void>((r) => (aborted = r));
    const executor = journaled(async (ctx) => {
      await ctx.journal?.append(turn(1, 'first'));
      await untilAborted(ctx.signal);
      try {
        await ctx.journal?.append(turn(2, 'after the cancel'));
      } catch (err) {
        refused = err;
      }
      aborted();
      return { kind: 'error', error: { code: 'STN_E_ABORTED', message: 'cancelled' } };
    });
    h = EngineHarness.create({ engine: { executors: { ...EXECUTORS, 'agent.run': executor } } });
    await h.define('agent', WORKFLOW);
    const id = h.start('agent', { task: 'x' });
    await h.waitFor(id, 'agent:turn');
    h.station.runs.cancel(id, false, 'test');
    await wasAborted;
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('CANCELLED');
    expect((refused as { code?: string } | undefined)?.code).toBe('STN_E_ABORTED');
    expect(r.events.filter((e) => e.type === 'agent:turn').map((e) => e.data.turn)).toEqual([1]);
  });

  it("a failure carrying the far side's Retry-After waits at least that long before the next attempt", async () => {
    const executor = journaled(async (ctx) => {
      if (ctx.attempt === 1) return { kind: 'error', error: { code: 'STN_E_EXECUTOR', message: 'rate limited', retryAfterMs: 1500 } };
      return { kind: 'ok', output: {} };
    });
    h = EngineHarness.create({ engine: { executors: { ...EXECUTORS, 'agent.run': executor } } });
    await h.define('agent', WORKFLOW);
    const r = await h.run('agent', { task: 'x' });
    expect(r.status).toBe('COMPLETED');
    const retrying = r.events.find((e) => e.type === 'step:retrying');
    expect(retrying?.data.delayMs).toBe(1500);
  });
});
