import type { Cron } from 'croner';
import type { Station } from '../context.js';
import type { CronTrigger } from '../definitions/types.js';
import type { Clock } from '../engine/engine.js';
import { toStationError } from '../errors.js';
import { storageProblemOf } from '../store/health.js';
import { TriggerStore, type TriggerKey } from '../store/triggers.js';
import { triggerInput } from './input.js';
import { activeCronTriggers, type ActiveTrigger, type TriggerCache } from './registry.js';
import { compileSchedule, nextSlot, slotsBetween } from './slots.js';

/** After downtime, `catchUp: all` fires at most this many missed slots per trigger (the newest ones). */
export const MAX_CATCH_UP = 100;
/** A slot whose timer fires later than this (suspended machine, stalled process) counts as missed: catchUp decides. */
export const LATE_TOLERANCE_MS = 60_000;
/**
 * Of several slots due at one wake, only the newest (if within LATE_TOLERANCE_MS) and those at most this late are on
 * time; the older ones were missed during a stall and follow `catchUp`, like slots missed while no daemon ran. It
 * absorbs ordinary event-loop lag for per-second schedules without letting a 30-second stall fire 30 runs at once.
 */
export const LAG_TOLERANCE_MS = 2_000;
/** The timer never sleeps longer than this, so a wall-clock step (NTP) is noticed within it. */
const MAX_SLEEP_MS = 30_000;
/** After a database error the slot is tried again this much later (still within the late tolerance). */
const RETRY_MS = 1_000;
/** Slot records kept per trigger (only the newest matters for catch-up; the rest is history). */
const KEEP_FIRES = 1_000;
const PRUNE_EVERY = 100;

export interface CronEntry {
  environment: string;
  workflowId: string;
  trigger: string;
  schedule: string;
  timezone: string;
  /** The next slot this process will try to fire (ISO), null when the schedule has none. */
  nextAt: string | null;
  /** The newest slot recorded for this trigger by any process (ISO), and what happened to it. */
  lastFireAt: string | null;
  lastOutcome?: string | null;
  lastRunId?: string | null;
}

interface Entry {
  key: TriggerKey;
  version: number;
  trigger: CronTrigger;
  cron: Cron;
  /** Every slot at or before this time (epoch ms) has been handled by this process. */
  cursor: number;
  nextAt: number | null;
  /** Slots this process recorded for the trigger (old records are pruned every PRUNE_EVERY). */
  recorded: number;
}

type SlotOutcome = 'fired' | 'skipped' | 'error' | 'taken';

/**
 * Cron triggers (README "Cron"). One timer, armed for the earliest next slot of all triggers and re-armed from the
 * clock after each wake (no drift). Each slot is claimed in `trigger_fires` in the same transaction that starts its
 * run: the primary key (environment, workflow, trigger, slot) makes a slot fire once, however many daemons share the
 * database.
 */
export class CronScheduler {
  private readonly station: Station;
  private readonly owner: string;
  private readonly clock: Clock;
  private readonly store: TriggerStore;
  private entries = new Map<string, Entry>();
  private readonly versions: TriggerCache = new Map();
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(opts: { station: Station; owner: string; clock?: Clock; env?: NodeJS.ProcessEnv }) {
    this.station = opts.station;
    this.owner = opts.owner;
    this.clock = opts.clock ?? Date;
    this.store = new TriggerStore(opts.station.db);
  }

