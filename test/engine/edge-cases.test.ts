import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineHarness, fakeClock } from '../helpers/engine-harness.js';

/** Corners of the run semantics that users hit sooner or later. */

let h: EngineHarness;

afterEach(async () => {
  await h.close();
});

describe('loops', () => {
  it('a switch may send a run back to an earlier state; each visit is its own step', async () => {
    h = EngineHarness.create();
    await h.define('count', `
      id: count
      version: "1"
      name: Count
      states:
        - {name: init, type: inject, data: {count: 0}, next: inc}
        - {name: inc, type: inject, data: {count: "{{ count + 1 }}"}, next: check}
        - name: check
          type: switch
          conditions: [{if: "count < 3", next: inc}]
          defaultNext: done
        - {name: done, type: operation, action: noop, input: {count: "{{ count }}"}, end: true}
    `);
    const r = await h.run('count');
    expect(r.status).toBe('COMPLETED');
    expect(r.step('done').output).toEqual({ count: 3 });
    expect(r.steps.map((s) => s.path)).toEqual(['init', 'inc', 'check', 'inc#2', 'check#2', 'inc#3', 'check#3', 'done']);
    expect(new Set(r.steps.map((s) => s.id)).size).toBe(r.steps.length);
  });
});

describe('input', () => {
  it('run input is validated against inputSchema before a run is created', async () => {
    h = EngineHarness.create();
    await h.define('typed-input', `
      id: typed-input
      version: "1"
      name: Typed input
      inputSchema:
        type: object
        required: [service]
        properties: {service: {type: string}}
      states: [{name: only, type: operation, action: noop, end: true}]
    `);
    expect(() => h.start('typed-input', { other: 1 })).toThrow(/service/);
    expect(h.station.runStore.listRuns({ workflowId: 'typed-input' })).toHaveLength(0);
    const r = await h.run('typed-input', { service: 'api' });
    expect(r.status).toBe('COMPLETED');
  });

  it('an action input that breaks the action schema after templating fails the step with STN_E_ACTION_INPUT', async () => {
    h = EngineHarness.create();
    await h.define('bad-input', `
      id: bad-input
      version: "1"
      name: Bad input
      states:
        - name: call
          type: operation
          action: shell.exec
          input: {command: "{{ input.cmd }}"}
          end: true
    `);
    const r = await h.run('bad-input', { cmd: 'echo not an array' });
    expect(r.status).toBe('FAILED');
    expect(r.step('call').error?.code).toBe('STN_E_ACTION_INPUT');
    expect(r.step('call').error?.message).toContain('call');
  });
});

describe('child runs', () => {
  it('a child whose output template fails fails the parent step (the parent does not wait forever)', async () => {
    h = EngineHarness.create();
    h.writeWorkflow('child', `
      id: child
      version: "1"
      name: Child
      states: [{name: work, type: operation, action: noop, end: true}]
      output: "{{ steps.missing.value }}"
    `);
    await h.define('parent', `
      id: parent
      version: "1"
      name: Parent
      states:
        - {name: call, type: operation, action: workflow.run, input: {workflow: child}, end: true}
    `);
    const id = h.start('parent');
    await h.waitFor(id, 'step:waiting');
    const childId = h.station.runStore.childRuns(id)[0]?.id ?? '';
    const child = await h.waitForEnd(childId);
    expect(child.status).toBe('FAILED');
    expect(child.error?.code).toBe('STN_E_EXPR_MISSING_KEY');
    const r = await h.waitForEnd(id, 2000);
    expect(r.status).toBe('FAILED');
    expect(r.step('call').error?.code).toBe('STN_E_CHILD_RUN_FAILED');
  });

  it('cancelling the parent cancels a running child run', async () => {
    h = EngineHarness.create();
    h.writeWorkflow('child', `
      id: child
      version: "1"
      name: Child
      states: [{name: gate, type: operation, action: signal.wait, input: {name: go}, end: true}]
    `);
    await h.define('parent', `
      id: parent
      version: "1"
      name: Parent
      states:
        - {name: call, type: operation, action: workflow.run, input: {workflow: child}, end: true}
    `);
    const id = h.start('parent');
    await h.waitFor(id, 'step:waiting');
    const childId = h.station.runStore.childRuns(id)[0]?.id ?? '';
    await h.waitFor(childId, 'step:waiting');

    h.station.runs.cancel(id, false);
    const r = await h.waitForEnd(id);
    const child = await h.waitForEnd(childId);
    expect(r.status).toBe('CANCELLED');
    expect(child.status).toBe('CANCELLED');
    expect(child.step('gate').status).toBe('CANCELLED');
  });
});

