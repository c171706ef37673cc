import { afterEach, describe, expect, it } from 'vitest';
import { EngineHarness, eventually, fakeClock, processAlive, readPid, type FakeClock } from '../helpers/engine-harness.js';

/** Retries (`retry`, `onError`), backoff timers, step and run timeouts. */

let h: EngineHarness;

afterEach(async () => {
  await h.close();
});

function failing(id: string, retry: string): string {
  return `
    id: ${id}
    version: "1"
    name: Failing
    states:
      - name: flaky
        type: operation
        action: fail
        input: {message: "still broken", code: E_FLAKY}
        retry: ${retry}
        end: true
  `;
}

/** Waits for the next retry of a run (attempt `attempt`) and returns its delay. */
async function retrying(runId: string, attempt: number): Promise<number> {
  const e = await h.waitFor(runId, (x) => x.type === 'step:retrying' && x.data.attempt === attempt);
  return (e.data as { delayMs: number }).delayMs;
}

function started(runId: string): number[] {
  return h.result(runId).events.filter((e) => e.type === 'step:started').map((e) => e.data.attempt as number);
}

/** The retry for `attempt` is not delivered one ms before its delay is over, and is delivered once it is. */
async function expectDueAfter(clock: FakeClock, runId: string, attempt: number, delayMs: number): Promise<void> {
  h.advance(clock, delayMs - 1);
  await h.barrier();
  expect(started(runId)).not.toContain(attempt);
  h.advance(clock, 1);
  await h.waitFor(runId, (e) => e.type === 'step:started' && e.data.attempt === attempt);
}

