import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TriggerStore, type FireRow } from '../../src/store/triggers.js';
import { CronScheduler, MAX_CATCH_UP } from '../../src/triggers/cron.js';
import { EngineHarness, eventually, FAKE_EPOCH, fakeClock, type FakeClock } from '../helpers/engine-harness.js';

const MIN = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

let h: EngineHarness | undefined;
const schedulers: CronScheduler[] = [];

afterEach(async () => {
  for (const s of schedulers.splice(0)) s.stop();
  await h?.close();
  h = undefined;
});

function harness(clock?: FakeClock): EngineHarness {
  h = EngineHarness.create(clock ? { engine: { clock } } : {});
  return h;
}

function scheduler(station = (h as EngineHarness).station, clock?: FakeClock, owner = 'test'): CronScheduler {
  const s = new CronScheduler({ station, owner, ...(clock ? { clock } : {}) });
  schedulers.push(s);
  return s;
}

/** A workflow with one cron trigger (extra trigger fields as YAML flow entries) and one noop state. */
function cronWorkflow(id: string, trigger: string, states = '- {name: go, type: operation, action: noop, end: true}'): string {
  return `
    id: ${id}
    version: "1"
    name: ${id}
    triggers:
      - {type: cron, name: tick, ${trigger}}
    states:
      ${states}
  `;
}

const WAIT_STATE = '- {name: hold, type: operation, action: signal.wait, input: {name: go}, end: true}';

function fires(id: string, trigger = 'tick'): FireRow[] {
  return new TriggerStore((h as EngineHarness).station.db).fires({ environment: 'default', workflowId: id, trigger }, 10_000).reverse();
}

function runsOf(id: string): Array<{ id: string; status: string; trigger: string; input: string }> {
  return (h as EngineHarness).station.db
    .prepare('SELECT id, status, trigger, input FROM workflow_runs WHERE workflow_id = ? ORDER BY created_at, id')
    .all(id) as Array<{ id: string; status: string; trigger: string; input: string }>;
}

function slotsOf(id: string): string[] {
  return runsOf(id).map((r) => (JSON.parse(r.trigger) as { scheduledAt: string }).scheduledAt).sort();
}

describe('cron slots', () => {
  it('computes the next slot in the trigger time zone, for 5- and 6-field schedules', async () => {
    const clock = fakeClock();
    const hh = harness(clock);
    hh.writeWorkflow('berlin', cronWorkflow('berlin', 'schedule: "0 3 * * *", timezone: Europe/Berlin'));
    hh.writeWorkflow('seconds', cronWorkflow('seconds', 'schedule: "*/10 * * * * *"'));
    hh.writeWorkflow('utc', cronWorkflow('utc', 'schedule: "30 12 * * 1-5"'));
    await hh.sync();
    const s = scheduler(hh.station, clock);
    s.start();
    const next = Object.fromEntries(s.list().map((e) => [e.workflowId, e]));
    // 03:00 in Berlin in January is 02:00 UTC; 2030-01-01 is a Tuesday.
    expect(next.berlin).toMatchObject({ nextAt: '2030-01-01T02:00:00.000Z', timezone: 'Europe/Berlin', lastFireAt: null });
    expect(next.seconds?.nextAt).toBe('2030-01-01T00:00:10.000Z');
    expect(next.utc).toMatchObject({ nextAt: '2030-01-01T12:30:00.000Z', timezone: 'UTC' });
  });

  it('fires each slot once, with the slot in the run trigger and input templates, and re-arms for the next', async () => {
    const clock = fakeClock();
    const hh = harness(clock);
    await hh.define('every', cronWorkflow('every', 'schedule: "* * * * *", concurrency: allow, input: {slot: "{{ trigger.scheduledAt }}"}'));
    const s = scheduler(hh.station, clock);
    s.start();
    s.tick();
    expect(runsOf('every')).toHaveLength(0);
    clock.t = FAKE_EPOCH + MIN + 5;
    s.tick();
    s.tick();
    const runs = runsOf('every');
    expect(runs).toHaveLength(1);
    expect(JSON.parse(runs[0]!.trigger)).toEqual({ type: 'cron', name: 'tick', scheduledAt: iso(FAKE_EPOCH + MIN) });
    expect(JSON.parse(runs[0]!.input)).toEqual({ slot: iso(FAKE_EPOCH + MIN) });
    expect((await hh.waitForEnd(runs[0]!.id)).status).toBe('COMPLETED');
    expect(s.list()[0]).toMatchObject({ nextAt: iso(FAKE_EPOCH + 2 * MIN), lastFireAt: iso(FAKE_EPOCH + MIN), lastOutcome: 'fired', lastRunId: runs[0]!.id });
    clock.t = FAKE_EPOCH + 2 * MIN;
    s.tick();
    expect(slotsOf('every')).toEqual([iso(FAKE_EPOCH + MIN), iso(FAKE_EPOCH + 2 * MIN)]);
    expect(fires('every').map((f) => [f.scheduled_at, f.outcome])).toEqual([
      [FAKE_EPOCH + MIN, 'fired'],
      [FAKE_EPOCH + 2 * MIN, 'fired'],
    ]);
  });

  it('a new trigger does not fire slots from before it was registered', async () => {
    const clock = fakeClock(FAKE_EPOCH + 30 * MIN + 10);
    const hh = harness(clock);
    await hh.define('fresh', cronWorkflow('fresh', 'schedule: "* * * * *", catchUp: all'));
    scheduler(hh.station, clock).start();
    expect(runsOf('fresh')).toHaveLength(0);
  });
});

