import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineHarness, eventually, fakeClock, processAlive, readPid, type StepView } from '../helpers/engine-harness.js';

/** Adversarial corners of definitions and runs (the issue 3 audit): nested scopes, saga order, control during waits. */

let h: EngineHarness;

afterEach(async () => {
  await h.close();
});

const byId = (steps: StepView[]) => new Map(steps.map((s) => [s.id, s]));

describe('nested parallel inside foreach inside parallel', () => {
  it('a failure deep in one branch cancels the others (killing their process), fails every enclosing state, and compensates in reverse completion order', async () => {
    h = EngineHarness.create();
    const pidFile = h.file('slow.pid');
    await h.define('nest', `
      id: nest
      version: "1"
      name: Nest
      states:
        - name: outer
          type: parallel
          branches:
            - name: slow
              states:
                - name: S
                  type: operation
                  action: shell.exec
                  input: {command: [sh, -c, 'sleep 30 & echo $! > "$1"; wait', sh, "${pidFile}"]}
                  compensation: {action: noop, input: {undo: S}}
                  end: true
            - name: work
              states:
                - name: gate
                  type: operation
                  action: shell.exec
                  input: {command: [sh, -c, 'while [ ! -s "$1" ]; do sleep 0.02; done', sh, "${pidFile}"]}
                  compensation: {action: noop, input: {undo: gate}}
                  next: loop
                - name: loop
                  type: foreach
                  itemsPath: input.items
                  maxConcurrency: 2
                  iterator:
                    states:
                      - name: inner
                        type: parallel
                        branches:
                          - name: a
                            states:
                              - name: A
                                type: operation
                                action: noop
                                input: {a: "{{ item }}"}
                                compensation: {action: noop, input: {undo: "A{{ index }}", result: "{{ result }}"}}
                                end: true
                          - name: b
                            states:
                              - name: pick
                                type: switch
                                conditions: [{if: "item == 'bad'", next: boom}]
                                defaultNext: B
                              - name: B
                                type: operation
                                action: noop
                                input: {b: "{{ item }}"}
                                compensation: {action: noop, input: {undo: "B{{ index }}"}}
                                end: true
                              - name: boom
                                type: operation
                                action: fail
                                input: {message: "item {{ index }} is bad", code: E_BAD}
                                end: true
                        end: true
                  end: true
          end: true
    `);
    const r = await h.run('nest', { items: ['x', 'y', 'bad', 'z'] });

    expect(r.status).toBe('FAILED');
    expect(r.error).toMatchObject({ code: 'E_BAD', message: 'item 2 is bad' });
    // The slow branch's process group is gone and its step is CANCELLED (never compensated: it never succeeded).
    const grandchild = Number(fs.readFileSync(pidFile, 'utf8').trim());
    await eventually(() => !processAlive(grandchild), 5000, `sleep ${grandchild} to be killed`);
    expect(r.step('outer/slow/S').status).toBe('CANCELLED');
    // Every enclosing state failed with the same cause.
    for (const p of ['loop[2]/inner', 'outer/work/loop', 'outer']) {
      const s = r.steps.find((x) => x.path.endsWith(p) && x.compensation_of === null);
      expect(s?.status, p).toBe('FAILED');
      expect(s?.error?.code, p).toBe('E_BAD');
    }
    // Nothing is left active anywhere (iterations that were running when 2 failed are cancelled).
    expect(r.steps.filter((s) => ['PENDING', 'RUNNING', 'WAITING_SIGNAL', 'WAITING_APPROVAL'].includes(s.status))).toEqual([]);

    const originals = byId(r.steps);
    const comps = r.steps.filter((s) => s.compensation_of !== null).sort((a, b) => a.seq - b.seq);
    const compensated = comps.map((c) => originals.get(c.compensation_of ?? '') as StepView);
    const expected = r.steps
      .filter((s) => s.type === 'operation' && s.status === 'SUCCEEDED' && s.compensation_of === null)
      .sort((a, b) => (b.completed_seq ?? 0) - (a.completed_seq ?? 0));
    expect(compensated.map((s) => s.path)).toEqual(expected.map((s) => s.path));
    expect(compensated.map((s) => s.path)).toContain('outer/work/gate');
    expect(compensated.at(-1)?.path).toBe('outer/work/gate');
    expect(comps.every((c) => c.status === 'SUCCEEDED')).toBe(true);
    expect(r.run.compensated).toBe(true);
    // Event order: the failure, then the saga, then run:failed.
    const types = r.events.map((e) => e.type);
    expect(types.indexOf('compensation:started')).toBeGreaterThan(types.lastIndexOf('step:failed'));
    expect(types.at(-1)).toBe('run:failed');
    expect(types.filter((t) => t === 'compensation:step')).toHaveLength(comps.length);
  });
});