describe('retries', () => {
  it('maxAttempts counts every attempt, the first included', async () => {
    h = EngineHarness.create();
    await h.define('three', failing('three', '{maxAttempts: 3, backoffSeconds: 0}'));
    const r = await h.run('three');

    expect(r.status).toBe('FAILED');
    const step = r.step('flaky');
    expect(step.status).toBe('FAILED');
    expect(step.attempt).toBe(3);
    expect(step.error).toMatchObject({ code: 'E_FLAKY', attempt: 3 });
    const types = r.events.filter((e) => e.stepId === step.id).map((e) => `${e.type}#${String(e.data.attempt ?? '')}`);
    expect(types).toEqual([
      'state:entered#',
      'step:started#1',
      'step:retrying#2',
      'step:started#2',
      'step:retrying#3',
      'step:started#3',
      'step:failed#3',
    ]);
  });

  it('fixed backoff waits exactly backoffSeconds before each retry (durable timer, fake clock)', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    await h.define('fixed', failing('fixed', '{maxAttempts: 3, backoffSeconds: 30, backoff: fixed}'));
    const id = h.start('fixed');

    expect(await retrying(id, 2)).toBe(30_000);
    const task = h.station.db.prepare("SELECT run_at FROM workflow_tasks WHERE run_id = ? AND kind = 'exec'").pluck().all(id);
    expect(task).toEqual([clock.t + 30_000]);
    expect(h.result(id).step('flaky').status).toBe('PENDING');
    await expectDueAfter(clock, id, 2, 30_000);

    expect(await retrying(id, 3)).toBe(30_000);
    await expectDueAfter(clock, id, 3, 30_000);
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('FAILED');
    expect(r.step('flaky').attempt).toBe(3);
  });

  it('exponential backoff grows, is capped by maxBackoffSeconds, and is deterministic with a fixed random', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock, random: () => 0.5 } });
    await h.define('expo', failing('expo', '{maxAttempts: 5, backoffSeconds: 1, backoff: exponential, maxBackoffSeconds: 3}'));

    const delaysOf = async (): Promise<number[]> => {
      const id = h.start('expo');
      const delays: number[] = [];
      for (let attempt = 2; attempt <= 5; attempt++) {
        const delay = await retrying(id, attempt);
        delays.push(delay);
        await expectDueAfter(clock, id, attempt, delay);
      }
      const r = await h.waitForEnd(id);
      expect(r.status).toBe('FAILED');
      expect(r.step('flaky').attempt).toBe(5);
      return delays;
    };

    const delays = await delaysOf();
    // Un-jittered: 1 s, 2 s, 4 s → 3 s (cap), 8 s → 3 s (cap). Jitter never adds to it, nor takes more than half.
    const raw = [1000, 2000, 3000, 3000];
    delays.forEach((d, i) => {
      expect(d).toBeLessThanOrEqual(raw[i] ?? 0);
      expect(d).toBeGreaterThanOrEqual((raw[i] ?? 0) / 2);
    });
    expect(delays[1]).toBeGreaterThan(delays[0] ?? Infinity);
    expect(delays[2]).toBeGreaterThan(delays[1] ?? Infinity);
    expect(delays[3]).toBe(delays[2]); // capped, same random
    expect(Math.max(...delays)).toBeLessThanOrEqual(3000);
    // The same random gives the same delays.
    expect(await delaysOf()).toEqual(delays);
  });

  it('succeeds on the second attempt, with a new idempotency key', async () => {
    h = EngineHarness.create();
    const marker = h.file('attempted');
    await h.define('second', `
      id: second
      version: "1"
      name: Second time lucky
      states:
        - name: flaky
          type: operation
          action: shell.exec
          input:
            command: [sh, -c, 'if [ -e "$1" ]; then printf %s "$STN_IDEMPOTENCY_KEY"; else touch "$1"; echo first >&2; exit 1; fi', sh, "{{ input.marker }}"]
          retry: {maxAttempts: 3, backoffSeconds: 0}
          end: true
    `);
    const id = h.start('second', { marker });
    const r = await h.waitForEnd(id);

    expect(r.status).toBe('COMPLETED');
    const step = r.step('flaky');
    expect(step.status).toBe('SUCCEEDED');
    expect(step.attempt).toBe(2);
    expect((step.output as { stdout: string }).stdout).toBe(`${id}:${step.id}:2`);
    expect(r.events.filter((e) => e.type === 'step:retrying')).toHaveLength(1);
    expect(r.events.filter((e) => e.type === 'step:started')).toHaveLength(2);
  });

  it('does not retry non-retryable errors (STN_E_SHELL_SPAWN)', async () => {
    h = EngineHarness.create();
    await h.define('spawn', `
      id: spawn
      version: "1"
      name: Spawn
      states:
        - name: run
          type: operation
          action: shell.exec
          input: {command: [/nonexistent/station-test-binary]}
          retry: {maxAttempts: 4, backoffSeconds: 0}
          end: true
    `);
    const r = await h.run('spawn');
    expect(r.status).toBe('FAILED');
    expect(r.step('run').status).toBe('FAILED');
    expect(r.step('run').attempt).toBe(1);
    expect(r.step('run').error?.code).toBe('STN_E_SHELL_SPAWN');
    expect(r.events.filter((e) => e.type === 'step:retrying')).toHaveLength(0);
    expect(r.events.filter((e) => e.type === 'step:started')).toHaveLength(1);
  });
});