describe('catch-up after downtime', () => {
  /** Fires slot 1 with a first scheduler, stops it (the daemon goes down), and restarts after `downMs`. */
  async function downtime(policy: string, schedule: string, slotMs: number, downMs: number, concurrency = 'allow') {
    const clock = fakeClock();
    const hh = harness(clock);
    await hh.define('job', cronWorkflow('job', `schedule: "${schedule}", catchUp: ${policy}, concurrency: ${concurrency}`));
    const first = scheduler(hh.station, clock, 'first');
    first.start();
    clock.t = FAKE_EPOCH + slotMs;
    first.tick();
    first.stop();
    expect(slotsOf('job')).toEqual([iso(FAKE_EPOCH + slotMs)]);
    await hh.waitForEnd(runsOf('job')[0]!.id);
    clock.t = FAKE_EPOCH + slotMs + downMs;
    const second = scheduler(hh.station, clock, 'second');
    second.start();
    return { clock, second, slots: slotsOf('job').slice(1) };
  }

  it('none: skips every slot missed while down, then fires the next one', async () => {
    const { clock, second, slots } = await downtime('none', '* * * * *', MIN, 9.5 * MIN);
    expect(slots).toEqual([]);
    clock.t = FAKE_EPOCH + 11 * MIN;
    second.tick();
    expect(slotsOf('job').slice(1)).toEqual([iso(FAKE_EPOCH + 11 * MIN)]);
  });

  it('latest: fires only the last missed slot', async () => {
    const { slots } = await downtime('latest', '* * * * *', MIN, 9.5 * MIN);
    expect(slots).toEqual([iso(FAKE_EPOCH + 10 * MIN)]);
  });

  it('all: fires every missed slot, oldest first', async () => {
    const { slots } = await downtime('all', '* * * * *', MIN, 9.5 * MIN);
    expect(slots).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10].map((m) => iso(FAKE_EPOCH + m * MIN)));
  });

  it(`all: after a long downtime fires only the newest ${MAX_CATCH_UP} slots`, async () => {
    const { slots } = await downtime('all', '* * * * * *', 1000, 3600_000);
    expect(slots).toHaveLength(MAX_CATCH_UP);
    expect(slots.at(-1)).toBe(iso(FAKE_EPOCH + 1000 + 3600_000));
    expect(slots[0]).toBe(iso(FAKE_EPOCH + 1000 + 3600_000 - (MAX_CATCH_UP - 1) * 1000));
  });

  it('all with concurrency forbid: the first missed slot runs, the others are recorded as skipped', async () => {
    await downtime('all', '* * * * *', MIN, 3.5 * MIN, 'forbid');
    // Slot 1's run ended before the downtime; slot 2 starts one, which is still pending when slots 3 and 4 come.
    expect(fires('job').map((f) => f.outcome)).toEqual(['fired', 'fired', 'skipped', 'skipped']);
  });

  it('a timer that wakes more than a minute late treats the older slots as missed (latest: only the newest)', async () => {
    const clock = fakeClock();
    const hh = harness(clock);
    await hh.define('job', cronWorkflow('job', 'schedule: "* * * * *", catchUp: latest, concurrency: allow'));
    const s = scheduler(hh.station, clock);
    s.start();
    clock.t = FAKE_EPOCH + 5 * MIN + 1; // the process was suspended for five slots
    s.tick();
    // Slot 5 is on time (less than a minute late); slots 1..4 are missed and latest does not add them.
    expect(slotsOf('job')).toEqual([iso(FAKE_EPOCH + 5 * MIN)]);
  });

  it.each([
    ['none', 2],
    ['latest', 2],
    ['all', 30],
  ] as const)('a stall under a minute misses sub-minute slots too (catchUp %s fires %i of 30)', async (policy, fired) => {
    const clock = fakeClock();
    const hh = harness(clock);
    await hh.define('job', cronWorkflow('job', `schedule: "* * * * * *", catchUp: ${policy}, concurrency: allow`));
    const s = scheduler(hh.station, clock);
    s.start();
    clock.t = FAKE_EPOCH + 30_000 + 500; // stalled for 30 s: slots 1..30 are due at once
    s.tick();
    // Only slots at most LAG_TOLERANCE_MS (2 s) late are on time (29 and 30); 1..28 were missed and follow catchUp.
    const slots = slotsOf('job');
    expect(slots).toHaveLength(fired);
    expect(slots.at(-1)).toBe(iso(FAKE_EPOCH + 30_000));
  });
});