describe('onError in nested scopes', () => {
  it('a branch and an iteration handle their own failures: error is written into their scope, the run completes', async () => {
    h = EngineHarness.create();
    await h.define('handled', `
      id: handled
      version: "1"
      name: Handled
      states:
        - name: par
          type: parallel
          branches:
            - name: left
              states:
                - {name: bad, type: operation, action: fail, input: {message: left broke}, onError: recover, end: true}
                - {name: recover, type: inject, data: {recovered: "{{ error.message }}"}, end: true}
            - name: right
              states:
                - {name: fine, type: operation, action: noop, input: {ok: true}, end: true}
          next: loop
        - name: loop
          type: foreach
          itemsPath: input.items
          iterator:
            states:
              - name: try
                type: operation
                action: fail
                input: {message: "it {{ index }}"}
                retry: {maxAttempts: 2, backoffSeconds: 0}
                onError: note
                end: true
              - {name: note, type: inject, data: {seen: "{{ error.attempt }}:{{ error.message }}"}, end: true}
          end: true
    `);
    const r = await h.run('handled', { items: ['p', 'q'] });
    expect(r.status).toBe('COMPLETED');
    const ctx = r.context as { error?: unknown; steps: { par: Record<string, Record<string, unknown>>; loop: Array<Record<string, unknown>> } };
    expect(ctx.error).toBeUndefined(); // nothing leaked into the root scope
    expect(ctx.steps.par.left).toMatchObject({ recovered: 'left broke', error: { state: 'bad', action: 'fail', code: 'STN_E_FAIL', attempt: 1 } });
    expect(ctx.steps.par.right).toEqual({ steps: { fine: { ok: true } } });
    expect(ctx.steps.loop.map((s) => s.seen)).toEqual(['2:it 0', '2:it 1']);
    const failed = r.events.filter((e) => e.type === 'step:failed');
    expect(failed.map((e) => e.data.handledBy)).toEqual(['recover', 'note', 'note']);
    expect(r.step('par/left/bad').status).toBe('FAILED');
  });
});

describe('control during waits', () => {
  it('cancel --compensate during a retry delay: the retry never runs, the compensations do, the run ends CANCELLED', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    await h.define('delay', `
      id: delay
      version: "1"
      name: Delay
      states:
        - {name: made, type: operation, action: noop, compensation: {action: noop, input: {undo: made}}, next: flaky}
        - {name: flaky, type: operation, action: fail, retry: {maxAttempts: 3, backoffSeconds: 600}, end: true}
    `);
    const id = h.start('delay');
    await h.waitFor(id, 'step:retrying');
    h.station.runs.cancel(id, true, 'bob');
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('CANCELLED');
    expect(r.step('flaky').status).toBe('CANCELLED');
    expect(r.step('flaky').attempt).toBe(2);
    expect(r.steps.filter((s) => s.compensation_of !== null).map((s) => [s.state_name, s.status])).toEqual([['made', 'SUCCEEDED']]);
    expect(r.run.compensated).toBe(true);
    expect(r.events.at(-1)).toMatchObject({ type: 'run:cancelled', data: { compensate: true, by: 'bob' } });
    h.advance(clock, 3_600_000);
    await h.barrier();
    expect(h.result(id).events.filter((e) => e.type === 'step:started' && e.data.state === 'flaky')).toHaveLength(1);
  });

  it('pause during a parallel: running branch steps finish, nothing new starts, PAUSED until resume, then COMPLETED', async () => {
    h = EngineHarness.create();
    const release = h.file('release');
    await h.define('ppar', `
      id: ppar
      version: "1"
      name: PausePar
      states:
        - name: par
          type: parallel
          branches:
            - name: a
              states:
                - {name: a1, type: operation, action: shell.exec, input: {command: [sh, -c, 'while [ ! -e "$1" ]; do sleep 0.02; done', sh, "${release}"]}, next: a2}
                - {name: a2, type: operation, action: noop, end: true}
            - name: b
              states:
                - {name: b1, type: operation, action: shell.exec, input: {command: [sh, -c, 'while [ ! -e "$1" ]; do sleep 0.02; done', sh, "${release}"]}, next: b2}
                - {name: b2, type: operation, action: noop, end: true}
          end: true
    `);
    const id = h.start('ppar');
    await h.waitFor(id, (e) => e.type === 'step:started' && e.data.state === 'a1');
    await h.waitFor(id, (e) => e.type === 'step:started' && e.data.state === 'b1');
    h.station.runs.pause(id, 'ops');
    fs.writeFileSync(release, '');
    await h.waitFor(id, (e) => e.type === 'step:succeeded' && e.data.state === 'a1');
    await h.waitFor(id, (e) => e.type === 'step:succeeded' && e.data.state === 'b1');
    await h.barrier();
    expect(h.runRow(id).status).toBe('PAUSED');
    const mid = h.result(id);
    expect(mid.events.some((e) => e.type === 'step:started' && (e.data.state === 'a2' || e.data.state === 'b2'))).toBe(false);
    h.station.runs.resume(id, 'ops');
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    const types = r.events.map((e) => e.type);
    expect(types).toContain('run:paused');
    expect(types).toContain('run:resumed');
  });

  it('a signal sent before the run reaches its signal.wait is buffered and consumed by it', async () => {
    h = EngineHarness.create();
    const release = h.file('release');
    await h.define('early', `
      id: early
      version: "1"
      name: Early
      states:
        - {name: first, type: operation, action: shell.exec, input: {command: [sh, -c, 'while [ ! -e "$1" ]; do sleep 0.02; done', sh, "${release}"]}, next: wait}
        - {name: wait, type: operation, action: signal.wait, input: {name: go}, end: true}
      output: "{{ steps.wait }}"
    `);
    const id = h.start('early');
    await h.waitFor(id, (e) => e.type === 'step:started' && e.data.state === 'first');
    h.station.runs.signal(id, 'go', { n: 1 });
    h.station.runs.signal(id, 'go', { n: 2 });
    await h.waitFor(id, 'signal:received');
    fs.writeFileSync(release, '');
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    expect(r.output).toEqual({ n: 1 }); // the first buffered signal, not the second
    const received = r.events.filter((e) => e.type === 'signal:received');
    expect(received.at(-1)?.data.stepId).toBe(r.step('wait').id);
  });
});

