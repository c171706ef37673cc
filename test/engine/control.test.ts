import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineHarness, eventually, processAlive, readPid } from '../helpers/engine-harness.js';

/** Pause, resume and cancel of runs from outside the engine (the CLI/API path: RunService). */

let h: EngineHarness;

afterEach(async () => {
  await h.close();
});

/** A shell step that runs until the test creates `release`. */
const GATED = `
  id: gated
  version: "1"
  name: Gated
  states:
    - name: slow
      type: operation
      action: shell.exec
      input: {command: [sh, -c, 'while [ ! -e "$1" ]; do sleep 0.02; done; echo released', sh, "{{ input.release }}"]}
      next: next
    - name: next
      type: operation
      action: noop
      input: {after: "{{ steps.slow.stdout }}"}
      end: true
`;

describe('pause and resume', () => {
  it('pause lets the running step finish but starts no new one; resume continues to COMPLETED', async () => {
    h = EngineHarness.create();
    await h.define('gated', GATED);
    const release = h.file('release');
    const id = h.start('gated', { release });
    await h.waitFor(id, (e) => e.type === 'step:started' && e.data.state === 'slow');

    h.station.runs.pause(id, 'alice');
    expect(h.runRow(id).status).toBe('PAUSED');
    fs.writeFileSync(release, '');
    await h.waitFor(id, (e) => e.type === 'step:succeeded' && e.data.state === 'slow');
    await h.barrier();

    const paused = h.result(id);
    expect(paused.status).toBe('PAUSED');
    expect(paused.step('slow').status).toBe('SUCCEEDED');
    expect(paused.events.filter((e) => e.type === 'step:started').map((e) => e.data.state)).toEqual(['slow']);
    expect(paused.steps.find((s) => s.state_name === 'next')?.status ?? 'not entered').not.toBe('SUCCEEDED');
    expect(paused.events.find((e) => e.type === 'run:paused')?.data).toEqual({ by: 'alice' });

    h.station.runs.resume(id, 'bob');
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    expect(r.step('next').output).toEqual({ after: 'released\n' });
    const types = r.events.map((e) => e.type);
    expect(types.indexOf('run:resumed')).toBeGreaterThan(types.indexOf('run:paused'));
    const nextStarted = r.events.findIndex((e) => e.type === 'step:started' && e.data.state === 'next');
    expect(nextStarted).toBeGreaterThan(types.indexOf('run:resumed'));
  });

  it('a signal sent to a paused run is delivered after resume', async () => {
    h = EngineHarness.create();
    await h.define('wait', `
      id: wait
      version: "1"
      name: Wait
      states:
        - {name: gate, type: operation, action: signal.wait, input: {name: go}, next: after}
        - {name: after, type: operation, action: noop, input: {got: "{{ steps.gate.v }}"}, end: true}
    `);
    const id = h.start('wait');
    await h.waitFor(id, 'step:waiting');
    h.station.runs.pause(id);
    h.station.runs.signal(id, 'go', { v: 7 });
    await h.barrier();
    expect(h.runRow(id).status).toBe('PAUSED');
    expect(h.result(id).step('gate').status).toBe('WAITING_SIGNAL');

    h.station.runs.resume(id);
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    expect(r.step('after').output).toEqual({ got: 7 });
  });
});

