import { StationError } from '../errors.js';
import { PAYLOAD_VERSIONS, WAKE_REASONS, type PayloadVersion, type WakeReason } from '../model/run.js';

/**
 * The stored JSON payloads of the engine (task payloads, step waits), read with their version. Payloads written so
 * far carry no `v` field: they are version 1, explicitly. A payload of a version this release does not know (written
 * by a newer Station, or damaged) is refused with STN_E_STORED_PAYLOAD, never guessed at.
 */
export function readPayload(what: string, text: string | null): Record<string, unknown> {
  if (text === null) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new StationError('STN_E_STORED_PAYLOAD', `the stored ${what} is not JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new StationError('STN_E_STORED_PAYLOAD', `the stored ${what} is not an object: ${text.slice(0, 200)}`);
  }
  const payload = value as Record<string, unknown>;
  payloadVersion(what, payload.v);
  return payload;
}

function payloadVersion(what: string, v: unknown): PayloadVersion {
  if (v === undefined) return 1;
  if ((PAYLOAD_VERSIONS as readonly unknown[]).includes(v)) return v as PayloadVersion;
  throw new StationError(
    'STN_E_STORED_PAYLOAD',
    `the stored ${what} has version ${JSON.stringify(v)}; this Station reads version ${PAYLOAD_VERSIONS.join(', ')} (was it written by a newer release?)`,
  );
}

/** A task's payload (tasks of kind start, exec and timeout have none: {}). */
export function readTaskPayload(task: { kind: string; payload: string | null }): Record<string, unknown> {
  return readPayload(`${task.kind} task payload`, task.payload);
}

/** A wake task's reason: one this release knows, else STN_E_STORED_PAYLOAD (an unknown reason is never a timer). */
export function wakeReasonOf(reason: unknown): WakeReason {
  if ((WAKE_REASONS as readonly unknown[]).includes(reason)) return reason as WakeReason;
  throw new StationError('STN_E_STORED_PAYLOAD', `a wake task has the reason ${JSON.stringify(reason)}, which this Station does not know`);
}