describe('switch dataPath and CEL values', () => {
  it('dataPath to a list, a string and a number: `data` is the value; a missing dataPath is a clear error', async () => {
    h = EngineHarness.create();
    await h.define('sw', `
      id: sw
      version: "1"
      name: Switch
      states:
        - name: pick
          type: switch
          dataPath: input.value
          conditions:
            - {if: "type(data) == list && size(data) == 2", next: list}
            - {if: "type(data) == string && data.startsWith('s')", next: str}
            - {if: "type(data) == int && data > 1", next: num}
          defaultNext: other
        - {name: list, type: inject, data: {got: list}, end: true}
        - {name: str, type: inject, data: {got: str}, end: true}
        - {name: num, type: inject, data: {got: num}, end: true}
        - {name: other, type: inject, data: {got: other}, end: true}
      output: "{{ got }}"
    `);
    expect((await h.run('sw', { value: [1, 2] })).output).toBe('list');
    expect((await h.run('sw', { value: 'south' })).output).toBe('str');
    expect((await h.run('sw', { value: 5 })).output).toBe('num');
    expect((await h.run('sw', { value: null })).output).toBe('other');
    const missing = await h.run('sw', {});
    expect(missing.status).toBe('FAILED');
    expect(missing.error?.message).toMatch(/pick/);
    expect(missing.error?.message).toMatch(/data|value/);
  });

  it('typed single-expression results; interpolation renders objects as JSON; keys are not templated', async () => {
    h = EngineHarness.create();
    await h.define('typed', `
      id: typed
      version: "1"
      name: Typed
      states:
        - name: t
          type: inject
          resultPath: out
          data:
            int: "{{ 1 + 2 }}"
            dbl: "{{ 1.5 * 2.0 }}"
            half: "{{ 3.0 / 2.0 }}"
            str: "{{ 'a' + 'b' }}"
            map: "{{ {'k': [1, 2.5, 'x', null, true]} }}"
            list: "{{ [input.n, input.n * 2] }}"
            nul: "{{ null }}"
            boo: "{{ 1 < 2 }}"
            text: "m={{ {'a': 1} }} l={{ [1, 2] }} n={{ null }} b={{ true }} d={{ 2.5 }}"
            guarded: "{{ has(input.nope) ? 1 : 0 }}"
            opt: "{{ input.?nope.orValue('dflt') }}"
            "{{ 'key' }}": kept
            big: "{{ 9007199254740991 }}"
          end: true
    `);
    const r = await h.run('typed', { n: 7 });
    expect(r.status).toBe('COMPLETED');
    const out = (r.context as { out: Record<string, unknown> }).out;
    expect(out).toEqual({
      int: 3,
      dbl: 3,
      half: 1.5,
      str: 'ab',
      map: { k: [1, 2.5, 'x', null, true] },
      list: [7, 14],
      nul: null,
      boo: true,
      text: 'm={"a":1} l=[1,2] n=null b=true d=2.5',
      guarded: 0,
      opt: 'dflt',
      '{{ \'key\' }}': 'kept',
      big: 9007199254740991,
    });
  });

  it('a missing key fails naming the state, the field and the expression (operation input, inject data, compensation input, output)', async () => {
    h = EngineHarness.create();
    await h.define('miss', `
      id: miss
      version: "1"
      name: Miss
      states:
        - {name: op, type: operation, action: noop, input: {x: "v={{ input.nope.deeper }}"}, end: true}
    `);
    const r = await h.run('miss', {});
    expect(r.status).toBe('FAILED');
    expect(r.error?.message).toMatch(/op/);
    expect(r.error?.message).toMatch(/input/);
    expect(r.error?.message).toContain('input.nope.deeper');

    await h.define('miss2', `
      id: miss2
      version: "1"
      name: Miss2
      states:
        - {name: made, type: operation, action: noop, compensation: {action: noop, input: {u: "{{ result.nothere }}"}}, next: boom}
        - {name: boom, type: operation, action: fail, end: true}
    `);
    const c = await h.run('miss2', {});
    expect(c.status).toBe('FAILED');
    expect(c.run.compensated).toBe(false);
    const comp = c.steps.find((s) => s.compensation_of !== null);
    expect(comp?.status).toBe('FAILED');
    expect(comp?.error?.message).toMatch(/made/);
    expect(comp?.error?.message).toMatch(/compensation\.input/);
    expect(comp?.error?.message).toContain('result.nothere');
  });
});