describe('concurrency', () => {
  it('forbid: a slot is skipped (and recorded) while the previous run of the trigger has not ended', async () => {
    const clock = fakeClock();
    const hh = harness(clock);
    await hh.define('held', cronWorkflow('held', 'schedule: "* * * * *", concurrency: forbid', WAIT_STATE));
    const s = scheduler(hh.station, clock);
    s.start();
    clock.t = FAKE_EPOCH + MIN;
    s.tick();
    const [first] = runsOf('held');
    await hh.waitFor(first!.id, 'step:waiting');
    clock.t = FAKE_EPOCH + 2 * MIN;
    s.tick();
    expect(runsOf('held')).toHaveLength(1);
    const skipped = fires('held')[1]!;
    expect(skipped).toMatchObject({ scheduled_at: FAKE_EPOCH + 2 * MIN, outcome: 'skipped', run_id: null });
    expect(skipped.detail).toContain(first!.id);
    hh.station.runs.signal(first!.id, 'go', {});
    await hh.waitForEnd(first!.id);
    clock.t = FAKE_EPOCH + 3 * MIN;
    s.tick();
    expect(runsOf('held')).toHaveLength(2);
  });

  it('replace: the previous run is cancelled and a new one starts', async () => {
    const clock = fakeClock();
    const hh = harness(clock);
    await hh.define('swap', cronWorkflow('swap', 'schedule: "* * * * *", concurrency: replace', WAIT_STATE));
    const s = scheduler(hh.station, clock);
    s.start();
    clock.t = FAKE_EPOCH + MIN;
    s.tick();
    const [first] = runsOf('swap');
    await hh.waitFor(first!.id, 'step:waiting');
    clock.t = FAKE_EPOCH + 2 * MIN;
    s.tick();
    const ended = await hh.waitForEnd(first!.id);
    expect(ended.status).toBe('CANCELLED');
    const runs = runsOf('swap');
    expect(runs).toHaveLength(2);
    expect(fires('swap')[1]).toMatchObject({ outcome: 'fired', run_id: runs[1]!.id, detail: `replaced ${first!.id}` });
    await hh.waitFor(runs[1]!.id, 'step:waiting');
  });

  it('allow: overlapping runs are started', async () => {
    const clock = fakeClock();
    const hh = harness(clock);
    await hh.define('many', cronWorkflow('many', 'schedule: "* * * * *", concurrency: allow', WAIT_STATE));
    const s = scheduler(hh.station, clock);
    s.start();
    for (const m of [1, 2, 3]) {
      clock.t = FAKE_EPOCH + m * MIN;
      s.tick();
    }
    expect(runsOf('many')).toHaveLength(3);
  });
});

