import type { App } from '@slack/bolt';
import { ApprovalDecidedError, ApprovalForbiddenError, type ApprovalService } from '../approvals/service.js';
import { isApprover, resolveApprovers, type ApproverSet } from '../approvals/identity.js';
import { approversOf, decisionOf, type Actor } from '../approvals/types.js';
import { StationError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ApprovalRow } from '../store/approvals.js';
import { ACTION_APPROVE, ACTION_OPEN_RUN, ACTION_REJECT, REASON_ACTION, REASON_BLOCK, VIEW_REJECT, actorText, rejectModal } from './blocks.js';
import { slackErrorText, type WebClient } from './client.js';
import type { SlackDirectory } from './directory.js';

export interface InteractionDeps {
  approvals: ApprovalService;
  directory: SlackDirectory;
  client: WebClient;
  logger: Logger;
  /** Wakes the notifier: the message changed. */
  notify(): void;
}

interface SlackUser {
  id: string;
  username?: string;
  name?: string;
}

interface ActionBody {
  user: SlackUser;
  channel?: { id: string };
  /** The clicked message: its thread_ts is the run's thread (the request is a reply in it). */
  message?: { ts?: string; thread_ts?: string };
  container?: { message_ts?: string; channel_id?: string; thread_ts?: string };
  trigger_id?: string;
  actions?: Array<{ value?: string }>;
}

interface ViewBody {
  user: SlackUser;
  view: { private_metadata?: string; state?: { values?: Record<string, Record<string, { value?: string | null }>> } };
}

type Check = { ok: true; approval: ApprovalRow; approvers: ApproverSet | undefined; actor: Actor } | { ok: false; text: string };

/**
 * Whether a click came from the approval's own Slack message. A button carrying the id of another approval (a
 * message posted by a workflow's slack.post, an older message, a crafted payload) must not decide it.
 */
function fromApprovalMessage(b: ActionBody, a: ApprovalRow): boolean {
  const ts = b.container?.message_ts ?? b.message?.ts;
  const channel = b.container?.channel_id ?? b.channel?.id;
  return a.slack_ts !== null && a.channel !== null && ts === a.slack_ts && channel === a.channel;
}

/**
 * The Approve button decides at once; Reject opens a modal (the confirmation, with an optional reason) and decides on
 * its submission. Someone who may not decide gets an ephemeral refusal (audited by the approval service as
 * `approval:refused`) and nothing else changes; a click on a decided approval is told who decided it.
 */