describe('secrets in every position', () => {
  it('the secret value reaches the executors but is stored nowhere in the database', async () => {
    const SECRET = 'hunter2-Sup3rS3cret';
    h = EngineHarness.create({ env: { STN_SECRET_TOKEN: SECRET } });
    const seen = h.file('seen');
    await h.define('child', `
      id: child
      version: "1"
      name: Child
      states:
        - {name: echo, type: operation, action: noop, input: {got: "{{ input.t }}"}, end: true}
      output: "{{ steps.echo }}"
    `);
    await h.define('sec', `
      id: sec
      version: "1"
      name: Sec
      states:
        - name: sh
          type: operation
          action: shell.exec
          input:
            command: [sh, -c, 'printf "%s|%s" "$1" "$TOK" > "$2"; echo "out $1"; echo "err $TOK" >&2', sh, "{{ secrets.TOKEN }}", "${seen}"]
            env: {TOK: "x{{ secrets.TOKEN }}"}
          compensation: {action: noop, input: {undo: "{{ secrets.TOKEN }}", r: "{{ result.stdout }}"}}
          next: inj
        - {name: inj, type: inject, data: {copy: "{{ secrets.TOKEN }}"}, next: pick}
        - name: pick
          type: switch
          conditions: [{if: "size(secrets.TOKEN) == ${SECRET.length}", next: kid}]
          defaultNext: boom
        - {name: kid, type: operation, action: workflow.run, input: {workflow: child, input: {t: "{{ secrets.TOKEN }}"}}, next: boom}
        - {name: boom, type: operation, action: fail, input: {message: "broke with {{ secrets.TOKEN }}"}, end: true}
      output: "{{ secrets.TOKEN }}"
    `);
    const r = await h.run('sec', {});
    expect(r.status).toBe('FAILED');
    expect(fs.readFileSync(seen, 'utf8')).toBe(`${SECRET}|x${SECRET}`); // the executor got the real value
    expect(r.step('pick').output).toEqual({ next: 'kid' });
    expect(r.steps.find((s) => s.compensation_of !== null)?.status).toBe('SUCCEEDED');
    expect(h.locate(SECRET)).toEqual([]);
    expect(h.locate('hunter2')).toEqual([]);
  });
});

describe('timeouts', () => {
  it('a run timeout shorter than the step timeout ends the run TIMED_OUT and kills the step process group', async () => {
    h = EngineHarness.create();
    const pidFile = h.file('gc.pid');
    await h.define('rto', `
      id: rto
      version: "1"
      name: RunTimeout
      timeoutSeconds: 1
      states:
        - name: long
          type: operation
          action: shell.exec
          timeoutSeconds: 60
          input: {command: [sh, -c, 'sleep 30 & echo $! > "$1"; wait', sh, "${pidFile}"]}
          compensation: {action: noop}
          end: true
    `);
    const id = h.start('rto');
    const gc = await readPid(pidFile);
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('TIMED_OUT');
    expect(r.error?.code).toBe('STN_E_RUN_TIMEOUT');
    expect(r.step('long').status).toBe('CANCELLED');
    await eventually(() => !processAlive(gc), 5000, `grandchild ${gc} killed`);
    expect(r.events.at(-1)?.type).toBe('run:timed_out');
  });
});

describe('child runs', () => {
  it('a child cancelled from outside fails the parent step, which onError can handle', async () => {
    h = EngineHarness.create();
    await h.define('kid', `
      id: kid
      version: "1"
      name: Kid
      states:
        - {name: w, type: operation, action: signal.wait, input: {name: never}, end: true}
    `);
    await h.define('dad', `
      id: dad
      version: "1"
      name: Dad
      states:
        - {name: call, type: operation, action: workflow.run, input: {workflow: kid}, onError: after, end: true}
        - {name: after, type: inject, data: {why: "{{ error.code }}"}, end: true}
      output: "{{ why }}"
    `);
    const id = h.start('dad');
    const waiting = await h.waitFor(id, (e) => e.type === 'step:waiting' && e.data.state === 'call');
    const childId = (waiting.data.wait as { runId: string }).runId;
    await h.waitFor(childId, (e) => e.type === 'step:waiting');
    h.station.runs.cancel(childId, false, 'carol');
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    expect(r.output).toBe('STN_E_CHILD_RUN_FAILED');
    expect(r.step('call').error).toMatchObject({ details: { runId: childId, status: 'CANCELLED' } });
    expect(h.runRow(childId).parent_run_id).toBe(id);
  });
});

