import type { EventInsert } from '../store/run-batch.js';
import type { RunRow } from '../store/runs.js';
import { runEvent, type RunEvent, type RunEventMap, type RunEventType } from './events.js';

/** Where an appended event's row goes: straight into the store, or into a unit of work's batch. */
export type EventSink = (runId: string, row: EventInsert) => void;

/**
 * The one way a run event is appended (the engine's transitions, pause/resume, approval votes): it takes the run's
 * next sequence number, hands the stored row to `sink` inside the caller's transaction, and returns the event the
 * caller publishes once that transaction committed. The caller saves the run row (its event_seq moved).
 */
export function appendRunEvent<T extends RunEventType>(
  sink: EventSink,
  run: Pick<RunRow, 'id' | 'event_seq'>,
  type: T,
  stepId: string | null,
  data: RunEventMap[T],
  at: string,
): RunEvent {
  const seq = ++run.event_seq;
  sink(run.id, { seq, type, step_id: stepId, data: JSON.stringify(data), created_at: at });
  return runEvent({ runId: run.id, seq, type, stepId, data, at });
}