describe('registration', () => {
  it('disabled triggers and disabled definitions do not fire; reload() follows syncs', async () => {
    const clock = fakeClock();
    const hh = harness(clock);
    hh.writeWorkflow('on', cronWorkflow('on', 'schedule: "* * * * *"'));
    hh.writeWorkflow('off', cronWorkflow('off', 'schedule: "* * * * *", enabled: false'));
    await hh.sync();
    const s = scheduler(hh.station, clock);
    s.start();
    expect(s.list().map((e) => e.workflowId)).toEqual(['on']);

    hh.writeWorkflow('later', cronWorkflow('later', 'schedule: "*/2 * * * *"'));
    fs.rmSync(path.join(hh.dir, 'environments/default/workflows/on.workflow.yaml'));
    await hh.sync();
    expect(hh.station.definitions.definition('default', 'on')?.status).toBe('disabled');
    s.reload();
    expect(s.list().map((e) => e.workflowId)).toEqual(['later']);
    clock.t = FAKE_EPOCH + 2 * MIN;
    s.tick();
    expect(runsOf('on')).toHaveLength(0);
    expect(runsOf('off')).toHaveLength(0);
    expect(slotsOf('later')).toEqual([iso(FAKE_EPOCH + 2 * MIN)]);
  });

  it('a trigger whose edit keeps its name keeps its place in time across reload()', async () => {
    const clock = fakeClock();
    const hh = harness(clock);
    await hh.define('edit', cronWorkflow('edit', 'schedule: "* * * * *", concurrency: allow'));
    const s = scheduler(hh.station, clock);
    s.start();
    clock.t = FAKE_EPOCH + MIN;
    s.tick();
    await hh.define('edit', cronWorkflow('edit', 'schedule: "* * * * *", concurrency: allow, input: {v: 2}'));
    s.reload();
    s.tick(); // the slot at +1 min is not fired again by the new version
    clock.t = FAKE_EPOCH + 2 * MIN;
    s.tick();
    const runs = runsOf('edit');
    expect(runs.map((r) => JSON.parse(r.input) as unknown)).toEqual([{}, { v: 2 }]);
  });

  it('a changed schedule or time zone takes effect on reload()', async () => {
    const clock = fakeClock();
    const hh = harness(clock);
    await hh.define('moving', cronWorkflow('moving', 'schedule: "* * * * *"'));
    const s = scheduler(hh.station, clock);
    s.start();
    expect(s.list()[0]?.nextAt).toBe(iso(FAKE_EPOCH + MIN));
    await hh.define('moving', cronWorkflow('moving', 'schedule: "0 9 * * *", timezone: Asia/Tokyo'));
    s.reload();
    // 09:00 in Tokyo is 00:00 UTC; the clock stands at exactly 2030-01-01T00:00Z, so the next one is a day later.
    expect(s.list()[0]).toMatchObject({ nextAt: '2030-01-02T00:00:00.000Z', schedule: '0 9 * * *', timezone: 'Asia/Tokyo' });
  });

  it('a slot whose run cannot start is recorded as an error, not retried, and the others go on', async () => {
    const clock = fakeClock();
    const hh = harness(clock);
    hh.writeWorkflow('strict', `
      id: strict
      version: "1"
      name: strict
      inputSchema: {type: object, required: [target]}
      triggers:
        - {type: cron, name: tick, schedule: "* * * * *"}
        - {type: cron, name: broken, schedule: "* * * * *", input: {x: "{{ trigger.nope }}"}}
      states:
        - {name: go, type: operation, action: noop, end: true}
    `);
    hh.writeWorkflow('fine', cronWorkflow('fine', 'schedule: "* * * * *"'));
    await hh.sync();
    const s = scheduler(hh.station, clock);
    s.start();
    clock.t = FAKE_EPOCH + MIN;
    s.tick();
    s.tick();
    expect(fires('strict')).toEqual([expect.objectContaining({ outcome: 'error', run_id: null, detail: expect.stringContaining('STN_E_INPUT_INVALID') })]);
    expect(fires('strict', 'broken')).toEqual([expect.objectContaining({ outcome: 'error', detail: expect.stringContaining('STN_E_EXPR_MISSING_KEY') })]);
    expect(runsOf('strict')).toHaveLength(0);
    expect(runsOf('fine')).toHaveLength(1);
  });
});