describe('regressions found by the audit', () => {
  it('a run timeout that falls due during compensation does not cut the saga short: the run ends FAILED, compensated', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    await h.define('tc', `
      id: tc
      version: "1"
      name: TimeoutInSaga
      timeoutSeconds: 100
      states:
        - {name: a, type: operation, action: noop, compensation: {action: noop, input: {undo: a}}, next: b}
        - {name: b, type: operation, action: noop, compensation: {action: sleep, input: {seconds: 500}}, next: boom}
        - {name: boom, type: operation, action: fail, input: {message: broke}, end: true}
    `);
    const id = h.start('tc');
    await h.waitFor(id, (e) => e.type === 'step:waiting'); // b's compensation sleeps
    h.advance(clock, 200_000); // past the run timeout
    await h.barrier();
    expect(h.runRow(id).status).toBe('RUNNING');
    h.advance(clock, 400_000); // past the compensation's sleep
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('FAILED');
    expect(r.error).toMatchObject({ code: 'STN_E_FAIL', message: 'broke' }); // the cause, not the timeout
    expect(r.run.compensated).toBe(true);
    expect(r.steps.filter((s) => s.compensation_of !== null).map((s) => [s.state_name, s.status])).toEqual([
      ['b', 'SUCCEEDED'],
      ['a', 'SUCCEEDED'],
    ]);
    expect(r.events.map((e) => e.type).slice(-2)).toEqual(['compensation:finished', 'run:failed']);
  });

  it('cancel --compensate rolls back a running child run too (its succeeded steps are compensated)', async () => {
    h = EngineHarness.create();
    await h.define('kid', `
      id: kid
      version: "1"
      name: Kid
      states:
        - {name: made, type: operation, action: noop, compensation: {action: noop, input: {undo: kid}}, next: w}
        - {name: w, type: operation, action: signal.wait, input: {name: never}, end: true}
    `);
    await h.define('dad', `
      id: dad
      version: "1"
      name: Dad
      states:
        - {name: first, type: operation, action: noop, compensation: {action: noop}, next: call}
        - {name: call, type: operation, action: workflow.run, input: {workflow: kid}, end: true}
    `);
    const id = h.start('dad');
    const waiting = await h.waitFor(id, (e) => e.type === 'step:waiting' && e.data.state === 'call');
    const childId = (waiting.data.wait as { runId: string }).runId;
    await h.waitFor(childId, (e) => e.type === 'step:waiting');
    h.station.runs.cancel(id, true, 'op');
    const r = await h.waitForEnd(id);
    const c = await h.waitForEnd(childId);
    expect(r.status).toBe('CANCELLED');
    expect(r.run.compensated).toBe(true);
    expect(c.status).toBe('CANCELLED');
    expect(c.run.compensated).toBe(true);
    expect(c.steps.filter((s) => s.compensation_of !== null).map((s) => [s.state_name, s.status])).toEqual([['made', 'SUCCEEDED']]);
    expect(c.events.at(-1)).toMatchObject({ type: 'run:cancelled', data: { compensate: true, by: `parent ${id}` } });
  });

  it('a parent that fails while a child runs in another branch rolls the child back; a plain cancel does not', async () => {
    h = EngineHarness.create();
    const release = h.file('release');
    await h.define('kid', `
      id: kid
      version: "1"
      name: Kid
      states:
        - {name: made, type: operation, action: noop, compensation: {action: noop, input: {undo: kid}}, next: w}
        - {name: w, type: operation, action: signal.wait, input: {name: never}, end: true}
    `);
    await h.define('dad', `
      id: dad
      version: "1"
      name: Dad
      states:
        - name: par
          type: parallel
          branches:
            - name: kid
              states: [{name: call, type: operation, action: workflow.run, input: {workflow: kid}, end: true}]
            - name: bad
              states:
                - {name: gate, type: operation, action: shell.exec, input: {command: [sh, -c, 'while [ ! -e "$1" ]; do sleep 0.02; done', sh, "${release}"]}, next: boom}
                - {name: boom, type: operation, action: fail, end: true}
          end: true
    `);
    const id = h.start('dad');
    const waiting = await h.waitFor(id, (e) => e.type === 'step:waiting' && e.data.state === 'call');
    const childId = (waiting.data.wait as { runId: string }).runId;
    await h.waitFor(childId, (e) => e.type === 'step:waiting');
    fs.writeFileSync(release, '');
    const r = await h.waitForEnd(id);
    const c = await h.waitForEnd(childId);
    expect(r.status).toBe('FAILED');
    expect(c.status).toBe('CANCELLED');
    expect(c.run.compensated).toBe(true);

    const id2 = h.start('dad');
    const waiting2 = await h.waitFor(id2, (e) => e.type === 'step:waiting' && e.data.state === 'call');
    const child2 = (waiting2.data.wait as { runId: string }).runId;
    await h.waitFor(child2, (e) => e.type === 'step:waiting');
    fs.rmSync(release);
    await h.waitFor(id2, (e) => e.type === 'step:started' && e.data.state === 'gate');
    h.station.runs.cancel(id2, false);
    const c2 = await h.waitForEnd(child2);
    expect(c2.status).toBe('CANCELLED');
    expect(c2.run.compensated).toBeNull();
    expect(c2.steps.some((s) => s.compensation_of !== null)).toBe(false);
  });
});