export function registerInteractions(app: App, d: InteractionDeps): void {
  /** An ephemeral answer where the person clicked: in the run's thread (thread_ts), not in the channel below it. */
  const ephemeral = async (b: ActionBody, fallbackChannel: string | null | undefined, text: string) => {
    const channel = b.channel?.id ?? fallbackChannel ?? undefined;
    const user = b.user.id;
    if (!channel) return;
    const threadTs = b.message?.thread_ts ?? b.container?.thread_ts;
    try {
      await d.client.chat.postEphemeral({ channel, user, text, ...(threadTs ? { thread_ts: threadTs } : {}) });
    } catch (err) {
      d.logger.warn({ error: slackErrorText(err), user }, 'could not send an ephemeral Slack message');
    }
  };

  /** Who clicked, and whether they may vote at all (the approval service makes the final, transactional check). */
  const check = async (approvalId: string, user: SlackUser, clicked?: { body: ActionBody; vote: 'approve' | 'reject' }): Promise<Check> => {
    let approval: ApprovalRow;
    try {
      approval = d.approvals.get(approvalId);
    } catch {
      return { ok: false, text: `This approval (${approvalId}) no longer exists in Station.` };
    }
    if (approval.status !== 'PENDING') return { ok: false, text: decidedText(approval) };
    const name = user.name ?? user.username ?? user.id;
    if (clicked && !fromApprovalMessage(clicked.body, approval)) {
      d.logger.warn(
        { approval_id: approval.id, user: user.id, channel: clicked.body.channel?.id, ts: clicked.body.container?.message_ts ?? clicked.body.message?.ts },
        'refused a Slack click: the button is not on the approval\'s own message',
      );
      d.approvals.refuse(approval.id, { source: 'slack', id: user.id, name, user: user.id }, clicked.vote, 'wrong-message');
      return { ok: false, text: `This button does not belong to approval ${approval.id}'s message: use the buttons in the run's thread, or "stn approve".` };
    }
    const approvers = approversOf(approval);
    let resolved: ApproverSet | undefined;
    let email: string | undefined;
    try {
      if (approvers.length > 0) resolved = await resolveApprovers(approvers, d.directory);
      // The email makes a Slack click and an API or CLI vote of the same person one vote (and serves self-approval);
      // someone who is not an approver is refused without it (listed emails were resolved to Slack ids above).
      if (!resolved || isApprover(resolved, { user: user.id })) email = await d.directory.emailOf(user.id);
    } catch (err) {
      d.logger.warn({ approval_id: approvalId, error: slackErrorText(err) }, 'could not resolve the approvers with Slack');
      return { ok: false, text: `Station could not check the approvers with Slack (${slackErrorText(err)}). Try again, or decide with "stn approve".` };
    }
    const actor: Actor = { source: 'slack', id: user.id, name, email, user: user.id };
    return { ok: true, approval, approvers: resolved, actor };
  };

  /** Records the vote; returns the text to tell the clicker, or undefined when the message update says it all. */
  const vote = (c: Extract<Check, { ok: true }>, kind: 'approve' | 'reject', comment: string | undefined): string | undefined => {
    try {
      const res = d.approvals.decide({ approvalId: c.approval.id, vote: kind, actor: c.actor, comment, approvers: c.approvers });
      d.notify();
      if (res.outcome === 'recorded') return `Your approval is recorded: ${res.remaining} more needed.`;
      return undefined;
    } catch (err) {
      if (err instanceof ApprovalDecidedError) return decidedText(err.approval);
      if (err instanceof ApprovalForbiddenError) return `You cannot ${kind} this: ${err.message}.`;
      if (err instanceof StationError) return `Station refused: ${err.message}`;
      throw err;
    }
  };

  app.action(ACTION_APPROVE, async ({ ack, body }) => {
    await ack();
    const b = body as unknown as ActionBody;
    const c = await check(b.actions?.[0]?.value ?? '', b.user, { body: b, vote: 'approve' });
    const text = c.ok ? vote(c, 'approve', undefined) : c.text;
    if (text) await ephemeral(b, c.ok ? c.approval.channel : undefined, text);
  });

  app.action(ACTION_REJECT, async ({ ack, body }) => {
    await ack();
    const b = body as unknown as ActionBody;
    const c = await check(b.actions?.[0]?.value ?? '', b.user, { body: b, vote: 'reject' });
    if (!c.ok) {
      await ephemeral(b, undefined, c.text);
      return;
    }
    // Refuse before the modal, so someone who may not decide never gets a Reject dialog.
    if (c.approvers !== undefined && !isApprover(c.approvers, c.actor)) {
      await ephemeral(b, c.approval.channel, vote(c, 'reject', undefined) ?? 'You cannot reject this.');
      return;
    }
    try {
      await d.client.views.open({ trigger_id: b.trigger_id ?? '', view: rejectModal(c.approval, b.channel?.id) as never });
    } catch (err) {
      d.logger.warn({ approval_id: c.approval.id, error: slackErrorText(err) }, 'could not open the Reject dialog');
      await ephemeral(b, c.approval.channel, `Could not open the Reject dialog (${slackErrorText(err)}); try again, or use "stn reject ${c.approval.id}".`);
    }
  });

  app.view(VIEW_REJECT, async ({ ack, body }) => {
    const b = body as unknown as ViewBody;
    let meta: { approvalId?: string; channel?: string } = {};
    try {
      meta = JSON.parse(b.view.private_metadata ?? '{}') as typeof meta;
    } catch {
      // an unknown approval below
    }
    const reason = b.view.state?.values?.[REASON_BLOCK]?.[REASON_ACTION]?.value ?? undefined;
    const c = await check(meta.approvalId ?? '', b.user);
    const text = c.ok ? vote(c, 'reject', reason ?? undefined) : c.text;
    // Errors show in the dialog itself; a successful reject closes it (the message update shows the outcome).
    if (text) await ack({ response_action: 'errors', errors: { [REASON_BLOCK]: text.slice(0, 150) } });
    else await ack();
  });

  // The "Open the run" link button also sends an action; it needs only an acknowledgement.
  app.action(ACTION_OPEN_RUN, async ({ ack }) => {
    await ack();
  });
}

function decidedText(a: ApprovalRow): string {
  const d = decisionOf(a);
  if (a.status === 'CANCELLED') return 'This approval is closed: the run stopped waiting for it.';
  if (a.status === 'TIMED_OUT') return `This approval already timed out (onTimeout: ${a.on_timeout}).`;
  return `Already ${a.status.toLowerCase()}${d ? ` by ${actorText(d.by)} at ${d.decidedAt}` : ''}.`;
}
