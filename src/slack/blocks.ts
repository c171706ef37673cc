import { approversOf, decisionOf } from '../approvals/types.js';
import type { ApprovalRow, VoteRow } from '../store/approvals.js';
import type { RunRow } from '../store/runs.js';
import { runSummaryJson, triggerText } from '../views/runs.js';

/** Block Kit JSON (kept as plain objects: what goes to Slack is exactly what these functions return). */
export type Block = Record<string, unknown>;

export interface SlackMessage {
  /** The notification text (and the fallback for clients that do not render blocks). */
  text: string;
  blocks: Block[];
}

/** Action ids of the buttons and the modal: the interaction handlers match on them. */
export const ACTION_APPROVE = 'stn_approve';
export const ACTION_REJECT = 'stn_reject';
export const ACTION_OPEN_RUN = 'stn_open_run';
export const VIEW_REJECT = 'stn_reject_modal';
export const REASON_BLOCK = 'reason';
export const REASON_ACTION = 'reason';

/** Slack's limit for a section's text is 3000 characters. */
const TEXT_LIMIT = 2900;

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function cut(text: string, limit = TEXT_LIMIT): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

const mrkdwn = (text: string) => ({ type: 'mrkdwn', text: cut(text) });
/** plain_text with the limit of where it goes (button 75, confirm title 100 / text 300, modal title 24). */
const plain = (text: string, limit = 75) => ({ type: 'plain_text', text: cut(text, limit), emoji: true });
/** The notification / fallback `text` of a message: mrkdwn too, so escaped like the blocks (no `<!channel>` pings). */
const fallback = (text: string) => cut(escapeText(text), 1000);
const section = (text: string): Block => ({ type: 'section', text: mrkdwn(text) });
const context = (...texts: string[]): Block => ({ type: 'context', elements: texts.map(mrkdwn) });

/** A date Slack shows in the reader's own time zone, with the ISO time as the fallback. */
function slackDate(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time_secs}|${iso}>`;
}

/** A link to the run in the API (server.publicUrl), when the daemon has a public URL. */
export function runLink(publicUrl: string | undefined, runId: string): string | undefined {
  if (!publicUrl) return undefined;
  return `${publicUrl.replace(/\/+$/, '')}/api/v1/workflow-runs/${encodeURIComponent(runId)}`;
}

const STATUS_TEXT: Record<string, string> = {
  PENDING: ':hourglass_flowing_sand: pending',
  RUNNING: ':arrow_forward: running',
  WAITING_APPROVAL: ':raised_hand: waiting for approval',
  WAITING_SIGNAL: ':hourglass: waiting for a signal',
  PAUSED: ':double_vertical_bar: paused',
  COMPLETED: ':white_check_mark: completed',
  FAILED: ':x: failed',
  CANCELLED: ':no_entry_sign: cancelled',
  TIMED_OUT: ':alarm_clock: timed out',
};

/** The root message of a run's thread: workflow, trigger, status, link; updated when the status changes. */
export function rootMessage(run: RunRow, publicUrl: string | undefined): SlackMessage {
  const status = STATUS_TEXT[run.status] ?? run.status;
  const link = runLink(publicUrl, run.id);
  const title = `*${escapeText(run.workflow_id)}* v${run.version} in \`${escapeText(run.environment)}\``;
  const blocks: Block[] = [
    section(`${title}\n${status}`),
    context(`Run \`${run.id}\``, `Trigger: ${escapeText(triggerText(runSummaryJson(run)))}`, ...(link ? [`<${link}|Open the run>`] : [])),
  ];
  return { text: fallback(`${run.workflow_id} (${run.environment}): ${run.status.toLowerCase().replace(/_/g, ' ')}`), blocks };
}

/** Who acted, as Slack shows it: a mention for Slack users, the token or user name otherwise. */
export function actorText(by: { source: string; id: string; name: string | null }): string {
  switch (by.source) {
    case 'slack':
      return `<@${by.id}>`;
    case 'api':
      return `API token \`${escapeText(by.name ?? by.id)}\``;
    case 'cli':
      return `\`${escapeText(by.name ?? by.id)}\` (CLI)`;
    case 'timeout':
      return 'the timeout';
    default:
      return escapeText(by.name ?? by.id);
  }
}

/** How the declared approvers read in the message (user ids as mentions, groups as group mentions when they are ids). */
export function approversText(approvers: string[]): string {
  if (approvers.length === 0) return 'anyone in this channel';
  return approvers
    .map((a) => {
      if (a.startsWith('group:')) {
        const g = a.slice('group:'.length);
        return /^S[A-Z0-9]+$/.test(g) ? `<!subteam^${g}>` : `@${escapeText(g)}`;
      }
      if (/^[UW][A-Z0-9]+$/.test(a)) return `<@${a}>`;
      return escapeText(a);
    })
    .join(', ');
}

/** The value at summaryPath, readable: strings as they are, anything else as indented JSON in a code block. */
function summaryText(summary: string | null): string | undefined {
  if (summary === null) return undefined;
  const value = JSON.parse(summary) as unknown;
  if (typeof value === 'string') return escapeText(value);
  // Cut inside the code block, so a long summary still ends with its closing fence.
  return `\`\`\`${cut(escapeText(JSON.stringify(value, null, 2)), TEXT_LIMIT - 6)}\`\`\``;
}