describe('step deadlines across restarts', () => {
  it('a step delivered again after its engine stopped keeps its attempt deadline: past it, the attempt times out without running again', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    const log = h.file('runs.log');
    await h.define('dl', `
      id: dl
      version: "1"
      name: Deadline
      states:
        - name: work
          type: operation
          action: shell.exec
          timeoutSeconds: 60
          input: {command: [sh, -c, 'echo "$STN_IDEMPOTENCY_KEY" >> "$1"; sleep 30', sh, "${log}"]}
          end: true
    `);
    const id = h.start('dl');
    await h.waitFor(id, (e) => e.type === 'step:started' && e.data.state === 'work');
    await eventually(() => fs.existsSync(log), 5000, 'the first delivery to start its process');
    await h.engine.stop(50);
    clock.t += 61_000; // the attempt's deadline passed while no engine ran
    h.openAnother({ clock });
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('FAILED');
    const work = r.step('work');
    expect(work.status).toBe('TIMED_OUT');
    expect(work.deliveries).toBe(2);
    expect(work.error).toMatchObject({ code: 'STN_E_STEP_TIMEOUT', message: 'state "work" timed out after 60 s' });
    expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1); // not run a second time
  });
});

describe('cancel during compensation', () => {
  it('stops the saga and records what was not compensated; pause during the saga holds it until resume', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    await h.define('pc', `
      id: pc
      version: "1"
      name: PauseCancelSaga
      states:
        - {name: a, type: operation, action: noop, compensation: {action: noop}, next: b}
        - {name: b, type: operation, action: noop, compensation: {action: sleep, input: {seconds: 5}}, next: boom}
        - {name: boom, type: operation, action: fail, end: true}
    `);
    // Pause while b's compensation sleeps: its deadline passing does not move the saga on until resume.
    const id = h.start('pc');
    await h.waitFor(id, (e) => e.type === 'step:waiting');
    h.station.runs.pause(id, 'ops');
    h.advance(clock, 10_000);
    await h.barrier();
    expect(h.runRow(id).status).toBe('PAUSED');
    h.station.runs.resume(id, 'ops');
    const done = await h.waitForEnd(id);
    expect(done.status).toBe('FAILED');
    expect(done.run.compensated).toBe(true);

    // Cancel while b's compensation sleeps: it is cut off, a's never runs; both are recorded.
    const id2 = h.start('pc');
    await h.waitFor(id2, (e) => e.type === 'step:waiting');
    h.station.runs.cancel(id2, false, 'ops');
    const r = await h.waitForEnd(id2);
    expect(r.status).toBe('CANCELLED');
    expect(r.run.compensated).toBe(false);
    expect(JSON.parse(r.run.compensation_errors ?? 'null')).toEqual(['b', 'a']);
    expect(r.steps.filter((s) => s.compensation_of !== null).map((s) => [s.state_name, s.status])).toEqual([['b', 'CANCELLED']]);
    expect(r.events.map((e) => e.type).slice(-3)).toEqual(['step:cancelled', 'compensation:finished', 'run:cancelled']);
    expect(r.events.at(-2)?.data).toEqual({ compensated: false, failures: ['b', 'a'] });
    expect(r.error?.code).toBe('STN_E_FAIL'); // the cause stays
  });
});

describe('secrets in error messages and output keys', () => {
  it('an evaluation error quoting a secret (switch condition, workflow output) and an output keyed by one store ***', async () => {
    const SECRET = 'Tok3n-Value-XYZ';
    h = EngineHarness.create({ env: { STN_SECRET_TOKEN: SECRET } });
    await h.define('sw', `
      id: sw
      version: "1"
      name: SecretSwitch
      states:
        - {name: made, type: operation, action: noop, compensation: {action: noop}, next: pick}
        - name: pick
          type: switch
          conditions: [{if: "{'a': true}[secrets.TOKEN]", next: done}]
          defaultNext: done
        - {name: done, type: inject, data: {}, end: true}
    `);
    const r = await h.run('sw');
    expect(r.status).toBe('FAILED');
    expect(r.error?.message).toContain('no such key "***"');

    await h.define('out', `
      id: out
      version: "1"
      name: SecretOutput
      states:
        - name: keyed
          type: operation
          action: shell.exec
          input: {command: [sh, -c, 'printf "{\\"%s\\": 1}" "$1"', sh, "{{ secrets.TOKEN }}"]}
          next: done
        - {name: done, type: inject, data: {}, end: true}
      output: "{{ input[secrets.TOKEN] }}"
    `);
    const o = await h.run('out');
    expect(o.status).toBe('FAILED');
    expect(o.step('keyed').output).toMatchObject({ json: { '***': 1 } });
    expect(o.error?.message).toContain('no such key "***"');
    expect(h.locate(SECRET)).toEqual([]);
  });
});