describe('several schedulers on one database', () => {
  it('two schedulers on two connections fire each slot once (fake clock)', async () => {
    const clock = fakeClock();
    const hh = harness(clock);
    await hh.define('shared', cronWorkflow('shared', 'schedule: "* * * * *", concurrency: allow'));
    const other = hh.openAnother({ clock });
    const a = scheduler(hh.station, clock, 'a');
    const b = scheduler(other.station, clock, 'b');
    a.start();
    b.start();
    for (const m of [1, 2, 3, 4]) {
      clock.t = FAKE_EPOCH + m * MIN + 3;
      // Alternate who gets there first.
      if (m % 2 === 0) {
        a.tick();
        b.tick();
      } else {
        b.tick();
        a.tick();
      }
    }
    expect(slotsOf('shared')).toEqual([1, 2, 3, 4].map((m) => iso(FAKE_EPOCH + m * MIN)));
    expect(fires('shared').map((f) => f.outcome)).toEqual(['fired', 'fired', 'fired', 'fired']);
  });

  it('two schedulers with real timers on a per-second schedule: every slot once, in order, on time', async () => {
    const hh = harness();
    await hh.define('sec', cronWorkflow('sec', 'schedule: "* * * * * *", concurrency: allow'));
    const other = hh.openAnother();
    const a = scheduler(hh.station, undefined, 'a');
    const b = scheduler(other.station, undefined, 'b');
    const startedAt = Date.now();
    a.start();
    b.start();
    await eventually(() => fires('sec').length >= 4, 15_000, 'four per-second slots');
    a.stop();
    b.stop();
    const rows = fires('sec');
    const slots = rows.map((f) => f.scheduled_at);
    expect(new Set(slots).size).toBe(slots.length);
    expect(rows.every((f) => f.outcome === 'fired')).toBe(true);
    for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBe(1000);
    expect(slots[0]!).toBeGreaterThan(startedAt - 1000);
    // Armed from the clock for each slot: the fire happens right after the slot, not drifting behind it.
    for (const f of rows) expect(Date.parse(f.fired_at) - f.scheduled_at).toBeLessThan(1500);
    expect(runsOf('sec')).toHaveLength(rows.length);
  });
});

describe('trigger store', () => {
  it('pruneFires keeps the newest records of one trigger and leaves the others alone', () => {
    const hh = harness();
    const store = new TriggerStore(hh.station.db);
    const a = { environment: 'default', workflowId: 'a', trigger: 'tick' };
    const b = { environment: 'default', workflowId: 'b', trigger: 'tick' };
    for (let i = 1; i <= 15; i++) {
      expect(store.claimSlot(a, i * 1000, iso(i * 1000))).toBe(true);
      store.claimSlot(b, i * 1000, iso(i * 1000));
    }
    expect(store.claimSlot(a, 15_000, iso(15_000))).toBe(false);
    expect(store.pruneFires(a, 10)).toBe(5);
    expect(store.fires(a).map((f) => f.scheduled_at)).toEqual([15, 14, 13, 12, 11, 10, 9, 8, 7, 6].map((s) => s * 1000));
    expect(store.fires(b)).toHaveLength(15);
    expect(store.lastFire(a)?.scheduled_at).toBe(15_000);
  });
});