function votesText(votes: VoteRow[], required: number): string {
  const approvals = votes.filter((v) => v.vote === 'approve');
  const who = approvals.map((v) => actorText({ source: v.source, id: v.voter_id, name: v.voter_name })).join(', ');
  return `${approvals.length} of ${required} approvals${who ? `: ${who}` : ''}`;
}

/**
 * The approval request, a reply in the run's thread: message, summary, who may approve, deadline, Approve / Reject and
 * a link to the run. Once the approval is closed the same function renders the outcome instead of the buttons, and the
 * notifier replaces the message with it (chat.update).
 */
export function approvalMessage(a: ApprovalRow, votes: VoteRow[], publicUrl: string | undefined): SlackMessage {
  const link = runLink(publicUrl, a.run_id);
  const blocks: Block[] = [section(`:raised_hand: *Approval needed* — \`${escapeText(a.workflow_id)}\` / ${escapeText(a.state_name)}\n${escapeText(a.message)}`)];
  const summary = summaryText(a.summary);
  if (summary !== undefined) blocks.push(section(summary));
  const facts = [
    `Who may approve: ${approversText(approversOf(a))}`,
    a.required_approvals > 1 || votes.length > 0 ? votesText(votes, a.required_approvals) : `Needs 1 approval`,
    ...(a.allow_self_approval === 0 && a.initiator ? [`Not by the initiator (${escapeText(a.initiator)})`] : []),
    a.timeout_at !== null ? `Deadline: ${slackDate(a.timeout_at)} (then ${a.on_timeout})` : 'No deadline',
  ];
  blocks.push(context(...facts));
  if (a.status === 'PENDING') {
    const buttons: Block[] = [
      {
        type: 'button',
        action_id: ACTION_APPROVE,
        style: 'primary',
        text: plain('Approve'),
        value: a.id,
        confirm: {
          title: plain('Approve?', 100),
          // plain_text, at most 300 characters (Slack's confirmation dialog object).
          text: plain(`Approve ${a.workflow_id} / ${a.state_name}?`, 300),
          confirm: plain('Approve'),
          deny: plain('Cancel'),
        },
      },
      { type: 'button', action_id: ACTION_REJECT, style: 'danger', text: plain('Reject…'), value: a.id },
    ];
    if (link) buttons.push({ type: 'button', action_id: ACTION_OPEN_RUN, text: plain('Open the run'), url: link });
    blocks.push({ type: 'actions', block_id: `approval:${a.id}`, elements: buttons });
    return { text: fallback(`Approval needed: ${a.workflow_id} / ${a.state_name}: ${a.message}`), blocks };
  }
  const outcome = outcomeText(a);
  blocks.push(section(outcome));
  blocks.push(context(`Approval \`${a.id}\` of run \`${a.run_id}\``, ...(link ? [`<${link}|Open the run>`] : [])));
  return { text: fallback(`${a.workflow_id} / ${a.state_name}: ${a.status.toLowerCase().replace('_', ' ')}`), blocks };
}

function outcomeText(a: ApprovalRow): string {
  const d = decisionOf(a);
  const when = a.decided_at ? slackDate(Date.parse(a.decided_at)) : '';
  // Every line of the comment quoted (a `>` quotes one line only).
  const comment = d?.comment ? `\n${escapeText(d.comment).split('\n').map((l) => `> ${l}`).join('\n')}` : '';
  switch (a.status) {
    case 'APPROVED':
      return `:white_check_mark: *Approved* by ${d ? actorText(d.by) : '?'} at ${when}${comment}`;
    case 'REJECTED':
      return `:x: *Rejected* by ${d ? actorText(d.by) : '?'} at ${when}${comment}`;
    case 'TIMED_OUT':
      return `:alarm_clock: *Timed out* at ${when}: no decision in time, so ${
        a.on_timeout === 'approve' ? 'it was approved' : a.on_timeout === 'reject' ? 'it was rejected' : 'the step failed'
      } (onTimeout: ${a.on_timeout})`;
    case 'CANCELLED':
      return `:no_entry_sign: *Closed* at ${when}: the run stopped waiting (cancelled, failed or timed out)`;
    default:
      return a.status;
  }
}

/** The Reject modal: the confirmation, with an optional reason that becomes the decision's comment. */
export function rejectModal(a: ApprovalRow, channel: string | undefined): Block {
  return {
    type: 'modal',
    callback_id: VIEW_REJECT,
    private_metadata: JSON.stringify({ approvalId: a.id, channel: channel ?? a.channel }),
    title: plain('Reject', 24),
    submit: plain('Reject', 24),
    close: plain('Cancel', 24),
    blocks: [
      section(`Reject *${escapeText(a.workflow_id)}* / ${escapeText(a.state_name)}?\n${escapeText(a.message)}\n\nThe run fails and its compensations run.`),
      {
        type: 'input',
        block_id: REASON_BLOCK,
        optional: true,
        label: plain('Reason'),
        element: { type: 'plain_text_input', action_id: REASON_ACTION, multiline: true, max_length: 2000 },
      },
    ],
  };
}
