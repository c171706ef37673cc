import type { RunEvent, RunEvents } from '../engine/events.js';
import type { Logger } from '../log.js';
import type { RunStore } from '../store/runs.js';

const STEP_TRANSITIONS: ReadonlySet<string> = new Set(['step:started', 'step:succeeded', 'step:failed', 'step:retrying', 'step:waiting', 'step:cancelled', 'step:warning', 'run:warning']);
const WARNINGS: ReadonlySet<string> = new Set(['step:failed', 'step:warning', 'run:warning']);

/**
 * One info line per step transition in the daemon's log (run_id, step_id, attempt, duration_ms). The engine logs run
 * transitions at info and step transitions at debug (a foreground `stn run` would be too chatty otherwise); a daemon
 * is operated from its logs, so it raises step transitions to info. At debug level the engine's own lines carry them
 * and this bridge stays quiet, so no transition is logged twice.
 */
export function bridgeStepLogs(events: RunEvents, logger: Logger, runStore: RunStore): () => void {
  if (logger.isLevelEnabled('debug') || !logger.isLevelEnabled('info')) return () => undefined;
  const log = logger.child({ component: 'runs' });
  return events.on((e: RunEvent) => {
    if (!STEP_TRANSITIONS.has(e.type)) return;
    const d = e.data as {
      state?: string;
      path?: string;
      attempt?: number;
      durationMs?: number | null;
      error?: { code?: string };
      action?: string | null;
      code?: string;
      message?: string;
    };
    const fields: Record<string, unknown> = { run_id: e.runId, step_id: e.stepId, event: e.type, state: d.path ?? d.state };
    if (d.attempt !== undefined) fields.attempt = d.attempt;
    if (d.action) fields.action = d.action;
    let duration = d.durationMs;
    if (duration === undefined && e.type === 'step:failed' && e.stepId) duration = runStore.step(e.stepId)?.duration_ms ?? null;
    if (duration !== undefined && duration !== null) fields.duration_ms = duration;
    if (d.error?.code) fields.error_type = d.error.code;
    if (d.code) fields.error_type = d.code;
    if (d.message) fields.message = d.message;
    if (WARNINGS.has(e.type)) log.warn(fields, e.type);
    else log.info(fields, e.type);
  });
}
