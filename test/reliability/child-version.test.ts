import { afterEach, describe, expect, it } from 'vitest';
import { EngineHarness } from '../helpers/engine-harness.js';

/**
 * Child runs and versions (docs/reliability.md, docs/runs.md): a child started by workflow.run runs the version the
 * step names, else the child workflow's active version at that moment, whatever version its parent is pinned to.
 */

let h: EngineHarness;

afterEach(async () => {
  await h.close();
});

function child(label: string): string {
  return `
    id: child
    version: "${label}"
    name: Child
    states:
      - {name: mark, type: inject, data: {from: "${label}"}, end: true}
  `;
}

function parent(input: string, note = 'first'): string {
  return `
    id: parent
    version: "1"
    name: Parent (${note})
    states:
      - {name: hold, type: operation, action: signal.wait, input: {name: go}, next: call}
      - {name: call, type: operation, action: workflow.run, input: ${input}, end: true}
  `;
}

describe('workflow.run and versions', () => {
  it('version: N runs that version of the child; without it the child runs its active version', async () => {
    h = EngineHarness.create();
    await h.define('child', child('v1'));
    await h.define('child', child('v2'));
    await h.define('parent', parent('{workflow: child, version: 1}'));
    const pinned = h.start('parent');
    h.station.runs.signal(pinned, 'go', null);
    const r1 = await h.waitForEnd(pinned);
    expect(r1.status).toBe('COMPLETED');
    expect(r1.step('call').output).toEqual({ from: 'v1' });
    const kid1 = h.station.runStore.childRuns(pinned)[0];
    expect(kid1?.version).toBe(1);
    // Not the active version: the child records who pinned it (the parent's step).
    const audit = h.result(kid1!.id).events.find((e) => e.type === 'run:version_pinned');
    expect(audit?.data).toMatchObject({ version: 1, activeVersion: 2, by: expect.stringContaining(`run ${pinned}`) as unknown });

    await h.define('parent', parent('{workflow: child}', 'second'));
    const floating = h.start('parent');
    h.station.runs.signal(floating, 'go', null);
    const r2 = await h.waitForEnd(floating);
    expect(r2.step('call').output).toEqual({ from: 'v2' });
    expect(h.station.runStore.childRuns(floating)[0]?.version).toBe(2);
  });

  it('a parent pinned to an old version starts its child on the version active when the step runs', async () => {
    h = EngineHarness.create();
    await h.define('child', child('v1'));
    await h.define('parent', parent('{workflow: child}'));
    const id = h.start('parent');
    await h.waitFor(id, (e) => e.type === 'step:waiting');
    // Both change while the parent waits: the parent stays on its version 1, the child it starts runs version 2.
    await h.define('child', child('v2'));
    await h.define('parent', parent('{workflow: child}', 'changed'));
    h.station.runs.signal(id, 'go', null);
    const r = await h.waitForEnd(id);
    expect(r.run.version).toBe(1);
    expect(r.step('call').output).toEqual({ from: 'v2' });
  });

  it('an unknown version fails the step, naming it', async () => {
    h = EngineHarness.create();
    await h.define('child', child('v1'));
    await h.define('parent', parent('{workflow: child, version: 7}'));
    const id = h.start('parent');
    h.station.runs.signal(id, 'go', null);
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('FAILED');
    expect(r.step('call').error?.message).toMatch(/no version 7 of workflow "child"/);
  });

  it('version must be a whole number of at least 1 (checked at sync)', async () => {
    h = EngineHarness.create();
    await h.define('child', child('v1'));
    h.writeWorkflow('parent', parent('{workflow: child, version: "latest"}'));
    await expect(h.sync()).rejects.toThrow(/version/);
  });
});
