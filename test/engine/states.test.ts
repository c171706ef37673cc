import { afterEach, describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/definitions/types.js';
import { EngineHarness, processAlive, readPid, eventually } from '../helpers/engine-harness.js';

/** What each state type does to a run, as a user sees it (statuses, context, step rows). */

let h: EngineHarness;

afterEach(async () => {
  await h.close();
});

describe('operation', () => {
  it('noop outputs its input, stored at steps.<name> by default or at a custom resultPath', async () => {
    h = EngineHarness.create();
    await h.define('op', `
      id: op
      version: "1"
      name: Operation
      states:
        - name: first
          type: operation
          action: noop
          input: {answer: 42, list: [1, 2], nested: {ok: true}}
          next: second
        - name: second
          type: operation
          action: noop
          input: {from: "{{ steps.first.answer }}"}
          resultPath: results.second
          next: third
        - name: third
          type: operation
          action: noop
          end: true
    `);
    const r = await h.run('op', { keep: 'me' });

    expect(r.status).toBe('COMPLETED');
    expect(r.step('first').output).toEqual({ answer: 42, list: [1, 2], nested: { ok: true } });
    expect(r.step('first').status).toBe('SUCCEEDED');
    expect(r.context.steps).toEqual({ first: { answer: 42, list: [1, 2], nested: { ok: true } }, third: {} });
    expect(r.context.results).toEqual({ second: { from: 42 } });
    expect(r.context.keep).toBe('me');
    // Without `output:`, the run's output is the final context.
    expect(r.output).toEqual(r.context);
    expect(r.steps.map((s) => [s.path, s.type, s.action, s.status, s.attempt])).toEqual([
      ['first', 'operation', 'noop', 'SUCCEEDED', 1],
      ['second', 'operation', 'noop', 'SUCCEEDED', 1],
      ['third', 'operation', 'noop', 'SUCCEEDED', 1],
    ]);
  });

  it('a workflow output template shapes the run output', async () => {
    h = EngineHarness.create();
    await h.define('out', `
      id: out
      version: "1"
      name: Output
      states:
        - name: calc
          type: operation
          action: noop
          input: {n: "{{ input.n * 3 }}"}
          end: true
      output:
        tripled: "{{ steps.calc.n }}"
        text: "n={{ steps.calc.n }}"
    `);
    const r = await h.run('out', { n: 5 });
    expect(r.status).toBe('COMPLETED');
    expect(r.output).toEqual({ tripled: 15, text: 'n=15' });
  });
});

describe('inject', () => {
  it('merges its data into the context root without resultPath, and writes to resultPath with one', async () => {
    h = EngineHarness.create();
    await h.define('inj', `
      id: inj
      version: "1"
      name: Inject
      states:
        - name: defaults
          type: inject
          data:
            region: eu-west-1
            doubled: "{{ input.n * 2 }}"
            big: "{{ input.n > 1 }}"
            hosts: "{{ input.hosts }}"
            label: "n={{ input.n }} hosts={{ input.hosts }}"
          next: config
        - name: config
          type: inject
          data: {replicas: "{{ doubled + 1 }}", region: "{{ region }}"}
          resultPath: cfg.deploy
          end: true
    `);
    const r = await h.run('inj', { n: 2, hosts: ['a', 'b'] });

    expect(r.status).toBe('COMPLETED');
    expect(r.context).toEqual({
      n: 2,
      hosts: ['a', 'b'],
      region: 'eu-west-1',
      doubled: 4,
      big: true,
      label: 'n=2 hosts=["a","b"]',
      cfg: { deploy: { replicas: 5, region: 'eu-west-1' } },
    });
    // Typed values: a CEL integer comes out as a JSON number, not a string or a BigInt.
    expect(typeof r.context.doubled).toBe('number');
    expect(r.step('defaults').type).toBe('inject');
    expect(r.step('defaults').status).toBe('SUCCEEDED');
    expect(r.step('config').output).toEqual({ replicas: 5, region: 'eu-west-1' });
  });
});

describe('inject of a non-object', () => {
  it('fails the step with a clear error and does not wipe the context', async () => {
    h = EngineHarness.create();
    await h.define('inj-list', `
      id: inj-list
      version: "1"
      name: Inject list
      states:
        - {name: first, type: operation, action: noop, input: {made: 1}, next: list}
        - {name: list, type: inject, data: "{{ input.list }}", end: true}
    `);
    const r = await h.run('inj-list', { list: ['x'], keep: 'me' });
    expect(r.context).toMatchObject({ list: ['x'], keep: 'me', steps: { first: { made: 1 } } });
    expect(r.status).toBe('FAILED');
    expect(r.step('list').error?.code).toBe('STN_E_INJECT_NOT_OBJECT');
    expect(r.step('list').error?.message).toContain('state "list"');
  });
});

describe('switch', () => {
  const SWITCH = `
    id: route
    version: "1"
    name: Route
    states:
      - name: route
        type: switch
        dataPath: input.alert
        conditions:
          - if: severity == "critical" && data.team == "db"
            next: page-dba
          - if: severity == "critical"
            next: page-oncall
        defaultNext: ticket
      - name: page-dba
        type: operation
        action: noop
        input: {to: dba}
        end: true
      - name: page-oncall
        type: operation
        action: noop
        input: {to: oncall}
        end: true
      - name: ticket
        type: operation
        action: noop
        input: {to: ticket}
        end: true
  `;

  it('takes the first true condition; dataPath exposes the keys and `data`; defaultNext otherwise', async () => {
    h = EngineHarness.create();
    await h.define('route', SWITCH);

    // Both conditions are true: the first one wins.
    const dba = await h.run('route', { alert: { severity: 'critical', team: 'db' } });
    expect(dba.status).toBe('COMPLETED');
    expect(dba.steps.map((s) => s.state_name)).toEqual(['route', 'page-dba']);
    expect(dba.step('route').output).toEqual({ next: 'page-dba' });
    expect(dba.step('route').type).toBe('switch');

    const oncall = await h.run('route', { alert: { severity: 'critical', team: 'web' } });
    expect(oncall.steps.map((s) => s.state_name)).toEqual(['route', 'page-oncall']);

    const ticket = await h.run('route', { alert: { severity: 'low', team: 'db' } });
    expect(ticket.status).toBe('COMPLETED');
    expect(ticket.steps.map((s) => s.state_name)).toEqual(['route', 'ticket']);
    expect(ticket.context.steps).toEqual({ ticket: { to: 'ticket' } });
  });

  it('no match and no defaultNext fails the run with STN_E_SWITCH_NO_MATCH', async () => {
    h = EngineHarness.create();
    await h.define('strict', `
      id: strict
      version: "1"
      name: Strict
      states:
        - name: route
          type: switch
          conditions:
            - if: input.level > 5
              next: high
        - name: high
          type: operation
          action: noop
          end: true
    `);
    const r = await h.run('strict', { level: 1 });
    expect(r.status).toBe('FAILED');
    expect(r.error?.code).toBe('STN_E_SWITCH_NO_MATCH');
    expect(r.error?.message).toContain('route');
    expect(r.step('route').status).toBe('FAILED');
    expect(r.step('route').error?.code).toBe('STN_E_SWITCH_NO_MATCH');
    expect(r.steps).toHaveLength(1);
    expect(r.events.at(-1)?.type).toBe('run:failed');
  });
});

describe('switch conditions', () => {
  it('a condition that is not a boolean fails the run with STN_E_EXPR_EVAL naming the condition', async () => {
    h = EngineHarness.create();
    await h.define('nonbool', `
      id: nonbool
      version: "1"
      name: Non-boolean
      states:
        - name: route
          type: switch
          conditions: [{if: "input.n", next: done}]
          defaultNext: done
        - {name: done, type: operation, action: noop, end: true}
    `);
    const r = await h.run('nonbool', { n: 1 });
    expect(r.status).toBe('FAILED');
    expect(r.error?.code).toBe('STN_E_EXPR_EVAL');
    expect(r.error?.message).toContain('input.n');
    expect(r.error?.message).toContain('route');
  });
});

describe('parallel', () => {
  it('stores each branch scope at <resultPath>.<branch>; branches read the parent context but never change it', async () => {
    h = EngineHarness.create();
    await h.define('fan', `
      id: fan
      version: "1"
      name: Fan out
      states:
        - name: before
          type: inject
          data: {shared: parent, base: 10}
          next: fan
        - name: fan
          type: parallel
          resultPath: fanout
          branches:
            - name: left
              states:
                - name: read
                  type: operation
                  action: noop
                  input: {saw: "{{ base }}", sawShared: "{{ shared }}"}
                  next: overwrite
                - name: overwrite
                  type: inject
                  data: {shared: left-wrote}
                  end: true
            - name: right
              states:
                - name: calc
                  type: operation
                  action: noop
                  input: {double: "{{ base * 2 }}"}
                  end: true
          next: after
        - name: after
          type: operation
          action: noop
          input: {shared: "{{ shared }}", left: "{{ fanout.left.shared }}"}
          end: true
    `);
    const r = await h.run('fan');

    expect(r.status).toBe('COMPLETED');
    expect(r.context.fanout).toEqual({
      left: { steps: { read: { saw: 10, sawShared: 'parent' } }, shared: 'left-wrote' },
      right: { steps: { calc: { double: 20 } } },
    });
    // The branch's write went to its own scope: the parent still has its value.
    expect(r.context.shared).toBe('parent');
    expect(r.step('after').output).toEqual({ shared: 'parent', left: 'left-wrote' });
    expect(r.step('fan').status).toBe('SUCCEEDED');
    expect(r.step('fan').type).toBe('parallel');
    expect(r.step('fan/left/read').status).toBe('SUCCEEDED');
    expect(r.step('fan/right/calc').status).toBe('SUCCEEDED');
  });

  it('stores the branch scopes at steps.<name> without resultPath', async () => {
    h = EngineHarness.create();
    await h.define('fan2', `
      id: fan2
      version: "1"
      name: Fan out 2
      states:
        - name: fan
          type: parallel
          branches:
            - name: a
              states:
                - {name: x, type: operation, action: noop, input: {v: 1}, end: true}
            - name: b
              states:
                - {name: y, type: operation, action: noop, input: {v: 2}, end: true}
          end: true
    `);
    const r = await h.run('fan2');
    expect(r.status).toBe('COMPLETED');
    expect(r.context.steps).toEqual({ fan: { a: { steps: { x: { v: 1 } } }, b: { steps: { y: { v: 2 } } } } });
  });

  it('a failing branch fails the run; running and pending steps of the other branches are cancelled', async () => {
    h = EngineHarness.create();
    const pidFile = h.file('slow.pid');
    await h.define('fanfail', `
      id: fanfail
      version: "1"
      name: Fan fail
      states:
        - name: fan
          type: parallel
          branches:
            - name: retrying
              states:
                - name: flaky
                  type: operation
                  action: fail
                  input: {message: not yet}
                  retry: {maxAttempts: 5, backoffSeconds: 3600}
                  end: true
            - name: running
              states:
                - name: slow
                  type: operation
                  action: shell.exec
                  input: {script: 'echo $$ > "$PIDFILE"; exec sleep 30', shell: true, env: {PIDFILE: "{{ input.pidFile }}"}}
                  end: true
            - name: failing
              states:
                - name: gate
                  type: operation
                  action: signal.wait
                  input: {name: go}
                  next: boom
                - name: boom
                  type: operation
                  action: fail
                  input: {message: branch exploded}
                  end: true
          next: never
        - name: never
          type: operation
          action: noop
          end: true
    `);
    const id = h.start('fanfail', { pidFile });
    await h.waitFor(id, (e) => e.type === 'step:retrying' && e.data.state === 'flaky');
    await h.waitFor(id, (e) => e.type === 'step:started' && e.data.state === 'slow');
    await h.waitFor(id, (e) => e.type === 'step:waiting' && e.data.state === 'gate');
    const pid = await readPid(pidFile);
    expect(processAlive(pid)).toBe(true);

    h.station.runs.signal(id, 'go', null);
    const r = await h.waitForEnd(id);

    expect(r.status).toBe('FAILED');
    expect(r.error?.code).toBe('STN_E_FAIL');
    expect(r.error?.message).toBe('branch exploded');
    expect(r.step('fan/failing/boom').status).toBe('FAILED');
    expect(r.step('fan').status).toBe('FAILED');
    expect(r.step('fan/retrying/flaky').status).toBe('CANCELLED'); // was PENDING, waiting for its retry
    expect(r.step('fan/running/slow').status).toBe('CANCELLED'); // was RUNNING
    expect(r.steps.some((s) => s.state_name === 'never')).toBe(false);
    const cancelled = r.events.filter((e) => e.type === 'step:cancelled').map((e) => e.data.state);
    expect(cancelled.sort()).toEqual(['flaky', 'slow']);
    await eventually(() => !processAlive(pid), 5000, `the cancelled branch's process ${pid} to be gone`);
  });
});

describe('foreach', () => {
  it('collects iteration scopes in item order, with item/custom itemName and index as variables', async () => {
    h = EngineHarness.create();
    await h.define('loop', `
      id: loop
      version: "1"
      name: Loop
      states:
        - name: hosts
          type: foreach
          itemsPath: input.hosts
          itemName: host
          iterator:
            states:
              - name: work
                type: operation
                action: noop
                input: {host: "{{ host }}", index: "{{ index }}", label: "{{ index }}:{{ host }}"}
                end: true
          next: plain
        - name: plain
          type: foreach
          itemsPath: ctx.input.sizes
          resultPath: sized
          iterator:
            states:
              - name: twice
                type: inject
                data: {double: "{{ item * 2 }}", at: "{{ index }}"}
                end: true
          end: true
    `);
    const r = await h.run('loop', { hosts: ['db1', 'db2', 'web1'], sizes: [5, 7] });

    expect(r.status).toBe('COMPLETED');
    expect(r.context.steps).toEqual({
      hosts: [
        { steps: { work: { host: 'db1', index: 0, label: '0:db1' } } },
        { steps: { work: { host: 'db2', index: 1, label: '1:db2' } } },
        { steps: { work: { host: 'web1', index: 2, label: '2:web1' } } },
      ],
    });
    expect(r.context.sized).toEqual([
      { double: 10, at: 0 },
      { double: 14, at: 1 },
    ]);
    expect(r.step('hosts').status).toBe('SUCCEEDED');
    expect(r.step('hosts[2]/work').output).toEqual({ host: 'web1', index: 2, label: '2:web1' });
  });

  it('maxConcurrency > 1 runs iterations at the same time; results stay in item order', async () => {
    h = EngineHarness.create();
    await h.define('par-loop', `
      id: par-loop
      version: "1"
      name: Parallel loop
      states:
        - name: each
          type: foreach
          itemsPath: input.delays
          maxConcurrency: 4
          iterator:
            states:
              - name: nap
                type: operation
                action: shell.exec
                input: {command: [sh, -c, 'sleep "$1"; echo "$1"', sh, "{{ item }}"]}
                end: true
          end: true
    `);
    const began = Date.now();
    const r = await h.run('par-loop', { delays: ['0.3', '0.3', '0.3', '0.3'] });
    const elapsed = Date.now() - began;

    expect(r.status).toBe('COMPLETED');
    // Four 0.3 s sleeps one after another would take 1.2 s.
    expect(elapsed).toBeLessThan(1100);
    const naps = r.steps.filter((s) => s.state_name === 'nap');
    expect(naps).toHaveLength(4);
    const lastStart = Math.max(...naps.map((s) => Date.parse(s.started_at ?? '')));
    const firstEnd = Math.min(...naps.map((s) => Date.parse(s.finished_at ?? '')));
    expect(lastStart).toBeLessThan(firstEnd); // all four were running at once

    const ordered = await h.run('par-loop', { delays: ['0.4', '0.05', '0.25', '0.1'] });
    expect(ordered.status).toBe('COMPLETED');
    const results = ordered.context.steps as { each: Array<{ steps: { nap: { stdout: string } } }> };
    expect(results.each.map((i) => i.steps.nap.stdout.trim())).toEqual(['0.4', '0.05', '0.25', '0.1']);
    const completion = ordered.steps
      .filter((s) => s.state_name === 'nap')
      .sort((a, b) => (a.completed_seq ?? 0) - (b.completed_seq ?? 0))
      .map((s) => s.path);
    expect(completion).toEqual(['each[1]/nap', 'each[3]/nap', 'each[2]/nap', 'each[0]/nap']);
  });

  it('maxConcurrency 1 (the default) runs one iteration at a time', async () => {
    h = EngineHarness.create();
    await h.define('seq-loop', `
      id: seq-loop
      version: "1"
      name: Sequential loop
      states:
        - name: each
          type: foreach
          itemsPath: input.items
          iterator:
            states:
              - name: nap
                type: operation
                action: shell.exec
                input: {command: [sleep, "0.05"]}
                end: true
          end: true
    `);
    const r = await h.run('seq-loop', { items: [1, 2, 3] });
    expect(r.status).toBe('COMPLETED');
    const naps = r.steps.filter((s) => s.state_name === 'nap');
    for (let i = 1; i < naps.length; i++) {
      expect(Date.parse(naps[i]?.started_at ?? '')).toBeGreaterThanOrEqual(Date.parse(naps[i - 1]?.finished_at ?? ''));
    }
  });

  it('an empty list gives [] and the run goes on', async () => {
    h = EngineHarness.create();
    await h.define('empty', `
      id: empty
      version: "1"
      name: Empty
      states:
        - name: each
          type: foreach
          itemsPath: input.items
          iterator:
            states:
              - {name: work, type: operation, action: noop, end: true}
          next: after
        - {name: after, type: operation, action: noop, input: {count: "{{ size(steps.each) }}"}, end: true}
    `);
    const r = await h.run('empty', { items: [] });
    expect(r.status).toBe('COMPLETED');
    expect(r.context.steps).toEqual({ each: [], after: { count: 0 } });
    expect(r.steps.some((s) => s.state_name === 'work')).toBe(false);
  });

  it('an itemsPath that is not a list fails the run with STN_E_FOREACH_ITEMS', async () => {
    h = EngineHarness.create();
    await h.define('notalist', `
      id: notalist
      version: "1"
      name: Not a list
      states:
        - name: each
          type: foreach
          itemsPath: input.items
          iterator:
            states:
              - {name: work, type: operation, action: noop, end: true}
          end: true
    `);
    const inputs: JsonValue[] = [{ items: 'a,b' }, { items: { a: 1 } }, {}];
    for (const input of inputs) {
      const r = await h.run('notalist', input);
      expect(r.status).toBe('FAILED');
      expect(r.error?.code).toBe('STN_E_FOREACH_ITEMS');
      expect(r.error?.message).toContain('input.items');
      expect(r.step('each').status).toBe('FAILED');
    }
  });
});
