/** The engine's public entry: the host (claim loop, leases, executors, shutdown) lives in ./host/. */
export { Engine } from './host/engine.js';
export type { Clock, EngineOptions } from './host/options.js';
export type { WaitSpec } from '../executors/types.js';