describe('workflow.run retries', () => {
  it('a failed child is retried with a new child run when the state has retry; a cancelled child is not', async () => {
    h = EngineHarness.create();
    const marker = h.file('tried');
    await h.define('flaky-kid', `
      id: flaky-kid
      version: "1"
      name: FlakyKid
      states:
        - {name: once, type: operation, action: shell.exec, input: {command: [sh, -c, 'if [ -e "$1" ]; then echo ok; else touch "$1"; exit 3; fi', sh, "${marker}"]}, end: true}
      output: "{{ steps.once.stdout }}"
    `);
    await h.define('dad', `
      id: dad
      version: "1"
      name: Dad
      states:
        - {name: call, type: operation, action: workflow.run, input: {workflow: flaky-kid}, retry: {maxAttempts: 2, backoffSeconds: 0}, end: true}
      output: "{{ steps.call }}"
    `);
    const r = await h.run('dad');
    expect(r.status).toBe('COMPLETED');
    expect(r.output).toBe('ok\n');
    expect(r.step('call').attempt).toBe(2);
    const kids = h.station.runStore.childRuns(r.run.id);
    expect(kids.map((k) => k.status).sort()).toEqual(['COMPLETED', 'FAILED']);

    await h.define('waiter', `
      id: waiter
      version: "1"
      name: Waiter
      states: [{name: w, type: operation, action: signal.wait, input: {name: never}, end: true}]
    `);
    await h.define('dad2', `
      id: dad2
      version: "1"
      name: Dad2
      states:
        - {name: call, type: operation, action: workflow.run, input: {workflow: waiter}, retry: {maxAttempts: 3, backoffSeconds: 0}, end: true}
    `);
    const id = h.start('dad2');
    const waiting = await h.waitFor(id, (e) => e.type === 'step:waiting');
    const childId = (waiting.data.wait as { runId: string }).runId;
    await h.waitFor(childId, 'step:waiting');
    h.station.runs.cancel(childId, false);
    const r2 = await h.waitForEnd(id);
    expect(r2.status).toBe('FAILED');
    expect(r2.step('call').attempt).toBe(1);
    expect(r2.error?.code).toBe('STN_E_CHILD_RUN_FAILED');
  });
});