describe('cancel', () => {
  const LONG = `
    id: long
    version: "1"
    name: Long
    states:
      - name: prepare
        type: operation
        action: noop
        input: {made: prepare}
        compensation: {action: noop, input: {undo: prepare, result: "{{ result }}"}}
        next: hang
      - name: hang
        type: operation
        action: shell.exec
        input: {command: [sh, -c, 'echo $$ > "$1"; exec sleep 30', sh, "{{ input.pidFile }}"]}
        compensation: {action: noop, input: {undo: hang}}
        next: after
      - {name: after, type: operation, action: noop, end: true}
  `;

  it('ends the run CANCELLED and kills the running shell.exec process', async () => {
    h = EngineHarness.create();
    await h.define('long', LONG);
    const pidFile = h.file('hang.pid');
    const id = h.start('long', { pidFile });
    const pid = await readPid(pidFile);
    expect(processAlive(pid)).toBe(true);

    h.station.runs.cancel(id, false, 'carol');
    const r = await h.waitForEnd(id);

    expect(r.status).toBe('CANCELLED');
    expect(r.step('prepare').status).toBe('SUCCEEDED');
    expect(r.step('hang').status).toBe('CANCELLED');
    expect(r.steps.some((s) => s.state_name === 'after')).toBe(false);
    expect(r.steps.some((s) => s.compensation_of !== null)).toBe(false);
    expect(r.run.compensated).toBeNull();
    expect(r.events.at(-1)).toMatchObject({ type: 'run:cancelled', data: { compensate: false } });
    await eventually(() => !processAlive(pid), 5000, `process ${pid} to be gone`);
  });

  it('with compensate: the compensations of succeeded steps run, then the run ends CANCELLED', async () => {
    h = EngineHarness.create();
    await h.define('long', LONG);
    const pidFile = h.file('hang.pid');
    const id = h.start('long', { pidFile });
    const pid = await readPid(pidFile);

    h.station.runs.cancel(id, true);
    const r = await h.waitForEnd(id);

    expect(r.status).toBe('CANCELLED');
    expect(r.run.compensated).toBe(true);
    const comps = r.steps.filter((s) => s.compensation_of !== null);
    // Only `prepare` had succeeded; the cancelled `hang` is not compensated.
    expect(comps).toHaveLength(1);
    expect(comps[0]?.compensation_of).toBe(r.step('prepare').id);
    expect(comps[0]?.status).toBe('SUCCEEDED');
    expect(comps[0]?.output).toEqual({ undo: 'prepare', result: { made: 'prepare' } });
    const types = r.events.map((e) => e.type);
    expect(r.events.find((e) => e.type === 'compensation:started')?.data).toMatchObject({ reason: 'cancelled' });
    expect(types.slice(-2)).toEqual(['compensation:finished', 'run:cancelled']);
    expect(r.events.at(-1)?.data).toMatchObject({ compensate: true });
    await eventually(() => !processAlive(pid), 5000, `process ${pid} to be gone`);
  });

  it('records who cancelled in run:cancelled', async () => {
    h = EngineHarness.create();
    await h.define('wait', `
      id: wait
      version: "1"
      name: Wait
      states:
        - {name: gate, type: operation, action: signal.wait, input: {name: go}, end: true}
    `);
    const id = h.start('wait');
    await h.waitFor(id, 'step:waiting');
    h.station.runs.cancel(id, false, 'carol');
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('CANCELLED');
    expect(r.events.at(-1)).toMatchObject({ type: 'run:cancelled', data: { by: 'carol' } });
  });

  it('records who cancelled when the cancel compensates first', async () => {
    h = EngineHarness.create();
    await h.define('wait-comp', `
      id: wait-comp
      version: "1"
      name: Wait comp
      states:
        - {name: make, type: operation, action: noop, input: {made: 1}, compensation: {action: noop}, next: gate}
        - {name: gate, type: operation, action: signal.wait, input: {name: go}, end: true}
    `);
    const id = h.start('wait-comp');
    await h.waitFor(id, 'step:waiting');
    h.station.runs.cancel(id, true, 'dave');
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('CANCELLED');
    expect(r.run.compensated).toBe(true);
    expect(r.events.at(-1)).toMatchObject({ type: 'run:cancelled', data: { by: 'dave', compensate: true } });
  });

  it('cancels a paused run and a run waiting for a signal', async () => {
    h = EngineHarness.create();
    await h.define('wait', `
      id: wait
      version: "1"
      name: Wait
      states:
        - {name: gate, type: operation, action: signal.wait, input: {name: go}, end: true}
    `);
    const waiting = h.start('wait');
    const paused = h.start('wait');
    await h.waitFor(waiting, 'step:waiting');
    await h.waitFor(paused, 'step:waiting');
    h.station.runs.pause(paused);

    h.station.runs.cancel(waiting, false);
    h.station.runs.cancel(paused, false);
    const a = await h.waitForEnd(waiting);
    const b = await h.waitForEnd(paused);
    for (const r of [a, b]) {
      expect(r.status).toBe('CANCELLED');
      expect(r.step('gate').status).toBe('CANCELLED');
    }
    expect(() => h.station.runs.signal(waiting, 'go', null)).toThrow(/already ended CANCELLED/);
  });
});
