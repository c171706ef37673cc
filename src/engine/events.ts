import { EventEmitter } from 'node:events';

/**
 * The run events (DESIGN §5.2): every transition appends one to `workflow_run_events` with a per-run sequence number,
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
  'run:failed': { error: unknown; compensated?: boolean };
  'run:cancelled': { compensate: boolean; by: string | null };
  'run:timed_out': { timeoutSeconds: number | null };
  'state:entered': { state: string; path: string; type: string };
  'step:started': { state: string; path: string; action: string | null; attempt: number; delivery: number };
  'step:succeeded': { state: string; path: string; attempt: number; durationMs: number | null };
  'step:failed': { state: string; path: string; attempt: number; error: unknown; handledBy?: string };
  'step:retrying': { state: string; path: string; attempt: number; delayMs: number; error: unknown };
  'step:waiting': { state: string; path: string; wait: unknown };
  'step:cancelled': { state: string; path: string };
  /** An engine left a due step to others: it lacks secrets the step needs (names only); the step stays PENDING. */
  'step:deferred': { state: string; path: string; reason: 'secret_missing'; secrets: string[]; engine: string };
  'signal:received': { name: string; signalId: number; stepId: string | null };
  'compensation:started': { steps: number; reason: string; by?: string | null };
  'compensation:step': { state: string; of: string; status: string; error?: unknown };
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

export interface RunEvent<T extends RunEventType = RunEventType> {
  runId: string;
  seq: number;
  type: T;
  stepId: string | null;
  data: RunEventMap[T];
  at: string;
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
