import type { CancelRequest } from '../model/run.js';
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
