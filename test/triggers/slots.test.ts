import { describe, expect, it } from 'vitest';
import { compileSchedule, nextSlot, slotsBetween } from '../../src/triggers/slots.js';

const at = (s: string) => Date.parse(s);
const iso = (ms: number) => new Date(ms).toISOString();

describe('cron slots in a time zone', () => {
  it('a daily job in Berlin runs at local time, in winter and in summer', () => {
    const cron = compileSchedule({ schedule: '0 3 * * *', timezone: 'Europe/Berlin' });
    expect(iso(nextSlot(cron, at('2030-01-15T00:00:00Z'))!)).toBe('2030-01-15T02:00:00.000Z');
    expect(iso(nextSlot(cron, at('2030-07-15T00:00:00Z'))!)).toBe('2030-07-15T01:00:00.000Z');
  });

  it('spring forward: a time in the gap runs once, at the first valid time after it', () => {
    const cron = compileSchedule({ schedule: '30 2 * * *', timezone: 'Europe/Berlin' });
    // 2030-03-31 02:00 → 03:00 local; 03:00 CEST is 01:00Z.
    expect(slotsBetween(cron, at('2030-03-30T12:00:00Z'), at('2030-04-01T12:00:00Z'), 10).slots.map(iso)).toEqual([
      '2030-03-31T01:00:00.000Z',
      '2030-04-01T00:30:00.000Z',
    ]);
  });

  it('fall back: a fixed time that happens twice runs once; an interval job runs on both', () => {
    const daily = compileSchedule({ schedule: '30 2 * * *', timezone: 'Europe/Berlin' });
    expect(slotsBetween(daily, at('2030-10-26T12:00:00Z'), at('2030-10-27T12:00:00Z'), 10).slots.map(iso)).toEqual(['2030-10-27T00:30:00.000Z']);
    const half = compileSchedule({ schedule: '*/30 * * * *', timezone: 'Europe/Berlin' });
    // 02:00 and 02:30 local happen in CEST (00:00Z, 00:30Z) and again in CET (01:00Z, 01:30Z).
    expect(slotsBetween(half, at('2030-10-26T23:50:00Z'), at('2030-10-27T01:40:00Z'), 10).slots.map(iso)).toEqual([
      '2030-10-27T00:00:00.000Z',
      '2030-10-27T00:30:00.000Z',
      '2030-10-27T01:00:00.000Z',
      '2030-10-27T01:30:00.000Z',
    ]);
  });

  it('defaults to UTC and accepts 6 fields (seconds first)', () => {
    const cron = compileSchedule({ schedule: '*/15 * * * * *' });
    expect(iso(nextSlot(cron, at('2030-01-01T00:00:00Z'))!)).toBe('2030-01-01T00:00:15.000Z');
  });
});

describe('slotsBetween', () => {
  const everyMinute = compileSchedule({ schedule: '* * * * *' });
  const t0 = at('2030-01-01T00:00:00Z');

  it('is (after, upto]: the slot at `after` is excluded, the one at `upto` included', () => {
    expect(slotsBetween(everyMinute, t0, t0 + 180_000, 10).slots).toEqual([t0 + 60_000, t0 + 120_000, t0 + 180_000]);
    expect(slotsBetween(everyMinute, t0 + 1, t0 + 60_000 - 1, 10).slots).toEqual([]);
  });

  it('keeps the newest `max` slots and says when older ones were left out', () => {
    expect(slotsBetween(everyMinute, t0, t0 + 10 * 60_000, 3)).toEqual({ slots: [t0 + 8 * 60_000, t0 + 9 * 60_000, t0 + 10 * 60_000], more: true });
    expect(slotsBetween(everyMinute, t0, t0 + 3 * 60_000, 3).more).toBe(false);
    expect(slotsBetween(everyMinute, t0, t0 + 10 * 60_000, 0)).toEqual({ slots: [], more: false });
  });

  it('stays cheap after a long downtime of a per-second schedule', () => {
    const perSecond = compileSchedule({ schedule: '* * * * * *' });
    const started = performance.now();
    const r = slotsBetween(perSecond, t0, t0 + 30 * 24 * 3600_000, 100);
    expect(r.slots).toHaveLength(100);
    expect(r.more).toBe(true);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
