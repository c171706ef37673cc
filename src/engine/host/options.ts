import type { TransientEpisode } from '../../store/transient.js';
import type { ExecutorRegistry } from '../../executors/registry.js';
import type { ExecContext } from '../../executors/types.js';
import type { Logger } from '../../log.js';
import type { DefinitionStore } from '../../store/definitions.js';
import type { RunStore } from '../../store/runs.js';
import type { RunEvents } from '../events.js';
import type { InterpreterDeps } from '../interpreter.js';
import type { LeaseClock } from '../lease.js';
import type { Secrets } from '../secrets.js';
import type { Specs } from '../specs.js';

export interface Clock {
  now(): number;
}

export interface EngineOptions {
  store: RunStore;
  definitions: DefinitionStore;
  events: RunEvents;
  secrets: Secrets;
  logger: Logger;
  repo: string;
  /** Steps executing at once in this process. */
  concurrency: number;
  leaseMs: number;
  /** Creates child runs for workflow.run, inside the parent's transaction. */
  createChildRun: InterpreterDeps['createChildRun'];
  /** Records and decides human.approval steps, inside the engine's transactions. */
  approvals?: InterpreterDeps['approvals'];
  /** Posts Slack messages for slack.post steps (absent: Slack is not configured in station.yaml). */
  slack?: ExecContext['slack'];
  /** station.yaml's limits on steps (step environment, http egress); executors use their defaults without it. */
  policy?: ExecContext['policy'];
  executors?: ExecutorRegistry;
  /** agent.run's services (agents pinned by runs, model providers, MCP tools). */
  agents?: ExecContext['agents'];
  /** The clock of due times (timers, retries, deadlines: wall-clock instants that survive restarts). */
  clock?: Clock;
  /** The clock of leases (default: the host's monotonic clock; see lease.ts). */
  leaseClock?: LeaseClock;
  random?: () => number;
  /** How often an idle engine looks for work written by other processes (signals, cancels, new runs). */
  pollMs?: number;
  specs?: Specs;
  /** Only work on this run and its child runs (a foreground `stn run`); default: every run in the database. */
  onlyRunTree?: string;
}

/** What the parts of an engine's host share: its options, identity and clocks, and whether it is running. */
export interface HostContext {
  readonly o: EngineOptions;
  /** The engine's id: the owner of its leases and of its row in the workers table. */
  readonly id: string;
  /** The clock of due times. */
  readonly now: () => number;
  readonly lease: LeaseClock;
  /** Lease renewal period: a stall longer than this may have cost leases, so they are checked at once. */
  readonly renewMs: number;
  /** The current episode of transient storage errors (backoff and its log lines). */
  readonly storage: TransientEpisode;
  /** Tasks this process is handling now (their leases are its own and must not be swept as leaked). */
  readonly held: Set<number>;
  /** Claiming work; cleared by stop(). */
  running: boolean;
  /** Set by stop() after the grace period: commits still retrying a busy database give up (the lease lapses). */
  abandon: boolean;
}
