import { hash, randomBytes } from 'node:crypto';

/** Run ids sort by creation time (cursor pagination relies on it): `r` + 9 base-36 time digits + 16 hex. */
export function newRunId(nowMs: number): string {
  return `r${nowMs.toString(36).padStart(9, '0')}${randomBytes(8).toString('hex')}`;
}

/**
 * Step ids are deterministic (docs/runs.md "Durability"): the same run, scope, state and visit always give the same id,
 * so a redelivered step keeps its id and its idempotency key.
 */
export function stepId(runId: string, framePath: string, stateName: string, visit: number): string {
  return hash('sha256', `${runId}\0${framePath}\0${stateName}\0${visit}`, 'hex').slice(0, 24);
}

/** `run_id:step_id:attempt`, handed to executors (STN_IDEMPOTENCY_KEY, Idempotency-Key). */
export function idempotencyKey(runId: string, step: string, attempt: number): string {
  return `${runId}:${step}:${attempt}`;
}
