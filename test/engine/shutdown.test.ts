import { afterEach, describe, expect, it, vi } from 'vitest';
import { EXECUTORS } from '../../src/executors/registry.js';
import type { ExecContext, ExecResult, Executor } from '../../src/executors/types.js';
import { EngineHarness } from '../helpers/engine-harness.js';

/** Engine.stop(): it awaits the deliveries in flight as they settle, and returns at once when there are none. */

let h: EngineHarness;

afterEach(async () => {
  vi.restoreAllMocks();
  await h.close();
});

/** A shell.exec stand-in whose deliveries end when the test says so (or when the engine aborts them). */
class Gate {
  readonly pending: Array<{ ctx: ExecContext; finish: (r: ExecResult) => void }> = [];
  readonly executor: Executor = {
    name: 'shell.exec',
    run: (ctx) =>
      new Promise<ExecResult>((resolve) => {
        this.pending.push({ ctx, finish: resolve });
        ctx.signal.addEventListener('abort', () => resolve({ kind: 'error', error: { code: 'STN_E_ABORTED', message: 'aborted' } }));
      }),
  };

  /** Ends the oldest delivery still running with an ok outcome. */
  release(): void {
    const next = this.pending.shift();
    if (!next) throw new Error('no delivery is running');
    next.finish({ kind: 'ok', output: { done: next.ctx.stepId } });
  }
}

const WORKFLOW = `
  id: gated
  version: "1"
  name: Gated
  states:
    - {name: work, type: operation, action: shell.exec, input: {command: ["true"]}, next: after}
    - {name: after, type: operation, action: noop, end: true}
`;

/** Lets the event loop go round (I/O, timers due, immediates) without scheduling a timer. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Records the delays of every timer scheduled from now on (a polling wait would show here). */
function watchTimers(): number[] {
  const delays: number[] = [];
  const setTimeoutOrig = globalThis.setTimeout;
  const setIntervalOrig = globalThis.setInterval;
  vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
    delays.push(ms ?? 0);
    return setTimeoutOrig(fn, ms);
  }) as typeof setTimeout);
  vi.spyOn(globalThis, 'setInterval').mockImplementation(((fn: () => void, ms?: number) => {
    delays.push(ms ?? 0);
    return setIntervalOrig(fn, ms);
  }) as typeof setInterval);
  return delays;
}

describe('engine shutdown', () => {
  it('waits for the steps in flight and resolves when the last one settles, with no polling timer', async () => {
    const gate = new Gate();
    h = EngineHarness.create({ engine: { executors: { ...EXECUTORS, 'shell.exec': gate.executor } } });
    await h.define('gated', WORKFLOW);
    const ids = [h.start('gated'), h.start('gated'), h.start('gated')];
    await Promise.all(ids.map((id) => h.waitFor(id, (e) => e.type === 'step:started' && e.data.state === 'work')));
    expect(h.engine.busy).toBe(3);

    const delays = watchTimers();
    let stopped = false;
    const stopping = h.engine.stop(60_000).then(() => {
      stopped = true;
    });
    for (let i = 0; i < 2; i++) {
      for (let n = 0; n < 5; n++) await turn();
      expect(stopped).toBe(false);
      gate.release();
    }
    for (let n = 0; n < 5; n++) await turn();
    expect(stopped).toBe(false);
    expect(h.engine.busy).toBe(1);
    gate.release();
    await stopping;

    // The only timer of the shutdown is its grace period: nothing polled for the deliveries to end.
    expect(delays).toEqual([60_000]);
    expect(h.engine.busy).toBe(0);
    for (const id of ids) {
      const r = h.result(id);
      expect(r.step('work').status).toBe('SUCCEEDED'); // committed before stop() resolved
      expect(r.status).toBe('RUNNING'); // the chained step went back to the queue, not run after the stop
    }

    // Their leases were given back: another engine finishes the runs at once.
    h.openAnother();
    for (const id of ids) expect((await h.waitForEnd(id)).status).toBe('COMPLETED');
  });

  it('aborts what is still running after the grace period and resolves once those executors have returned', async () => {
    const gate = new Gate();
    h = EngineHarness.create({ engine: { executors: { ...EXECUTORS, 'shell.exec': gate.executor } } });
    await h.define('gated', WORKFLOW);
    const id = h.start('gated');
    await h.waitFor(id, (e) => e.type === 'step:started' && e.data.state === 'work');

    await h.engine.stop(20);
    expect(h.engine.busy).toBe(0);
    expect(h.result(id).step('work').status).toBe('RUNNING'); // not committed: delivered again on the next start
  });

  it('returns at once when nothing is in flight', async () => {
    h = EngineHarness.create();
    await h.define('gated', WORKFLOW);
    await h.barrier();
    // The barrier's slot settles just after its run's last commit.
    for (let n = 0; n < 100 && h.engine.busy > 0; n++) await turn();
    expect(h.engine.busy).toBe(0);

    const delays = watchTimers();
    let immediate = false;
    setImmediate(() => {
      immediate = true;
    });
    await h.engine.stop(60_000);
    expect(immediate).toBe(false); // resolved before the event loop went round once
    expect(delays).toEqual([]);
  });
});