  /** Registers the active cron triggers, fires what catch-up asks for, then arms the timer. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const now = this.clock.now();
    this.entries = new Map();
    for (const t of activeCronTriggers(this.station, this.versions)) {
      const entry = this.entryOf(t, now);
      if (!entry) continue;
      const last = this.store.lastFire(entry.key);
      if (last) {
        entry.cursor = last.scheduled_at;
        this.catchUp(entry, now);
      }
      this.entries.set(keyOf(entry.key), entry);
    }
    this.station.logger.info({ owner: this.owner, triggers: this.entries.size, started_at: new Date(now).toISOString() }, 'cron scheduler started');
    this.arm();
  }

  /**
   * Re-reads the cron triggers of the active definitions (after a sync changed something). A trigger that stays keeps
   * its place in time; a new one starts from now (slots before it existed are not missed); a removed or disabled one
   * stops.
   */
  reload(): void {
    const now = this.clock.now();
    const next = new Map<string, Entry>();
    for (const t of activeCronTriggers(this.station, this.versions)) {
      const old = this.entries.get(keyOf({ environment: t.environment, workflowId: t.workflowId, trigger: t.trigger.name }));
      const same = old && old.trigger.schedule === t.trigger.schedule && old.trigger.timezone === t.trigger.timezone;
      const fresh = same ? { ...old, version: t.version, trigger: t.trigger } : this.entryOf(t, now);
      if (!fresh) continue;
      if (old) {
        fresh.cursor = old.cursor;
        fresh.recorded = old.recorded;
      }
      fresh.nextAt = nextSlot(fresh.cron, fresh.cursor);
      next.set(keyOf(fresh.key), fresh);
    }
    const added = [...next.keys()].filter((k) => !this.entries.has(k)).length;
    const removed = [...this.entries.keys()].filter((k) => !next.has(k)).length;
    this.entries = next;
    if (added + removed > 0) this.station.logger.info({ triggers: next.size, added, removed }, 'cron triggers reloaded');
    if (this.running) this.arm();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  list(): CronEntry[] {
    return [...this.entries.values()].map((e) => {
      const last = this.store.lastFire(e.key);
      return {
        environment: e.key.environment,
        workflowId: e.key.workflowId,
        trigger: e.key.trigger,
        schedule: e.trigger.schedule,
        timezone: e.trigger.timezone ?? 'UTC',
        nextAt: e.nextAt === null ? null : new Date(e.nextAt).toISOString(),
        lastFireAt: last ? new Date(last.scheduled_at).toISOString() : null,
        lastOutcome: last?.outcome ?? null,
        lastRunId: last?.run_id ?? null,
      };
    });
  }

  /**
   * Fires every slot that is due by the clock (the timer calls this; tests with a fake clock call it directly). The
   * newest due slot fires if it is up to a minute late, and any other slot up to LAG_TOLERANCE_MS late; older ones
   * were missed (the process stalled or the machine slept) and follow the trigger's `catchUp`.
   */
  tick(): void {
    const now = this.clock.now();
    let retry = false;
    for (const entry of this.entries.values()) {
      if (entry.nextAt === null || entry.nextAt > now) continue;
      const { slots, more } = slotsBetween(entry.cron, entry.cursor, now, MAX_CATCH_UP);
      const newest = slots[slots.length - 1];
      const isOnTime = (s: number): boolean => s >= now - LAG_TOLERANCE_MS || (s === newest && s >= now - LATE_TOLERANCE_MS);
      const onTime = slots.filter(isOnTime);
      const late = slots.filter((s) => !isOnTime(s));
      const chosen = [...this.pickMissed(entry, late, more, onTime.length > 0), ...onTime];
      if (!this.fireAll(entry, chosen, now)) retry = true;
    }
    this.arm(retry ? RETRY_MS : undefined);
  }

  // ------------------------------------------------------------------ internals

  private entryOf(t: ActiveTrigger<CronTrigger>, now: number): Entry | undefined {
    const key = { environment: t.environment, workflowId: t.workflowId, trigger: t.trigger.name };
    let cron: Cron;
    try {
      cron = compileSchedule(t.trigger);
    } catch (err) {
      // Sync validated the schedule; a croner upgrade that reads it differently must not stop the other triggers.
      this.station.logger.error({ ...logKey(key), err }, 'cron schedule cannot be computed: trigger not registered');
      return undefined;
    }
    return { key, version: t.version, trigger: t.trigger, cron, cursor: now, nextAt: nextSlot(cron, now), recorded: 0 };
  }

  /** At start: the slots between the last recorded one and now were missed while no daemon ran. */
  private catchUp(entry: Entry, now: number): void {
    const policy = entry.trigger.catchUp ?? 'latest';
    const max = policy === 'none' ? 0 : policy === 'latest' ? 1 : MAX_CATCH_UP;
    const { slots, more } = slotsBetween(entry.cron, entry.cursor, now, max);
    const firstMissed = nextSlot(entry.cron, entry.cursor);
    if (firstMissed !== null && firstMissed <= now) {
      this.station.logger.info(
        { ...logKey(entry.key), catch_up: policy, firing: slots.length, dropped_older: more },
        'cron catch-up after downtime',
      );
    }
    // fireAll moves the cursor to now; after a database error it stops before the failed slot, which the first tick
    // retries within the late tolerance.
    this.fireAll(entry, slots, now);
  }

  /** The late slots a tick fires, per the trigger's catchUp. */
  private pickMissed(entry: Entry, late: number[], more: boolean, hasOnTime: boolean): number[] {
    if (late.length === 0) return [];
    const policy = entry.trigger.catchUp ?? 'latest';
    this.station.logger.warn({ ...logKey(entry.key), catch_up: policy, missed: late.length, more }, 'cron slots missed (timer woke late)');
    if (policy === 'all') return late;
    if (policy === 'latest' && !hasOnTime) return late.slice(-1);
    return [];
  }

  /** Fires the slots in order and moves the cursor past them; false when a database error stopped it. */
  private fireAll(entry: Entry, slots: number[], now: number): boolean {
    for (const slot of slots) {
      try {
        this.fire(entry, slot, now);
      } catch (err) {
        // A full or read-only database is logged once per episode by the store's health; anything else every time.
        const level = storageProblemOf(err) ? 'debug' : 'error';
        this.station.logger[level]({ ...logKey(entry.key), scheduled_at: new Date(slot).toISOString(), err }, 'cron slot could not be recorded; retrying');
        entry.cursor = Math.max(entry.cursor, slot - 1);
        entry.nextAt = slot;
        return false;
      }
    }
    entry.cursor = Math.max(entry.cursor, now);
    entry.nextAt = nextSlot(entry.cron, entry.cursor);
    return true;
  }

  /** Claims one slot and, per the concurrency policy, starts (or skips) its run, in one transaction. */
  private fire(entry: Entry, slot: number, now: number): SlotOutcome {
    const { key, trigger } = entry;
    const firedAt = new Date(now).toISOString();
    const scheduledAt = new Date(slot).toISOString();
    const result = this.station.runStore.transaction((): { outcome: SlotOutcome; runId?: string; detail?: string } => {
      if (!this.store.claimSlot(key, slot, firedAt)) return { outcome: 'taken' };
      const policy = trigger.concurrency ?? 'forbid';
      const previous = policy === 'allow' ? [] : this.store.activeRuns(key.environment, key.workflowId).filter((r) => startedBy(r.trigger, trigger.name));
      if (policy === 'forbid' && previous.length > 0) {
        const first = previous[0] as { id: string; status: string };
        const detail = `previous run ${first.id} of this trigger is still ${first.status} (concurrency: forbid)`;
        this.store.settleSlot(key, slot, 'skipped', null, detail);
        return { outcome: 'skipped', detail };
      }
      try {
        // A savepoint: a refused start (invalid input, unavailable workflow) undoes its own writes, the slot record stays.
        const runId = this.station.db.transaction(() => {
          for (const r of previous) this.station.runs.cancel(r.id, false, `cron:${trigger.name}`);
          const input = triggerInput(trigger.input, { trigger: { type: 'cron', name: trigger.name, schedule: trigger.schedule, timezone: trigger.timezone ?? 'UTC', scheduledAt, firedAt } }, trigger.name);
          return this.station.runs.start({
            workflowId: key.workflowId,
            environment: key.environment,
            input,
            trigger: { type: 'cron', name: trigger.name, scheduledAt },
            initiator: `cron:${trigger.name}`,
          }).run.id;
        })();
        const detail = previous.length > 0 ? `replaced ${previous.map((r) => r.id).join(', ')}` : null;
        this.store.settleSlot(key, slot, 'fired', runId, detail);
        return { outcome: 'fired', runId, ...(detail ? { detail } : {}) };
      } catch (err) {
        const e = toStationError(err);
        const detail = `${e.code}: ${e.message}`;
        this.store.settleSlot(key, slot, 'error', null, detail);
        return { outcome: 'error', detail };
      }
    });
    if (result.outcome !== 'taken') {
      const level = result.outcome === 'error' ? 'error' : 'info';
      this.station.logger[level](
        { ...logKey(key), owner: this.owner, scheduled_at: scheduledAt, outcome: result.outcome, run_id: result.runId, detail: result.detail },
        'cron slot',
      );
      if (++entry.recorded % PRUNE_EVERY === 0) this.store.pruneFires(key, KEEP_FIRES);
    }
    return result.outcome;
  }

  private arm(delayOverride?: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running) return;
    let next = Infinity;
    for (const e of this.entries.values()) if (e.nextAt !== null && e.nextAt < next) next = e.nextAt;
    if (next === Infinity && delayOverride === undefined) return;
    const delay = delayOverride ?? Math.min(MAX_SLEEP_MS, Math.max(0, next - this.clock.now()));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.tick();
      } catch (err) {
        this.station.logger.error({ err }, 'cron tick failed');
        this.arm(RETRY_MS);
      }
    }, delay);
    this.timer.unref();
  }
}

function keyOf(k: TriggerKey): string {
  return `${k.environment}\0${k.workflowId}\0${k.trigger}`;
}

function logKey(k: TriggerKey) {
  return { env: k.environment, workflow_id: k.workflowId, trigger: k.trigger };
}

/** Whether a run's stored trigger is this cron trigger. */
function startedBy(triggerJson: string, name: string): boolean {
  try {
    const t = JSON.parse(triggerJson) as { type?: string; name?: string };
    return t.type === 'cron' && t.name === name;
  } catch {
    return false;
  }
}
