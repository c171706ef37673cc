import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineHarness } from '../helpers/engine-harness.js';

/**
 * Long inline cascades are split into bounded transactions (docs/reliability.md "Long inline work"): the rest of a
 * cascade waits as a PENDING step with a due wake task, which pause, resume and cancel treat like any other step.
 */

let h: EngineHarness;

afterEach(async () => {
  await h.close();
});

const ITEMS = 3000;

const LOOP = `
  id: loop
  version: "1"
  name: Loop
  states:
    - name: each
      type: foreach
      itemsPath: input.items
      iterator:
        states:
          - {name: mark, type: inject, data: {n: "{{ item }}"}, end: true}
      end: true
`;

const items = Array.from({ length: ITEMS }, (_, i) => i);

/** Calls `act` (in the engine's own tick, before it goes on) once `n` iterations have succeeded. */
function after(n: number, runId: string, act: () => void): void {
  let seen = 0;
  const off = h.station.events.on((e) => {
    if (e.runId !== runId || e.type !== 'step:succeeded' || (e.data as { state: string }).state !== 'mark') return;
    if (++seen === n) {
      off();
      act();
    }
  });
}

describe('a foreach of thousands of inline iterations', () => {
  it('takes many transactions, each iteration once, events in order; a pause in between holds it until resume', async () => {
    h = EngineHarness.create();
    await h.define('loop', LOOP);
    const id = h.start('loop', { items });
    after(200, id, () => h.station.runs.pause(id, 'ops'));
    await h.waitFor(id, 'run:paused');
    expect(h.runRow(id).status).toBe('PAUSED');
    const pending = h.result(id).steps.filter((s) => s.status === 'PENDING');
    // Each transaction enters at most 400 inline states: the foreach was not done in one go.
    expect(h.result(id).steps.filter((s) => s.state_name === 'mark').length).toBeLessThan(ITEMS);

    h.station.runs.resume(id, 'ops');
    const r = await h.waitForEnd(id, 60_000);
    expect(r.status).toBe('COMPLETED');
    expect(r.step('each').output).toEqual(items.map((n) => ({ n })));
    const marks = r.steps.filter((s) => s.state_name === 'mark');
    expect(marks).toHaveLength(ITEMS);
    expect(marks.every((s) => s.status === 'SUCCEEDED')).toBe(true);
    expect(r.events.map((e) => e.seq)).toEqual(r.events.map((_, i) => i + 1));
    // A step left for the next transaction was entered once, when its turn came.
    for (const s of pending) expect(r.events.filter((e) => e.stepId === s.id && e.type === 'state:entered')).toHaveLength(1);
  });

  it('a cancel in between cancels the step waiting for its turn and leaves no task behind', async () => {
    h = EngineHarness.create();
    await h.define('loop', LOOP);
    const id = h.start('loop', { items });
    after(200, id, () => h.station.runs.cancel(id, false, 'ops'));
    const r = await h.waitForEnd(id, 60_000);
    expect(r.status).toBe('CANCELLED');
    expect(r.steps.filter((s) => s.status === 'PENDING' || s.status === 'RUNNING')).toEqual([]);
    expect(r.steps.filter((s) => s.state_name === 'mark').length).toBeLessThan(ITEMS);
    const left = h.station.runStore.db.prepare('SELECT COUNT(*) AS n FROM workflow_tasks WHERE run_id = ?').get(id) as { n: number };
    expect(left.n).toBe(0);
  });
});

describe('a cancel accepted while a step runs', () => {
  it('wins over the step finishing first: the run ends CANCELLED, not COMPLETED', async () => {
    h = EngineHarness.create();
    await h.define('gated', `
      id: gated
      version: "1"
      name: Gated
      states:
        - name: slow
          type: operation
          action: shell.exec
          input: {command: [sh, -c, 'while [ ! -e "$1" ]; do sleep 0.02; done', sh, "{{ input.release }}"]}
          next: last
        - {name: last, type: operation, action: noop, end: true}
    `);
    const release = h.file('release');
    const id = h.start('gated', { release });
    await h.waitFor(id, (e) => e.type === 'step:started' && e.data.state === 'slow');
    // The cancel is recorded, but its task is not handled yet (as when it lost the race with the step's end).
    const store = h.station.runStore;
    store.transaction(() => {
      const run = store.run(id)!;
      run.cancel = { compensate: false };
      store.updateRun(run);
      store.insertTask(id, 'cancel', null, { compensate: false, by: 'ops' }, Date.now() + 3_600_000);
    });
    fs.writeFileSync(release, '');
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('CANCELLED');
    expect(r.step('slow').status).toBe('CANCELLED');
    expect(r.steps.map((s) => s.state_name)).not.toContain('last');
    expect(r.events.find((e) => e.type === 'run:cancelled')?.data).toMatchObject({ by: 'ops' });
  });
});