describe('workflow output', () => {
  it('a failing output template fails the run and compensates the succeeded steps', async () => {
    h = EngineHarness.create();
    await h.define('bad-output', `
      id: bad-output
      version: "1"
      name: Bad output
      states:
        - name: create
          type: operation
          action: noop
          input: {made: vm}
          compensation: {action: noop, input: {undo: "{{ result.made }}"}}
          end: true
      output: "{{ steps.nope.value }}"
    `);
    const r = await h.run('bad-output');
    expect(r.status).toBe('FAILED');
    expect(r.error?.code).toBe('STN_E_EXPR_MISSING_KEY');
    expect(r.run.compensated).toBe(true);
    expect(r.steps.filter((s) => s.compensation_of !== null).map((s) => s.output)).toEqual([{ undo: 'vm' }]);
  });

  it('a failing output template fails the run with the expression error', async () => {
    h = EngineHarness.create();
    await h.define('bad-output', `
      id: bad-output
      version: "1"
      name: Bad output
      states: [{name: only, type: operation, action: noop, end: true}]
      output: {value: "{{ steps.nope.value }}"}
    `);
    const r = await h.run('bad-output');
    expect(r.status).toBe('FAILED');
    expect(r.error?.code).toBe('STN_E_EXPR_MISSING_KEY');
    expect(r.error?.message).toContain('steps.nope.value');
    expect(r.events.at(-1)?.type).toBe('run:failed');
  });
});

describe('foreach failures', () => {
  it('a failing iteration fails the foreach: running iterations are cancelled and the rest never start', async () => {
    h = EngineHarness.create();
    await h.define('loop-fail', `
      id: loop-fail
      version: "1"
      name: Loop fail
      states:
        - name: each
          type: foreach
          itemsPath: input.items
          maxConcurrency: 2
          iterator:
            states:
              - name: work
                type: operation
                action: shell.exec
                input: {command: [sh, -c, 'if [ "$1" = bad ]; then exit 4; fi; sleep 30', sh, "{{ item }}"]}
                end: true
          end: true
    `);
    const r = await h.run('loop-fail', { items: ['slow', 'bad', 'never1', 'never2'] });
    expect(r.status).toBe('FAILED');
    expect(r.error?.code).toBe('STN_E_SHELL_EXIT');
    expect(r.step('each').status).toBe('FAILED');
    expect(r.step('each[1]/work').status).toBe('FAILED');
    expect(r.step('each[0]/work').status).toBe('CANCELLED');
    expect(r.steps.filter((s) => s.state_name === 'work')).toHaveLength(2);
  });
});

describe('paused runs and timers', () => {
  it('a retry that falls due while the run is paused waits for resume', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    await h.define('paused-retry', `
      id: paused-retry
      version: "1"
      name: Paused retry
      states:
        - name: flaky
          type: operation
          action: fail
          retry: {maxAttempts: 2, backoffSeconds: 10}
          onError: done
          end: true
        - {name: done, type: operation, action: noop, end: true}
    `);
    const id = h.start('paused-retry');
    await h.waitFor(id, 'step:retrying');
    h.station.runs.pause(id);
    h.advance(clock, 20_000);
    await h.barrier();
    expect(h.result(id).events.filter((e) => e.type === 'step:started')).toHaveLength(1);
    expect(h.runRow(id).status).toBe('PAUSED');

    h.station.runs.resume(id);
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    expect(r.step('flaky').attempt).toBe(2);
  });
});

