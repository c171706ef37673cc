import type { Executor, ExecResult } from './types.js';
import { failed } from './types.js';

interface HumanApprovalInput {
  message: string;
  summaryPath?: string;
  approvers?: string[];
  requiredApprovals?: number;
  allowSelfApproval?: boolean;
  timeoutSeconds?: number;
  onTimeout?: 'reject' | 'approve' | 'fail';
  channel?: string;
}

/**
 * `human.approval` (docs/approvals.md): suspends the step in WAITING_APPROVAL. The engine records the approval in the
 * same transaction and arms its deadline as a durable task; the decision (Slack, API or CLI) becomes the step's output
 * `{approved, decision, by, comment, decidedAt, approvals}`, a reject fails the step (not retried).
 */
export const humanApproval: Executor = {
  name: 'human.approval',
  inline: (ctx): ExecResult => {
    const input = ctx.input as unknown as HumanApprovalInput;
    const approvers = [...new Set((input.approvers ?? []).map((a) => a.trim()).filter((a) => a !== ''))];
    const requiredApprovals = input.requiredApprovals ?? 1;
    // Without groups, the approvers can be counted: asking for more approvals than people could never be satisfied.
    if (approvers.length > 0 && !approvers.some((a) => a.startsWith('group:')) && approvers.length < requiredApprovals) {
      return failed(
        'STN_E_ACTION_INPUT',
        `human.approval: requiredApprovals is ${requiredApprovals} but only ${approvers.length} approver(s) are listed`,
        { retryable: false },
      );
    }
    return {
      kind: 'suspend',
      wait: {
        type: 'approval',
        message: input.message,
        summaryPath: input.summaryPath,
        approvers,
        requiredApprovals,
        allowSelfApproval: input.allowSelfApproval ?? true,
        timeoutAt: input.timeoutSeconds !== undefined ? ctx.startedAt + input.timeoutSeconds * 1000 : undefined,
        onTimeout: input.onTimeout ?? 'reject',
        channel: input.channel,
      },
    };
  },
  run: async (ctx) => (humanApproval.inline as NonNullable<Executor['inline']>)(ctx),
};
