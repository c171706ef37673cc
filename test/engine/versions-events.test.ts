import { afterEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/engine/events.js';
import { EngineHarness, fakeClock } from '../helpers/engine-harness.js';

/** Runs pin their version, and every transition is an event with a per-run sequence number. */

let h: EngineHarness;

afterEach(async () => {
  await h.close();
});

describe('version pinning', () => {
  it('a run started on version 1 finishes on version 1 states after the definition changed to version 2', async () => {
    h = EngineHarness.create();
    await h.define('pinned', `
      id: pinned
      version: "1"
      name: Pinned
      states:
        - {name: gate, type: operation, action: signal.wait, input: {name: go}, next: finish}
        - {name: finish, type: operation, action: noop, input: {from: v1, version: "{{ run.version }}"}, end: true}
    `);
    const id = h.start('pinned');
    await h.waitFor(id, 'step:waiting');

    h.writeWorkflow('pinned', `
      id: pinned
      version: "2"
      name: Pinned
      states:
        - {name: gate, type: operation, action: signal.wait, input: {name: go}, next: other}
        - {name: other, type: operation, action: noop, input: {from: v2}, end: true}
    `);
    const report = await h.sync();
    expect(report.environments.find((e) => e.name === 'default')?.versions).toEqual({ pinned: 2 });
    expect(h.station.definitions.definition('default', 'pinned')?.active_version).toBe(2);

    h.station.runs.signal(id, 'go', null);
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    expect(r.run.version).toBe(1);
    expect(r.steps.map((s) => s.state_name)).toEqual(['gate', 'finish']);
    expect(r.step('finish').output).toEqual({ from: 'v1', version: 1 });

    // A new run takes the new version.
    const next = h.start('pinned');
    await h.waitFor(next, 'step:waiting');
    h.station.runs.signal(next, 'go', null);
    const r2 = await h.waitForEnd(next);
    expect(r2.run.version).toBe(2);
    expect(r2.steps.map((s) => s.state_name)).toEqual(['gate', 'other']);
  });
});

describe('events', () => {
  it('numbers a run\u2019s events 1, 2, 3… from run:created through run:started to run:completed', async () => {
    h = EngineHarness.create();
    await h.define('timeline', `
      id: timeline
      version: "1"
      name: Timeline
      states:
        - {name: setup, type: inject, data: {items: [1, 2]}, next: flaky}
        - name: flaky
          type: operation
          action: shell.exec
          input: {command: [sh, -c, '[ "$STN_ATTEMPT" = 2 ]']}
          retry: {maxAttempts: 2, backoffSeconds: 0}
          next: fan
        - name: fan
          type: parallel
          branches:
            - name: a
              states: [{name: x, type: operation, action: noop, end: true}]
            - name: b
              states:
                - name: loop
                  type: foreach
                  itemsPath: items
                  maxConcurrency: 2
                  iterator: {states: [{name: y, type: operation, action: noop, input: {i: "{{ item }}"}, end: true}]}
                  end: true
          next: route
        - name: route
          type: switch
          conditions: [{if: "size(items) == 2", next: done}]
        - {name: done, type: operation, action: noop, end: true}
    `);
    const emitted: RunEvent[] = [];
    const off = h.station.events.on((e) => emitted.push(e));
    const id = h.start('timeline');
    const r = await h.waitForEnd(id);
    off();

    expect(r.status).toBe('COMPLETED');
    expect(r.events.map((e) => e.seq)).toEqual(r.events.map((_, i) => i + 1));
    expect(r.events[0]?.type).toBe('run:created');
    expect(r.events[0]?.data).toMatchObject({ workflowId: 'timeline', environment: 'default', version: 1 });
    expect(r.events[1]?.type).toBe('run:started');
    expect(r.events.at(-1)?.type).toBe('run:completed');
    expect(r.events.filter((e) => e.type.startsWith('run:')).map((e) => e.type)).toEqual(['run:created', 'run:started', 'run:completed']);

    // Every step's own events come in lifecycle order, and every step was entered once.
    for (const s of r.steps) {
      const own = r.events.filter((e) => e.stepId === s.id).map((e) => e.type);
      expect(own[0]).toBe('state:entered');
      expect(own.at(-1)).toBe('step:succeeded');
      expect(own.filter((t) => t === 'state:entered')).toHaveLength(1);
    }
    const flaky = r.events.filter((e) => e.stepId === r.step('flaky').id).map((e) => e.type);
    expect(flaky).toEqual(['state:entered', 'step:started', 'step:retrying', 'step:started', 'step:succeeded']);
    expect(r.steps).toHaveLength(9); // setup, flaky, fan, x, loop, y×2, route, done

    // What listeners got in-process is the stored timeline (run:created is written by whoever starts the run).
    const live = emitted.filter((e) => e.runId === id);
    expect(live.map((e) => [e.seq, e.type])).toEqual(r.events.filter((e) => e.seq > 1).map((e) => [e.seq, e.type]));
  });

  it('event times follow the injected clock', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    await h.define('one', `
      id: one
      version: "1"
      name: One
      states: [{name: only, type: operation, action: noop, end: true}]
    `);
    const id = h.start('one');
    await h.waitForEnd(id);
    const times = h.station.runStore.events(id).map((e) => e.created_at);
    expect(new Set(times)).toEqual(new Set([new Date(clock.t).toISOString()]));
  });
});
