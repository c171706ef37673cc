import type { CancelRequest, StepError } from '../model/run.js';
import type { RunRow } from './runs.js';

/** A run as SQLite holds it: flags as 0/1, a requested cancel as 0 (none), 1 (cancel) or 2 (cancel and compensate). */
export type StoredRunRow = Omit<RunRow, 'paused' | 'cancel' | 'compensated'> & {
  paused: number;
  cancel_requested: number;
  compensated: number | null;
};

/** Row -> model: the only place that reads the SQL encodings of a run's flags. */
export function fromStoredRun(row: StoredRunRow): RunRow;
export function fromStoredRun(row: StoredRunRow | undefined): RunRow | undefined;
export function fromStoredRun(row: StoredRunRow | undefined): RunRow | undefined {
  if (!row) return undefined;
  const { paused, cancel_requested, compensated, ...rest } = row;
  return {
    ...rest,
    paused: paused !== 0,
    cancel: cancelOf(cancel_requested),
    compensated: compensated === null ? null : compensated !== 0,
  };
}

function cancelOf(code: number): CancelRequest | null {
  if (code === 0) return null;
  return { compensate: code === 2 };
}

/** Model -> the parameters of the run UPDATE statements. */
export function storedRunFlags(run: Pick<RunRow, 'paused' | 'cancel' | 'compensated'>): { paused: number; cancel_requested: number; compensated: number | null } {
  return {
    paused: run.paused ? 1 : 0,
    cancel_requested: run.cancel === null ? 0 : run.cancel.compensate ? 2 : 1,
    compensated: run.compensated === null ? null : run.compensated ? 1 : 0,
  };
}

/**
 * The JSON columns of runs, steps, frames, signals and events, decoded: the store writes them as JSON text, and these
 * are the only readers of that text (consumers never parse it themselves). Large values that rarely change (a run's
 * input, a foreach step's items) are decoded through JsonCache (json-cache.ts) instead, keyed by their text.
 */
export function columnValue(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text; // never written by Station: shown as it is rather than hidden
  }
}

/** A step's error (undefined when it has none). */
export function stepErrorOf(step: { error: string | null }): StepError | undefined {
  return step.error === null ? undefined : (JSON.parse(step.error) as StepError);
}

/** The error a run ended with (null when it has none). */
export function runErrorOf(run: { error: string | null }): StepError | null {
  return run.error === null ? null : (JSON.parse(run.error) as StepError);
}

/** A JSON value column (a step's or a run's output, a signal's payload): null when empty. */
export function jsonColumn<T = unknown>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

/** A JSON object column (a run's trigger or variables, a foreach frame's item variables, an event's data): {} when empty. */
export function objectColumn<T extends object = Record<string, unknown>>(text: string | null): T {
  return text === null ? ({} as T) : (JSON.parse(text) as T);
}
