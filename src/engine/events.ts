import { EventEmitter } from 'node:events';
import type { JournalEntry } from '../agents/types.js';

import type { StepError } from '../model/run.js';

export type { StepError, StepErrorCode } from '../model/run.js';

/**
 * The run events (docs/runs.md): every transition appends one to `workflow_run_events` with a per-run sequence number,
 * and the same typed event goes to in-process listeners (logging, SSE, tests) once its transaction has committed.
 * The run timeline can be rebuilt from these alone.
 */
export interface RunEventMap {
  'run:created': { workflowId: string; environment: string; version: number; trigger: unknown; parentRunId?: string };
  /** An admin (API token) or the local CLI ran a version other than the active one (audit). */
  'run:version_pinned': { version: number; activeVersion: number | null; by: string | null };
  'run:started': Record<string, never>;
  'run:paused': { by: string | null };
  'run:resumed': { by: string | null };
  'run:completed': { durationMs: number };
  'run:failed': { error: StepError | null; compensated?: boolean };
  'run:cancelled': { compensate: boolean; by: string | null };
  'run:timed_out': { timeoutSeconds: number | null };
  /** Something about the run a person should know that did not fail it (compat mode: the output breaks outputSchema). */
  'run:warning': { code: string; message: string };
  'state:entered': { state: string; path: string; type: string };
  'step:started': { state: string; path: string; action: string | null; attempt: number; delivery: number };
  'step:succeeded': { state: string; path: string; attempt: number; durationMs: number | null };
  'step:failed': { state: string; path: string; attempt: number; error: StepError; handledBy?: string };
  'step:retrying': { state: string; path: string; attempt: number; delayMs: number; error: StepError };
  'step:waiting': { state: string; path: string; wait: unknown };
  'step:cancelled': { state: string; path: string };
  /** Something about the step a person should know that did not fail it (compat mode: free text left as written). */
  'step:warning': { state: string; path: string; code: string; message: string };
  /** An engine left a due step to others: it lacks secrets the step needs (names only); the step stays PENDING. */
  'step:deferred': { state: string; path: string; reason: 'secret_missing'; secrets: string[]; engine: string };
  /** agent.run: a model turn of the step's attempt, committed as it completed (the step's journal; secrets masked). */
  'agent:turn': { attempt: number; agent: string | null } & Extract<JournalEntry, { kind: 'turn' }>;
  /** agent.run: a tool call of the step's attempt, committed as it completed. */
  'agent:tool': { attempt: number; agent: string | null } & Extract<JournalEntry, { kind: 'tool' }>;
  'signal:received': { name: string; signalId: number; stepId: string | null };
  'compensation:started': { steps: number; reason: string; by?: string | null };
  'compensation:step': { state: string; of: string; status: string; error?: StepError };
  'compensation:finished': { compensated: boolean; failures: string[] };
  'approval:requested': {
    approvalId: string;
    state: string;
    path: string;
    message: string;
    approvers: string[];
    requiredApprovals: number;
    timeoutAt: string | null;
    channel: string | null;
  };
  'approval:voted': { approvalId: string; by: ApprovalActor; comment: string | null; approvals: number; required: number };
  'approval:decided': { approvalId: string; decision: string; approved: boolean; by: ApprovalActor; comment: string | null };
  'approval:timed_out': { approvalId: string; onTimeout: string; approved: boolean };
  /** An unauthorized click or call (not an approver, self-approval): recorded for audit, nothing else changes. */
  'approval:refused': { approvalId: string; by: ApprovalActor; vote: string; reason: string };
}

/** Who acted on an approval, in events: Slack user, API token or CLI user. */
export interface ApprovalActor {
  source: string;
  id: string;
  name: string;
}

export type RunEventType = keyof RunEventMap;

/** The events that make up a step's journal (agent.run's model turns and tool calls). */
export const JOURNAL_EVENTS = ['agent:turn', 'agent:tool'] as const satisfies readonly RunEventType[];

/** The fields of one committed event of type `T`. */
export interface RunEventOf<T extends RunEventType> {
  runId: string;
  seq: number;
  type: T;
  stepId: string | null;
  data: RunEventMap[T];
  at: string;
}

/**
 * One committed run event. Without a type argument it is the union of every event type, discriminated by `type`, so
 * `if (e.type === 'step:failed') e.data.error` type-checks; `RunEvent<'step:failed'>` is that one event.
 */
export type RunEvent<T extends RunEventType = RunEventType> = { [K in T]: RunEventOf<K> }[T];

/**
 * An event whose type is a type parameter, as the union. The compiler cannot prove that `{type: T, data: Map[T]}`
 * for a generic `T` is one member of the union (it does not distribute over `T`); appenders, which take `type` and
 * `data` together as `T` and `RunEventMap[T]`, are correct by their signature, and this is the one place it is said.
 */
export function runEvent<T extends RunEventType>(e: RunEventOf<T>): RunEvent {
  return e as unknown as RunEvent;
}

/** In-process fan-out of committed run events. */
export class RunEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** Listens to every event (`'*'`) or to one type. Returns a function that stops listening. */
  on(listener: (e: RunEvent) => void): () => void {
    this.emitter.on('*', listener);
    return () => this.emitter.off('*', listener);
  }

  emit(e: RunEvent): void {
    this.emitter.emit('*', e);
  }

  /** Resolves with the first event matching the predicate (tests and `?wait=` await events, never sleep). */
  next(predicate: (e: RunEvent) => boolean, timeoutMs = 30_000): Promise<RunEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no matching run event within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on((e) => {
        if (!predicate(e)) return;
        clearTimeout(timer);
        off();
        resolve(e);
      });
    });
  }
}
