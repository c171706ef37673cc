import { afterEach, describe, expect, it } from 'vitest';
import { EngineHarness, type StepView } from '../helpers/engine-harness.js';

/**
 * The saga (docs/runs.md "Compensation"). Compensations of SUCCEEDED steps run in reverse order of completion when a
 * run fails.
 */

let h: EngineHarness;

afterEach(async () => {
  await h.close();
});

/** A, B, a parallel with two compensated branch steps, a foreach with a compensated step per item, then a failure. */
function saga(bCompensation: string): string {
  return `
    id: saga
    version: "1"
    name: Saga
    states:
      - name: A
        type: operation
        action: noop
        input: {made: A}
        compensation: {action: noop, input: {undo: A, result: "{{ result }}"}}
        next: B
      - name: B
        type: operation
        action: noop
        input: {made: B, n: 2}
        compensation: ${bCompensation}
        next: plain
      - name: plain
        type: operation
        action: noop
        input: {made: plain}
        next: fan
      - name: fan
        type: parallel
        branches:
          - name: left
            states:
              - name: L
                type: operation
                action: noop
                input: {made: L}
                compensation: {action: noop, input: {undo: L, result: "{{ result }}"}}
                end: true
          - name: right
            states:
              - name: R
                type: operation
                action: noop
                input: {made: R}
                compensation: {action: noop, input: {undo: R, result: "{{ result }}"}}
                end: true
        next: loop
      - name: loop
        type: foreach
        itemsPath: input.items
        iterator:
          states:
            - name: I
              type: operation
              action: noop
              input: {made: "I{{ index }}", item: "{{ item }}"}
              compensation: {action: noop, input: {undo: "I{{ index }}", item: "{{ item }}", result: "{{ result }}"}}
              end: true
        next: boom
      - name: boom
        type: operation
        action: fail
        input: {message: "deploy failed", code: E_DEPLOY}
        end: true
  `;
}

const byId = (steps: StepView[]) => new Map(steps.map((s) => [s.id, s]));

describe('compensation', () => {
  it('runs every compensation in reverse order of completion, each seeing its own step output as `result`', async () => {
    h = EngineHarness.create();
    await h.define('saga', saga('{action: noop, input: {undo: B, result: "{{ result }}"}}'));
    const r = await h.run('saga', { items: ['x', 'y'] });

    expect(r.status).toBe('FAILED');
    expect(r.error).toMatchObject({ code: 'E_DEPLOY', message: 'deploy failed' });
    expect(r.run.compensated).toBe(true);
    expect(r.run.compensation_errors).toBeNull();

    const originals = byId(r.steps);
    const comps = r.steps.filter((s) => s.compensation_of !== null);
    const compensated = comps.map((c) => originals.get(c.compensation_of ?? '') as StepView);
    // Reverse order of completion, parallel and foreach steps included; `plain` has no compensation.
    const completedLastFirst = r.steps
      .filter((s) => s.type === 'operation' && s.status === 'SUCCEEDED' && s.state_name !== 'plain')
      .sort((a, b) => (b.completed_seq ?? 0) - (a.completed_seq ?? 0));
    expect(compensated.map((s) => s.path)).toEqual(completedLastFirst.map((s) => s.path));
    const paths = compensated.map((s) => s.path);
    expect(paths.slice(0, 2)).toEqual(['loop[1]/I', 'loop[0]/I']);
    expect(paths.slice(2, 4).sort()).toEqual(['fan/left/L', 'fan/right/R']);
    expect(paths.slice(4)).toEqual(['B', 'A']);

    for (const c of comps) {
      const of = originals.get(c.compensation_of ?? '') as StepView;
      expect(c.type).toBe('compensation');
      expect(c.status).toBe('SUCCEEDED');
      expect(c.action).toBe('noop');
      expect((c.output as { result: unknown }).result).toEqual(of.output);
    }
    expect(comps.map((c) => (c.output as { undo: string }).undo)).toEqual(['I1', 'I0', ...paths.slice(2, 4).map((p) => p.slice(-1)), 'B', 'A']);
    expect(comps[0]?.output).toMatchObject({ item: 'y', result: { made: 'I1', item: 'y' } });

    const types = r.events.map((e) => e.type);
    const startedAt = types.indexOf('compensation:started');
    expect(startedAt).toBeGreaterThan(types.indexOf('step:failed'));
    expect(r.events[startedAt]?.data).toEqual({ steps: 6, reason: 'failed' });
    expect(r.events.filter((e) => e.type === 'compensation:step').map((e) => e.data.status)).toEqual(Array(6).fill('SUCCEEDED'));
    expect(types.slice(-2)).toEqual(['compensation:finished', 'run:failed']);
    expect(r.events.at(-2)?.data).toEqual({ compensated: true, failures: [] });
    expect(r.events.at(-1)?.data).toMatchObject({ compensated: true, error: { code: 'E_DEPLOY' } });
  });

  it('records a failing compensation (compensated 0, compensation_errors) and still runs the others', async () => {
    h = EngineHarness.create();
    await h.define('saga', saga('{action: fail, input: {message: "cannot undo B"}, retry: {maxAttempts: 2, backoffSeconds: 0}}'));
    const r = await h.run('saga', { items: ['x'] });

    expect(r.status).toBe('FAILED');
    expect(r.error?.code).toBe('E_DEPLOY'); // the run's own error stays the cause
    expect(r.run.compensated).toBe(false);
    expect(JSON.parse(r.run.compensation_errors ?? 'null')).toEqual(['B']);

    const originals = byId(r.steps);
    const comps = r.steps.filter((s) => s.compensation_of !== null);
    expect(comps.map((c) => [originals.get(c.compensation_of ?? '')?.state_name, c.status])).toEqual([
      ['I', 'SUCCEEDED'],
      [expect.stringMatching(/^[LR]$/), 'SUCCEEDED'],
      [expect.stringMatching(/^[LR]$/), 'SUCCEEDED'],
      ['B', 'FAILED'],
      ['A', 'SUCCEEDED'],
    ]);
    const bComp = comps[3];
    expect(bComp?.attempt).toBe(2); // compensations have their own retries
    expect(bComp?.error).toMatchObject({ code: 'STN_E_FAIL', message: 'cannot undo B' });
    const finished = r.events.find((e) => e.type === 'compensation:finished');
    expect(finished?.data).toEqual({ compensated: false, failures: ['B'] });
    expect(r.events.at(-1)).toMatchObject({ type: 'run:failed', data: { compensated: false } });
  });

  it('a run that fails with nothing to compensate ends FAILED without a compensation phase', async () => {
    h = EngineHarness.create();
    await h.define('plain', `
      id: plain
      version: "1"
      name: Plain
      states:
        - {name: ok, type: operation, action: noop, next: boom}
        - {name: boom, type: operation, action: fail, end: true}
    `);
    const r = await h.run('plain');
    expect(r.status).toBe('FAILED');
    expect(r.run.compensated).toBeNull();
    expect(r.events.some((e) => e.type.startsWith('compensation:'))).toBe(false);
  });
});
