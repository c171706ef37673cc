import { Cron } from 'croner';
import type { CronTrigger } from '../definitions/types.js';

/** A cron trigger's schedule in its time zone (UTC unless the trigger names one), ready to compute slots. */
export function compileSchedule(trigger: Pick<CronTrigger, 'schedule' | 'timezone'>): Cron {
  // `paused`: croner computes times only; Station arms its own timer, so one timer serves every trigger.
  return new Cron(trigger.schedule.trim(), { paused: true, timezone: trigger.timezone ?? 'UTC', mode: '5-or-6-parts' });
}

/** The first slot strictly after `afterMs` (epoch ms), or null when the schedule has no more. */
export function nextSlot(cron: Cron, afterMs: number): number | null {
  return cron.nextRun(new Date(afterMs))?.getTime() ?? null;
}

/**
 * The slots in (afterMs, uptoMs], oldest first, at most the newest `max` of them; `more` says older ones were left
 * out. Counting backwards from `uptoMs` keeps this cheap after a long downtime of a per-second schedule.
 */
export function slotsBetween(cron: Cron, afterMs: number, uptoMs: number, max: number): { slots: number[]; more: boolean } {
  if (max <= 0 || uptoMs <= afterMs) return { slots: [], more: false };
  // previousRuns is strict at millisecond precision: +1 makes a slot exactly at uptoMs count.
  const found = cron
    .previousRuns(max + 1, new Date(uptoMs + 1))
    .map((d) => d.getTime())
    .filter((t) => t > afterMs && t <= uptoMs);
  const more = found.length > max;
  return { slots: found.slice(0, max).reverse(), more };
}