describe('timeouts', () => {
  it('a step timeout ends the step TIMED_OUT (STN_E_STEP_TIMEOUT) and kills the whole process group', async () => {
    h = EngineHarness.create();
    const pidFile = h.file('grandchild.pid');
    await h.define('slow', `
      id: slow
      version: "1"
      name: Slow
      states:
        - name: hang
          type: operation
          action: shell.exec
          timeoutSeconds: 1
          input: {command: [sh, -c, 'sleep 30 & echo $! > "$1"; wait', sh, "{{ input.pidFile }}"]}
          end: true
    `);
    const began = Date.now();
    const id = h.start('slow', { pidFile });
    const grandchild = await readPid(pidFile);
    expect(processAlive(grandchild)).toBe(true);
    const r = await h.waitForEnd(id);

    expect(Date.now() - began).toBeLessThan(5000);
    const step = r.step('hang');
    expect(step.status).toBe('TIMED_OUT');
    expect(step.error?.code).toBe('STN_E_STEP_TIMEOUT');
    expect(step.error?.message).toContain('hang');
    expect(r.status).toBe('FAILED');
    expect(r.error?.code).toBe('STN_E_STEP_TIMEOUT');
    await eventually(() => !processAlive(grandchild), 5000, `grandchild ${grandchild} to be gone`);
  });

  it('a workflow timeoutSeconds ends the run TIMED_OUT (fake clock)', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    await h.define('deadline', `
      id: deadline
      version: "1"
      name: Deadline
      timeoutSeconds: 120
      states:
        - {name: gate, type: operation, action: signal.wait, input: {name: go}, next: after}
        - {name: after, type: operation, action: noop, end: true}
    `);
    const id = h.start('deadline');
    await h.waitFor(id, 'step:waiting');

    h.advance(clock, 119_999);
    await h.barrier();
    expect(h.runRow(id).status).toBe('WAITING_SIGNAL');

    h.advance(clock, 1);
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('TIMED_OUT');
    expect(r.error?.code).toBe('STN_E_RUN_TIMEOUT');
    expect(r.step('gate').status).toBe('CANCELLED');
    expect(r.steps.some((s) => s.state_name === 'after')).toBe(false);
    expect(r.events.at(-1)).toMatchObject({ type: 'run:timed_out', data: { timeoutSeconds: 120 } });
  });

  it('a workflow timeout stops a running shell step and kills its process', async () => {
    h = EngineHarness.create();
    const pidFile = h.file('run-timeout.pid');
    await h.define('run-timeout', `
      id: run-timeout
      version: "1"
      name: Run timeout
      timeoutSeconds: 1
      states:
        - name: hang
          type: operation
          action: shell.exec
          input: {command: [sh, -c, 'echo $$ > "$1"; exec sleep 30', sh, "{{ input.pidFile }}"]}
          end: true
    `);
    const id = h.start('run-timeout', { pidFile });
    const pid = await readPid(pidFile);
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('TIMED_OUT');
    expect(r.step('hang').status).toBe('CANCELLED');
    await eventually(() => !processAlive(pid), 5000, `process ${pid} to be gone`);
  });
});

describe('onError', () => {
  it('after the last attempt writes error {state, action, code, message, attempt} and continues at the onError state', async () => {
    h = EngineHarness.create();
    await h.define('handled', `
      id: handled
      version: "1"
      name: Handled
      states:
        - name: risky
          type: operation
          action: fail
          input: {message: "database unreachable", code: E_DB}
          retry: {maxAttempts: 2, backoffSeconds: 0}
          onError: recover
          next: happy
        - name: happy
          type: operation
          action: noop
          end: true
        - name: recover
          type: operation
          action: noop
          input: {error: "{{ error }}", summary: "{{ error.state }} failed: {{ error.code }}"}
          end: true
    `);
    const r = await h.run('handled');

    expect(r.status).toBe('COMPLETED');
    const error = { state: 'risky', action: 'fail', code: 'E_DB', message: 'database unreachable', attempt: 2 };
    expect(r.context.error).toEqual(error);
    expect(r.step('recover').output).toEqual({ error, summary: 'risky failed: E_DB' });
    expect(r.step('risky').status).toBe('FAILED');
    expect(r.step('risky').attempt).toBe(2);
    expect(r.steps.some((s) => s.state_name === 'happy')).toBe(false);
    const failed = r.events.find((e) => e.type === 'step:failed');
    expect(failed?.data).toMatchObject({ state: 'risky', attempt: 2, handledBy: 'recover' });
  });

  it('onError also catches a step timeout', async () => {
    h = EngineHarness.create();
    await h.define('handled-timeout', `
      id: handled-timeout
      version: "1"
      name: Handled timeout
      states:
        - name: hang
          type: operation
          action: shell.exec
          timeoutSeconds: 1
          input: {command: [sleep, "30"]}
          onError: recover
          end: true
        - {name: recover, type: operation, action: noop, input: {code: "{{ error.code }}"}, end: true}
    `);
    const r = await h.run('handled-timeout');
    expect(r.status).toBe('COMPLETED');
    expect(r.step('hang').status).toBe('TIMED_OUT');
    expect(r.step('recover').output).toEqual({ code: 'STN_E_STEP_TIMEOUT' });
  });
});

