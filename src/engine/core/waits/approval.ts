import type { JsonValue } from '../../../definitions/types.js';
import type { ApprovalRequest } from '../../../approvals/types.js';
import type { WaitSpec } from '../../../executors/types.js';
import type { StepRow } from '../../../store/runs.js';
import { ContextPathError } from '../../paths.js';
import type { RunTx } from '../run-tx.js';
import { setWait, type StoredWait } from '../types.js';
import type { WakePayload } from '../../../model/run.js';

/**
 * human.approval (docs/approvals.md): the approval is recorded in this same transaction, the step and the run wait in
 * WAITING_APPROVAL, and the deadline is a durable wake task, so a restarted daemon still times it out.
 */
export function approvalWait(tx: RunTx, step: StepRow, wait: Extract<WaitSpec, { type: 'approval' }>): void {
  const hooks = tx.approvals;
  if (!hooks) {
    tx.failAttempt(step, { code: 'STN_E_EXECUTOR_MISSING', message: 'approvals are not available in this process', retryable: false });
    return;
  }
  let summary: unknown;
  try {
    summary = wait.summaryPath !== undefined ? tx.vars.readPath(tx.unit.frame(step.frame_id), wait.summaryPath) : undefined;
  } catch (err) {
    // A summaryPath made by a template can name __proto__ & co. at run time.
    if (!(err instanceof ContextPathError)) throw err;
    tx.failAttempt(step, { code: err.code, message: err.message, retryable: false });
    return;
  }
  const request: ApprovalRequest = { ...wait, message: tx.d.secrets.scrub(wait.message) };
  const approval = hooks.create(tx.run, step, request, summary === undefined ? undefined : tx.d.secrets.scrub(summary as JsonValue), tx.nowMs);
  const stored: StoredWait = { type: 'approval', approvalId: approval.id, timeoutAt: wait.timeoutAt ?? null };
  step.status = 'WAITING_APPROVAL';
  setWait(step, stored);
  tx.unit.updateStep(step);
  tx.unit.event('step:waiting', step.id, { state: step.state_name, path: step.path, wait: stored });
  tx.unit.event('approval:requested', step.id, {
    approvalId: approval.id,
    state: step.state_name,
    path: step.path,
    message: request.message,
    approvers: wait.approvers,
    requiredApprovals: wait.requiredApprovals,
    timeoutAt: wait.timeoutAt !== undefined ? new Date(wait.timeoutAt).toISOString() : null,
    // The channel the step asked for; which channel Slack uses is the notifier's choice, made after this commit.
    channel: request.channel ?? null,
  });
  if (wait.timeoutAt !== undefined) {
    tx.unit.schedule('wake', step.id, { reason: 'approval-timeout', approvalId: approval.id }, wait.timeoutAt);
  }
}

type ApprovalWake = Extract<WakePayload, { reason: 'approval' | 'approval-timeout' }>;

/** Only the approval of the current attempt counts. */
function current(wait: StoredWait, wake: ApprovalWake): string | undefined {
  return wait.type === 'approval' && wait.approvalId === wake.approvalId ? wake.approvalId : undefined;
}

/** A decision reached the step (its task was enqueued by the approval service). */
export function approvalDecided(tx: RunTx, step: StepRow, wait: StoredWait, wake: ApprovalWake): void {
  const approvalId = current(wait, wake);
  const hooks = tx.approvals;
  if (approvalId === undefined || !hooks) return;
  const outcome = hooks.outcome(approvalId);
  if (!outcome?.decision || (outcome.status !== 'APPROVED' && outcome.status !== 'REJECTED')) return;
  tx.unit.dropStepTasks(step.id);
  const d = outcome.decision;
  if (outcome.status === 'APPROVED') {
    tx.complete(step, { kind: 'ok', output: d as unknown as JsonValue });
    return;
  }
  tx.failAttempt(step, {
    code: 'STN_E_APPROVAL_REJECTED',
    message: `rejected by ${d.by.name} (${d.by.source})${d.comment ? `: ${d.comment}` : ''}`,
    retryable: false,
    details: d as unknown as JsonValue,
  });
}

/** The approval's deadline reached the step: what onTimeout says happens, unless a decision came first. */
export function approvalTimedOut(tx: RunTx, step: StepRow, wait: StoredWait, wake: ApprovalWake): void {
  const approvalId = current(wait, wake);
  const hooks = tx.approvals;
  if (approvalId === undefined || !hooks) return;
  const t = hooks.timeout(approvalId, tx.nowMs);
  if (!t) return; // decided first: the decision's own task completes the step
  tx.unit.dropStepTasks(step.id);
  tx.unit.event('approval:timed_out', step.id, { approvalId, onTimeout: t.onTimeout, approved: t.decision.approved });
  if (t.onTimeout === 'approve') tx.complete(step, { kind: 'ok', output: t.decision as unknown as JsonValue });
  else {
    tx.failAttempt(step, {
      code: t.onTimeout === 'reject' ? 'STN_E_APPROVAL_REJECTED' : 'STN_E_APPROVAL_TIMEOUT',
      message: `no decision on approval ${approvalId} in time (onTimeout: ${t.onTimeout})`,
      retryable: false,
      details: t.decision as unknown as JsonValue,
    });
  }
}