describe('a scope that fails at once (inline) while its siblings are being started', () => {
  const ACTIVE = ['PENDING', 'RUNNING', 'WAITING_SIGNAL', 'WAITING_APPROVAL'];
  /** Nothing but compensation steps enters, and no original step starts, after the saga began. */
  const quietAfterSaga = (r: Awaited<ReturnType<EngineHarness['run']>>) => {
    const from = r.events.findIndex((e) => e.type === 'compensation:started');
    expect(from).toBeGreaterThan(0);
    const later = r.events.slice(from).filter((e) => e.type === 'state:entered' || e.type === 'step:started');
    expect(later.every((e) => String(e.data.path).endsWith('/compensate'))).toBe(true);
    expect(r.steps.filter((s) => ACTIVE.includes(s.status))).toEqual([]);
  };

  function parallel(first: string, second: string): string {
    return `
      id: par
      version: "1"
      name: Par
      states:
        - {name: made, type: operation, action: noop, compensation: {action: noop}, next: par}
        - name: par
          type: parallel
          branches:
            - ${first}
            - ${second}
          end: true
    `;
  }
  const work = (marker: string) => `{name: a, states: [{name: A, type: operation, action: shell.exec, input: {command: [touch, "${marker}"]}, end: true}]}`;
  const broken = `{name: b, states: [{name: B, type: inject, data: {x: "{{ input.nope }}"}, end: true}]}`;

  it('a branch started before the failing one is cancelled and never delivered, even while the run compensates', async () => {
    h = EngineHarness.create();
    const marker = h.file('marker');
    await h.define('par', parallel(work(marker), broken));
    const r = await h.run('par');
    await h.barrier();
    const after = h.result(r.run.id);
    expect(after.status).toBe('FAILED');
    expect(after.step('par/a/A').status).toBe('CANCELLED');
    expect(after.step('par/a/A').deliveries).toBe(0);
    expect(fs.existsSync(marker)).toBe(false);
    quietAfterSaga(after);
  });

  it('branches after the failing one never start', async () => {
    h = EngineHarness.create();
    const marker = h.file('marker');
    await h.define('par', parallel(broken, work(marker)));
    const r = await h.run('par');
    await h.barrier();
    const after = h.result(r.run.id);
    expect(after.status).toBe('FAILED');
    expect(after.step('par').status).toBe('FAILED');
    expect(after.steps.some((s) => s.path.startsWith('par/a/'))).toBe(false);
    expect(fs.existsSync(marker)).toBe(false);
    quietAfterSaga(after);
  });

  it('a foreach whose first iteration fails at once starts no other iteration and stays FAILED', async () => {
    h = EngineHarness.create();
    const marker = h.file('marker');
    await h.define('loop', `
      id: loop
      version: "1"
      name: Loop
      states:
        - {name: made, type: operation, action: noop, compensation: {action: noop}, next: loop}
        - name: loop
          type: foreach
          itemsPath: input.items
          maxConcurrency: 3
          iterator:
            states:
              - {name: pick, type: switch, conditions: [{if: "item == 'bad'", next: bad}], defaultNext: work}
              - {name: bad, type: inject, data: {x: "{{ input.nope }}"}, end: true}
              - {name: work, type: operation, action: shell.exec, input: {command: [sh, -c, 'echo "$1" >> "$2"', sh, "{{ item }}", "${marker}"]}, end: true}
          end: true
    `);
    const r = await h.run('loop', { items: ['bad', 'ok1', 'ok2', 'ok3'] });
    await h.barrier();
    const after = h.result(r.run.id);
    expect(after.status).toBe('FAILED');
    expect(after.step('loop').status).toBe('FAILED');
    // Normally iterations 1 and 2 are never entered. On a loaded machine the transaction's inline budget (4 ms) can run
    // out while the iterations start: their first states are then deferred to later transactions, and iteration 0's
    // failure cancels them there. Either way none of them does any work.
    const others = after.steps.filter((s) => s.path.startsWith('loop[1]') || s.path.startsWith('loop[2]'));
    expect(others.filter((s) => s.status !== 'CANCELLED' && s.status !== 'PENDING')).toEqual([]);
    expect(fs.existsSync(marker)).toBe(false);
    quietAfterSaga(after);
  });
});

describe('long inline cascades', () => {
  it('a foreach of thousands of inline-only iterations completes (no stack overflow), results in item order', async () => {
    h = EngineHarness.create();
    await h.define('big', `
      id: big
      version: "1"
      name: Big
      states:
        - name: loop
          type: foreach
          itemsPath: input.items
          iterator:
            states:
              - {name: one, type: inject, data: {v: "{{ item }}"}, next: two}
              - {name: two, type: switch, conditions: [{if: "v % 2 == 0", next: even}], defaultNext: odd}
              - {name: even, type: inject, data: {even: true}, end: true}
              - {name: odd, type: inject, data: {even: false}, end: true}
          next: fan
        - name: fan
          type: parallel
          branches:
            - {name: a, states: [{name: x, type: inject, data: {n: "{{ size(steps.loop) }}"}, end: true}]}
            - {name: b, states: [{name: y, type: operation, action: noop, input: {last: "{{ steps.loop[size(steps.loop) - 1].v }}"}, end: true}]}
          end: true
      output: {n: "{{ steps.fan.a.n }}", last: "{{ steps.fan.b.steps.y.last }}", third: "{{ steps.loop[3] }}"}
    `);
    const n = 3000;
    const r = await h.run('big', { items: Array.from({ length: n }, (_, i) => i) }, 60_000);
    expect(r.error).toBeNull();
    expect(r.status).toBe('COMPLETED');
    expect(r.output).toEqual({ n, last: n - 1, third: { v: 3, even: false } });
    // The timeline stays ordered: each iteration's states are entered in order, iterations one after another.
    const entered = r.steps.sort((a, b) => a.seq - b.seq).map((s) => s.path);
    expect(entered.slice(0, 4)).toEqual(['loop', 'loop[0]/one', 'loop[0]/two', 'loop[0]/even']);
    expect(entered.indexOf(`loop[${n - 1}]/one`)).toBeGreaterThan(entered.indexOf(`loop[${n - 2}]/odd`));
  }, 90_000);

  it('an endless switch/inject loop fails its run with STN_E_INLINE_LIMIT instead of holding the database', async () => {
    h = EngineHarness.create();
    await h.define('spin', `
      id: spin
      version: "1"
      name: Spin
      states:
        - {name: made, type: operation, action: noop, compensation: {action: noop}, next: count}
        - {name: count, type: inject, data: {}, next: again}
        - {name: again, type: switch, conditions: [{if: "true", next: count}]}
    `);
    const r = await h.run('spin', {}, 60_000);
    expect(r.status).toBe('FAILED');
    expect(r.error?.code).toBe('STN_E_INLINE_LIMIT');
    expect(r.error?.message).toMatch(/state "(count|again)" was entered more than 1000 times/);
    expect(r.run.compensated).toBe(true);
  }, 90_000);
});
