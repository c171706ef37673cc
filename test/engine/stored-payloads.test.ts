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

describe('stored payloads the engine cannot read', () => {
  it('a wake task with an unknown reason fails the run instead of firing the timer', async () => {
    h = EngineHarness.create();
    await h.define('nap', NAP);
    const id = h.start('nap');
    const waiting = await h.waitFor(id, 'step:waiting');
    h.station.runStore.transaction(() => {
      h.station.runStore.insertTask(id, 'wake', waiting.stepId, JSON.stringify({ reason: 'tick' }), Date.now());
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
      h.station.runStore.insertTask(id, 'wake', waiting.stepId, JSON.stringify({ v: 99, reason: 'timer' }), Date.now());
    });
    h.poke();
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('FAILED');
    expect(r.run.error).toContain('version 99');
  });
});
