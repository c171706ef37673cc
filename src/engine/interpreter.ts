/**
 * The deterministic core of the engine, as the host sees it: one transaction's work on one run (RunTx), what it needs
 * from the host (InterpreterDeps) and the shared definitions. The core itself lives in ./core/.
 */
export { RunTx } from './core/run-tx.js';
export { backoffMs } from './core/backoff.js';
export { statusOfActiveSteps } from './core/status.js';
export { StateError, WAKE_REASONS } from './core/types.js';
export type { ApprovalHooks, InterpreterDeps, StepError, WakeReason } from './core/types.js';
