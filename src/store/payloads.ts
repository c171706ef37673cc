import { StationError } from '../errors.js';
import type { ContextPatch, PatchRow } from './runs.js';
import {
  PAYLOAD_VERSION,
  PAYLOAD_VERSIONS,
  WAKE_REASONS,
  type PayloadVersion,
  type TaskKind,
  type TaskPayloads,
  type TaskWork,
  type WakePayload,
  type WakeReason,
} from '../model/run.js';

/**
 * The stored JSON payloads of the engine (task payloads, step waits): written with their version `v`, read with it.
 * Payloads written by releases before versions existed carry no `v`: they are version 1, explicitly. A payload of a
 * version this release does not know (written by a newer Station, or damaged), or one missing a field its kind needs,
 * is refused with STN_E_STORED_PAYLOAD, never guessed at.
 */
export function readPayload(what: string, text: string | null): Record<string, unknown> {
  if (text === null) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw refused(`the stored ${what} is not JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw refused(`the stored ${what} is not an object: ${text.slice(0, 200)}`);
  }
  const payload = value as Record<string, unknown>;
  payloadVersion(what, payload.v);
  return payload;
}

/** A payload as stored: the object with this release's version `v` first. */
export function writePayload(payload: object): string {
  return JSON.stringify({ v: PAYLOAD_VERSION, ...payload });
}

function payloadVersion(what: string, v: unknown): PayloadVersion {
  if (v === undefined) return 1;
  if ((PAYLOAD_VERSIONS as readonly unknown[]).includes(v)) return v as PayloadVersion;
  throw refused(
    `the stored ${what} has version ${JSON.stringify(v)}; this Station reads version ${PAYLOAD_VERSIONS.join(', ')} (was it written by a newer release?)`,
  );
}

function refused(message: string): StationError {
  return new StationError('STN_E_STORED_PAYLOAD', message);
}

/** A task's payload as stored: null for the kinds that carry none. */
export function writeTaskPayload<K extends TaskKind>(_kind: K, payload: TaskPayloads[K]): string | null {
  return payload === null ? null : writePayload(payload);
}

/** A task's kind and payload, read together so that a switch on `kind` narrows the payload. */
export function readTask(task: { kind: TaskKind; payload: string | null }): TaskWork {
  return { kind: task.kind, payload: readTaskPayload(task) } as TaskWork;
}

/** A task's payload, checked against what its kind carries. */
export function readTaskPayload<K extends TaskKind>(task: { kind: K; payload: string | null }): TaskPayloads[K];
export function readTaskPayload(task: { kind: TaskKind; payload: string | null }): TaskPayloads[TaskKind] {
  const what = `${task.kind} task payload`;
  const p = readPayload(what, task.payload);
  const field = <T>(name: string, ok: (v: unknown) => v is T): T => {
    const v = p[name];
    if (!ok(v)) throw refused(`the stored ${what} has no valid "${name}": ${String(task.payload).slice(0, 200)}`);
    return v;
  };
  switch (task.kind) {
    case 'start':
    case 'exec':
    case 'timeout':
      return null;
    case 'wake':
      return wakePayload(p, field);
    case 'signal':
      return { signalId: field('signalId', isNumber) };
    case 'child':
      return { childRunId: field('childRunId', isString) };
    case 'cancel':
      return { compensate: p.compensate === true, by: typeof p.by === 'string' ? p.by : null };
  }
}

type Field = <T>(name: string, ok: (v: unknown) => v is T) => T;

function wakePayload(p: Record<string, unknown>, field: Field): WakePayload {
  const reason = wakeReasonOf(p.reason);
  switch (reason) {
    case 'enter':
      return { reason, visits: visitCounts(p.visits) };
    case 'timer':
    case 'signal-timeout':
      return { reason };
    case 'step-timeout':
      return { reason, attempt: field('attempt', isNumber) };
    case 'approval':
    case 'approval-timeout':
      return { reason, approvalId: field('approvalId', isString) };
  }
}

/** A wake task's reason: one this release knows, else STN_E_STORED_PAYLOAD (an unknown reason is never a timer). */
export function wakeReasonOf(reason: unknown): WakeReason {
  if ((WAKE_REASONS as readonly unknown[]).includes(reason)) return reason as WakeReason;
  throw refused(`a wake task has the reason ${JSON.stringify(reason)}, which this Station does not know`);
}

function visitCounts(value: unknown): Record<string, number> {
  const counts: Record<string, number> = {};
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (typeof v === 'number') counts[k] = v;
  }
  return counts;
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isString = (v: unknown): v is string => typeof v === 'string';

/** A stored context patch, decoded. Its operation is its schema: one this release does not know is refused. */
export function readPatch(row: PatchRow): ContextPatch {
  if (row.op !== 'set' && row.op !== 'merge') {
    throw refused(`context patch ${row.seq} of run ${row.run_id} has the operation ${JSON.stringify(row.op)}, which this Station does not know`);
  }
  try {
    return {
      seq: row.seq,
      frame_id: row.frame_id,
      path: row.path === '' ? [] : (JSON.parse(row.path) as string[]),
      op: row.op,
      value: row.value === null ? null : (JSON.parse(row.value) as unknown),
    };
  } catch (err) {
    throw refused(`context patch ${row.seq} of run ${row.run_id} is not JSON: ${(err as Error).message}`);
  }
}
