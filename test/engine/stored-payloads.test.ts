import { afterEach, describe, expect, it } from 'vitest';
import { EngineHarness } from '../helpers/engine-harness.js';

/** A stored payload this release cannot read is refused loudly (STN_E_STORED_PAYLOAD), never guessed at. */

let h: EngineHarness;

afterEach(async () => {
  await h.close();
});

const NAP = `
  id: nap
  version: "1"
  name: Nap
  states:
    - {name: nap, type: operation, action: sleep, input: {seconds: 3600}, end: true}
`;

/** A wake task as another release (or damage) may have written it: the text goes in unchecked. */
function rawTask(runId: string, stepId: string | null, payload: string): void {
  h.station.db
    .prepare("INSERT INTO workflow_tasks (run_id, kind, step_id, payload, run_at) VALUES (?, 'wake', ?, ?, ?)")
    .run(runId, stepId, payload, Date.now());
}

describe('stored payloads', () => {
  it('are written with their version: the wait and the wake task of a sleeping step', async () => {
    h = EngineHarness.create();
    await h.define('nap', NAP);
    const id = h.start('nap');
    const waiting = await h.waitFor(id, 'step:waiting');
    const task = h.station.db.prepare("SELECT payload FROM workflow_tasks WHERE run_id = ? AND kind = 'wake'").get(id) as { payload: string };
    expect(JSON.parse(task.payload)).toEqual({ v: 1, reason: 'timer' });
    const step = h.station.db.prepare('SELECT wait FROM workflow_run_steps WHERE id = ?').get(waiting.stepId) as { wait: string };
    expect(JSON.parse(step.wait)).toMatchObject({ v: 1, type: 'timer' });
  });

  it('a wake task with an unknown reason fails the run instead of firing the timer', async () => {
    h = EngineHarness.create();
    await h.define('nap', NAP);
    const id = h.start('nap');
    const waiting = await h.waitFor(id, 'step:waiting');
    h.station.runStore.transaction(() => {
      rawTask(id, waiting.stepId, JSON.stringify({ reason: 'tick' }));
    });
    h.poke();
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('FAILED');
    expect(r.run.error).toMatch(/the reason .{0,3}tick.{0,3}, which this Station does not know/);
    expect(r.steps.find((s) => s.state_name === 'nap')?.status).not.toBe('SUCCEEDED');
  });

  it('a task payload of an unknown version fails the run', async () => {
    h = EngineHarness.create();
    await h.define('nap', NAP);
    const id = h.start('nap');
    const waiting = await h.waitFor(id, 'step:waiting');
    h.station.runStore.transaction(() => {
      rawTask(id, waiting.stepId, JSON.stringify({ v: 99, reason: 'timer' }));
    });
    h.poke();
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('FAILED');
    expect(r.run.error).toContain('version 99');
  });

  it('a wake task missing what its reason needs fails the run (a step timeout without its attempt)', async () => {
    h = EngineHarness.create();
    await h.define('nap', NAP);
    const id = h.start('nap');
    const waiting = await h.waitFor(id, 'step:waiting');
    h.station.runStore.transaction(() => {
      rawTask(id, waiting.stepId, JSON.stringify({ v: 1, reason: 'step-timeout' }));
    });
    h.poke();
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('FAILED');
    expect((JSON.parse(r.run.error ?? '{}') as { message?: string }).message).toContain('the stored wake task payload has no valid "attempt"');
  });
});
