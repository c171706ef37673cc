import type { ApprovalShape } from '../views/shapes.js';
import type { JsonValue } from '../definitions/types.js';
import type { ApprovalRow, ApprovalStatus, VoteRow } from '../store/approvals.js';
import { jsonColumn } from '../store/run-rows.js';

/** Where a decision came from (Slack, the API, the CLI); `timeout` is Station itself applying `onTimeout`. */
export type DecisionSource = 'slack' | 'api' | 'cli' | 'timeout';

/**
 * Who decides: a Slack user (id U…, their name, their email when known), an API token (its name, and the person
 * configured on it), or a CLI user. `email` and `user` are the person's identities (src/approvals/identity.ts): what
 * `approvers` are matched against and what makes two votes one person's.
 */
export interface Actor {
  source: Exclude<DecisionSource, 'timeout'>;
  id: string;
  name: string;
  /** The person's email: from Slack (users.info), the token's `email`, or `stn approve --as <email>`. */
  email?: string | undefined;
  /** The person's user id: the Slack user id of a click, the token's `user`, or the CLI user (`--as`, login name). */
  user?: string | undefined;
}

/** The step result of a decided approval, so a later `switch` can test `approved == true`. */
export interface Decision {
  approved: boolean;
  decision: 'approved' | 'rejected' | 'timed_out';
  by: { source: DecisionSource; id: string; name: string };
  comment: string | null;
  decidedAt: string;
  /** Every approval vote counted toward requiredApprovals, in order. */
  approvals: Array<{ source: string; id: string; name: string | null; comment: string | null; at: string }>;
  /** true when the timeout decided (onTimeout: approve or reject). */
  timedOut?: boolean;
}

/** What `human.approval` asks for, after templating (src/executors/catalog.ts has its schema). */
export interface ApprovalRequest {
  message: string;
  summaryPath?: string | undefined;
  approvers: string[];
  requiredApprovals: number;
  allowSelfApproval: boolean;
  timeoutAt?: number | undefined;
  onTimeout: 'reject' | 'approve' | 'fail';
  channel?: string | undefined;
}

/** The decision of a decided approval (its step result), or undefined while there is none. */
export function decisionOf(a: ApprovalRow): Decision | undefined {
  return jsonColumn<Decision>(a.decision) ?? undefined;
}

/** The declared approvers of an approval (Slack user ids, emails, `group:<name>`), as the step listed them. */
export function approversOf(a: ApprovalRow): string[] {
  return jsonColumn<string[]>(a.approvers) ?? [];
}

/** One approval as the API, the CLI (`--json`) and tests show it. */
export function approvalJson(a: ApprovalRow, votes: VoteRow[]): ApprovalShape {
  return {
    id: a.id,
    runId: a.run_id,
    stepId: a.step_id,
    attempt: a.attempt,
    environment: a.environment,
    workflowId: a.workflow_id,
    state: a.state_name,
    status: a.status as ApprovalStatus,
    message: a.message,
    summary: jsonColumn<JsonValue>(a.summary),
    approvers: approversOf(a),
    requiredApprovals: a.required_approvals,
    allowSelfApproval: a.allow_self_approval === 1,
    initiator: a.initiator,
    onTimeout: a.on_timeout,
    timeoutAt: a.timeout_at === null ? null : new Date(a.timeout_at).toISOString(),
    votes: votes.map((v) => ({ source: v.source, id: v.voter_id, name: v.voter_name, vote: v.vote, comment: v.comment, at: v.created_at })),
    decision: decisionOf(a) ?? null,
    decidedAt: a.decided_at,
    createdAt: a.created_at,
    slack: a.channel === null ? null : { channel: a.channel, ts: a.slack_ts, delivered: a.slack_synced >= a.slack_version, error: a.slack_error },
  };
}

export type ApprovalJson = ApprovalShape;
