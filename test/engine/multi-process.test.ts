import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineHarness, eventually, processAlive, readPid } from '../helpers/engine-harness.js';

/** Any number of engines share one database; every step runs once and every transition happens once. */

let h: EngineHarness;

afterEach(async () => {
  await h.close();
});

describe('two Stations on one database', () => {
  it('complete 20 runs together, each step SUCCEEDED exactly once', async () => {
    h = EngineHarness.create({ engine: { concurrency: 4 } });
    const other = h.openAnother({ concurrency: 4 });
    const log = h.file('side-effects.log');
    await h.define('work', `
      id: work
      version: "1"
      name: Work
      states:
        - {name: first, type: operation, action: noop, input: {n: "{{ input.n }}"}, next: effect}
        - name: effect
          type: operation
          action: shell.exec
          input: {command: [sh, -c, 'echo "$STN_IDEMPOTENCY_KEY" >> "$1"; sleep 0.02', sh, "{{ input.log }}"]}
          next: fan
        - name: fan
          type: foreach
          itemsPath: input.items
          maxConcurrency: 2
          iterator:
            states: [{name: each, type: operation, action: noop, input: {i: "{{ item }}"}, end: true}]
          next: last
        - {name: last, type: operation, action: noop, input: {n: "{{ steps.first.n }}"}, end: true}
    `);
    const perStation = new Map<string, number>([['a', 0], ['b', 0]]);
    h.station.events.on((e) => e.type === 'step:succeeded' && perStation.set('a', (perStation.get('a') ?? 0) + 1));
    other.station.events.on((e) => e.type === 'step:succeeded' && perStation.set('b', (perStation.get('b') ?? 0) + 1));

    const ids: string[] = [];
    for (let n = 0; n < 20; n++) {
      const runs = n % 2 === 0 ? h.station.runs : other.station.runs;
      ids.push(runs.start({ workflowId: 'work', input: { n, log, items: [1, 2, 3] } }).run.id);
    }
    const results = await Promise.all(ids.map((id) => h.waitForEnd(id, 30_000)));

    for (const [n, r] of results.entries()) {
      expect(r.status).toBe('COMPLETED');
      expect(r.step('last').output).toEqual({ n });
      expect(r.steps).toHaveLength(7); // first, effect, fan, each×3, last
      for (const s of r.steps) {
        expect(s.status).toBe('SUCCEEDED');
        const own = r.events.filter((e) => e.stepId === s.id);
        expect(own.filter((e) => e.type === 'step:succeeded')).toHaveLength(1);
        if (s.type === 'operation') {
          expect(s.deliveries).toBe(1);
          expect(own.filter((e) => e.type === 'step:started')).toHaveLength(1);
        }
      }
      expect(r.events.map((e) => e.seq)).toEqual(r.events.map((_, i) => i + 1));
    }
    const keys = fs.readFileSync(log, 'utf8').trim().split('\n');
    expect(keys).toHaveLength(20);
    expect(new Set(keys).size).toBe(20);
    expect(keys.sort()).toEqual(results.map((r) => `${r.run.id}:${r.step('effect').id}:1`).sort());
    // Both engines did part of the work.
    expect(perStation.get('a')).toBeGreaterThan(0);
    expect(perStation.get('b')).toBeGreaterThan(0);
    expect((perStation.get('a') ?? 0) + (perStation.get('b') ?? 0)).toBe(20 * 7);
  });

  it('a loop that both Stations take turns at numbers its visits without gaps or repeats', async () => {
    h = EngineHarness.create({ engine: { concurrency: 2 } });
    const other = h.openAnother({ concurrency: 2 });
    await h.define('loop', `
      id: loop
      version: "1"
      name: Loop
      states:
        - {name: init, type: inject, data: {n: 0}, next: work}
        - {name: work, type: operation, action: shell.exec, input: {command: [sh, -c, "true"]}, next: count}
        - {name: count, type: inject, data: {n: "{{ n + 1 }}"}, next: again}
        - name: again
          type: switch
          conditions: [{if: "n < 12", next: work}]
          defaultNext: done
        - {name: done, type: inject, data: {finished: true}, end: true}
    `);
    const ids = [0, 1, 2, 3].map((i) => (i % 2 === 0 ? h.station.runs : other.station.runs).start({ workflowId: 'loop', input: {} }).run.id);
    for (const id of ids) {
      const r = await h.waitForEnd(id, 30_000);
      expect(r.status).toBe('COMPLETED');
      const work = r.steps.filter((s) => s.state_name === 'work');
      expect(work.map((s) => s.visit).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(new Set(work.map((s) => s.id)).size).toBe(12);
    }
  });

  it('a cancel written by the other Station stops the step running in this one and kills its process', async () => {
    h = EngineHarness.create();
    const pidFile = h.file('hang.pid');
    await h.define('hang', `
      id: hang
      version: "1"
      name: Hang
      states:
        - name: hang
          type: operation
          action: shell.exec
          input: {command: [sh, -c, 'echo $$ > "$1"; exec sleep 30', sh, "{{ input.pidFile }}"]}
          end: true
    `);
    const id = h.start('hang', { pidFile });
    const pid = await readPid(pidFile);
    const other = h.openAnother();
    other.station.runs.cancel(id, false, 'remote operator');
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('CANCELLED');
    expect(r.step('hang').status).toBe('CANCELLED');
    await eventually(() => !processAlive(pid), 5000, `process ${pid} to be gone`);
  });
});
