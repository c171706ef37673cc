import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineHarness, fakeClock } from '../helpers/engine-harness.js';

/**
 * Leases run on the host's monotonic clock, not the wall clock: an engine whose wall clock jumps a day ahead (an NTP
 * step, `date -s`) does not see a live engine's leases as expired and does not deliver its running step again.
 * Two engines share one real SQLite file; each reads its own fake wall clock.
 */

let h: EngineHarness;

afterEach(async () => {
  await h.close();
});

describe('a wall-clock jump', () => {
  it('does not expire the lease of a step another engine is running', async () => {
    const clockA = fakeClock();
    h = EngineHarness.create({ engine: { clock: clockA, leaseMs: 1000 } });
    const log = h.file('deliveries.log');
    const release = h.file('release');
    await h.define('hold', `
      id: hold
      version: "1"
      name: Hold
      states:
        - name: work
          type: operation
          action: shell.exec
          input:
            command: [sh, -c, 'echo "$STN_IDEMPOTENCY_KEY" >> "$1"; while [ ! -e "$2" ]; do sleep 0.02; done', sh, "{{ input.log }}", "{{ input.release }}"]
          end: true
    `);
    const id = h.start('hold', { log, release });
    await h.waitFor(id, (e) => e.type === 'step:started');

    // The second engine's wall clock is a day ahead of the first's: by wall-clock deadlines, every lease is long past.
    const clockB = fakeClock(clockA.t + 24 * 3600_000);
    const other = h.openAnother({ clock: clockB, leaseMs: 1000 });
    // Several lease periods of real time, with the other engine polling all along.
    await new Promise((r) => setTimeout(r, 3000));
    expect(h.result(id).step('work').deliveries).toBe(1);
    expect(other.engine.busy).toBe(0);

    fs.writeFileSync(release, '');
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    expect(r.step('work').deliveries).toBe(1);
    expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
  });
});
