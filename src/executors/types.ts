import type { ApprovalRequest } from '../approvals/types.js';
import type { JsonValue } from '../definitions/types.js';
import type { AgentHost } from '../agents/runtime.js';
import type { StepJournal } from '../agents/types.js';
import type { Logger } from '../log.js';
import type { ExecPolicy } from './policy.js';

/** What the engine hands an executor for one delivery of one step. */
export interface ExecContext {
  runId: string;
  stepId: string;
  /** 1-based attempt number; a redelivery after a crash keeps it. */
  attempt: number;
  /** `run_id:step_id:attempt`: the same for every delivery of one attempt. */
  idempotencyKey: string;
  /** The input after templating, with real secret values (never store or log it). */
  input: JsonValue;
  /** Aborted on step timeout, cancel or shutdown; executors must stop their work (kill processes, abort requests). */
  signal: AbortSignal;
  /** Milliseconds since the epoch when the first delivery of this attempt started (kept across redeliveries). */
  startedAt: number;
  /** The step timeout in ms, if any (the engine aborts `signal` when it passes). */
  timeoutMs: number | undefined;
  /** The repository root: relative `cwd` values resolve against it. */
  repo: string;
  now(): number;
  logger: Logger;
  /** Slack, for slack.post (undefined when station.yaml has no slack section). */
  slack?: SlackPoster | undefined;
  /** station.yaml's limits on steps (step environment, http egress); DEFAULT_EXEC_POLICY when absent. */
  policy?: ExecPolicy | undefined;
  /**
   * Marks a value the step derived as secret (shell.exec's `::add-mask::` lines): it is masked in this step's and the
   * run's later steps' stored output. Absent when nothing would mask it.
   */
  addMask?: ((value: string) => void) | undefined;
  /** True when `text` holds a secret value (or a form of one) Station masks; http.request drops such headers on redirects. */
  containsSecret?: ((text: string) => boolean) | undefined;
  /**
   * The step's journal, for executors that declare `journaled`: what earlier deliveries of this attempt committed
   * (after a crash, the new delivery goes on from there), and a durable append for each piece of work as it completes.
   */
  journal?: StepJournal | undefined;
  /** agent.run's services: the agents the run pinned, model providers, MCP tools (absent: no agent support here). */
  agents?: AgentHost | undefined;
  /**
   * The scope's previous output, when the step works on it: an agent step without a task (its task was made from it,
   * and its keys are prompt variables). Secrets are masked in it, as in everything stored.
   */
  previous?: JsonValue | undefined;
}

/** Posts a message for slack.post: in the run's thread (`thread: true`) or as a new message in a channel. */
export interface SlackPoster {
  post(req: { runId: string; channel?: string | undefined; text?: string | undefined; blocks?: JsonValue[] | undefined; thread: boolean }): Promise<{
    channel: string;
    ts: string;
  }>;
}

/** A failure an executor reports; `retryable: false` skips remaining attempts (bad input, for instance). */
export interface ExecError {
  code: string;
  message: string;
  retryable?: boolean;
  details?: JsonValue;
  /** The least time before the next attempt, when the far side said so (an HTTP 429's Retry-After). */
  retryAfterMs?: number;
}

/** What the step waits for when an executor suspends it (durable: the wait survives restarts). */
export type WaitSpec =
  | { type: 'timer'; until: number }
  | { type: 'signal'; name: string; timeoutAt?: number | undefined }
  | { type: 'child'; workflow: string; environment?: string | undefined; version?: number | undefined; input: JsonValue; wait: boolean }
  | ({ type: 'approval' } & ApprovalRequest);

export type ExecResult =
  | { kind: 'ok'; output: JsonValue }
  | { kind: 'error'; error: ExecError }
  | { kind: 'suspend'; wait: WaitSpec };

/** One action's implementation. `name` and `inputSchema` come from the catalog (src/executors/catalog.ts). */
export interface Executor {
  readonly name: string;
  run(ctx: ExecContext): Promise<ExecResult>;
  /**
   * Set by executors with no side effects outside Station (noop, fail, sleep, signal.wait, workflow.run): the engine
   * runs them inside the step's transaction, so such a step costs one commit instead of two.
   */
  inline?(ctx: ExecContext): ExecResult;
  /** Set by executors whose work is a sequence of steps worth not repeating (agent.run): they get `ctx.journal`. */
  readonly journaled?: boolean;
}

export const ok = (output: JsonValue): ExecResult => ({ kind: 'ok', output });
export const failed = (code: string, message: string, extra: Partial<ExecError> = {}): ExecResult => ({
  kind: 'error',
  error: { code, message, ...extra },
});