describe('step timeouts on waiting actions', () => {
  it('timeoutSeconds on a signal.wait state times the step out (fake clock)', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    await h.define('wait-timeout', `
      id: wait-timeout
      version: "1"
      name: Wait timeout
      states:
        - {name: gate, type: operation, action: signal.wait, timeoutSeconds: 60, input: {name: go}, end: true}
    `);
    const id = h.start('wait-timeout');
    await h.waitFor(id, 'step:waiting');
    h.advance(clock, 61_000);
    await h.barrier();
    const r = h.result(id);
    expect(r.step('gate').status).toBe('TIMED_OUT');
    expect(r.step('gate').error?.code).toBe('STN_E_STEP_TIMEOUT');
  });
  it('a workflow.run state with timeoutSeconds times out, cancels the child run, and a retry gets a fresh deadline', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    h.writeWorkflow('slow-child', `
      id: slow-child
      version: "1"
      name: Slow child
      states: [{name: gate, type: operation, action: signal.wait, input: {name: never}, end: true}]
    `);
    await h.define('call-slow', `
      id: call-slow
      version: "1"
      name: Call slow
      states:
        - name: call
          type: operation
          action: workflow.run
          timeoutSeconds: 30
          retry: {maxAttempts: 2, backoff: fixed, backoffSeconds: 1}
          input: {workflow: slow-child}
          end: true
    `);
    const id = h.start('call-slow');
    await h.waitFor(id, 'step:waiting');
    const firstChild = h.station.runStore.childRuns(id)[0]?.id ?? '';
    h.advance(clock, 31_000);
    await h.waitFor(id, 'step:retrying');
    expect((await h.waitForEnd(firstChild)).status).toBe('CANCELLED');
    h.advance(clock, 1_000);
    await h.barrier();
    // The second attempt waits on a new child; 20 s later it has not timed out (its deadline is its own).
    h.advance(clock, 20_000);
    await h.barrier();
    expect(h.result(id).step('call').status).toBe('RUNNING');
    h.advance(clock, 11_000);
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('FAILED');
    expect(r.step('call').status).toBe('TIMED_OUT');
    expect(r.step('call').attempt).toBe(2);
    // The child's cancel is a task of its own, handled after the parent's end was published.
    const children = await Promise.all(h.station.runStore.childRuns(id).map((c) => h.waitForEnd(c.id)));
    expect(children.map((c) => c.status)).toEqual(['CANCELLED', 'CANCELLED']);
  });

  it('a sleep longer than its state timeout times out at the timeout, not at the end of the sleep', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    await h.define('long-sleep', `
      id: long-sleep
      version: "1"
      name: Long sleep
      states:
        - {name: nap, type: operation, action: sleep, timeoutSeconds: 5, input: {seconds: 60}, end: true}
    `);
    const id = h.start('long-sleep');
    await h.waitFor(id, 'step:waiting');
    h.advance(clock, 4_000);
    await h.barrier();
    expect(h.runRow(id).status).toBe('RUNNING');
    h.advance(clock, 2_000);
    const r = await h.waitForEnd(id);
    expect(r.step('nap').status).toBe('TIMED_OUT');
    expect(r.step('nap').error?.code).toBe('STN_E_STEP_TIMEOUT');
  });
});

describe('restarts', () => {
  it('a new engine picks up a run whose engine stopped mid-step: same attempt and key, succeeded steps not repeated', async () => {
    h = EngineHarness.create();
    const log = h.file('deliveries.log');
    const release = h.file('release');
    await h.define('restart', `
      id: restart
      version: "1"
      name: Restart
      states:
        - {name: before, type: operation, action: noop, next: work}
        - name: work
          type: operation
          action: shell.exec
          input:
            command: [sh, -c, 'echo "$STN_IDEMPOTENCY_KEY" >> "$1"; while [ ! -e "$2" ]; do sleep 0.02; done', sh, "{{ input.log }}", "{{ input.release }}"]
          next: after
        - {name: after, type: operation, action: noop, end: true}
    `);
    const id = h.start('restart', { log, release });
    await h.waitFor(id, (e) => e.type === 'step:started' && e.data.state === 'work');
    await h.engine.stop(50);
    expect(h.result(id).step('work').status).toBe('RUNNING');

    h.openAnother();
    await h.waitFor(id, (e) => e.type === 'step:started' && e.data.state === 'work' && e.data.delivery === 2);
    fs.writeFileSync(release, '');
    const r = await h.waitForEnd(id);

    expect(r.status).toBe('COMPLETED');
    const work = r.step('work');
    expect(work.attempt).toBe(1);
    expect(work.deliveries).toBe(2);
    const keys = fs.readFileSync(log, 'utf8').trim().split('\n');
    expect(keys).toEqual([`${id}:${work.id}:1`, `${id}:${work.id}:1`]);
    expect(r.events.filter((e) => e.type === 'step:started' && e.stepId === r.step('before').id)).toHaveLength(1);
  });

  it('a durable sleep keeps its deadline across an engine restart (fake clock)', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    await h.define('nap', `
      id: nap
      version: "1"
      name: Nap
      states:
        - {name: wait, type: operation, action: sleep, input: {seconds: 60}, end: true}
    `);
    const t0 = clock.t;
    const id = h.start('nap');
    await h.waitFor(id, 'step:waiting');
    await h.engine.stop(50);

    h.openAnother({ clock });
    clock.t = t0 + 59_999;
    h.poke();
    await h.barrier();
    expect(h.isTerminal(id)).toBe(false);
    h.advance(clock, 1);
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    expect(Date.parse(r.step('wait').finished_at ?? '')).toBe(t0 + 60_000);
  });
});
