import type { RunRow } from '../../store/runs.js';

/**
 * A started, unpaused run's status from the statuses of its unfinished steps: running while any step runs or is due,
 * else waiting for what its steps wait for (an approval before a signal).
 */
export function statusOfActiveSteps(active: ReadonlySet<string>): RunRow['status'] {
  if (active.has('RUNNING') || active.has('PENDING')) return 'RUNNING';
  if (active.has('WAITING_APPROVAL')) return 'WAITING_APPROVAL';
  if (active.has('WAITING_SIGNAL')) return 'WAITING_SIGNAL';
  return 'RUNNING';
}
