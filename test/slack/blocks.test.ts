import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/approvals/types.js';
import { approvalMessage, rejectModal, rootMessage } from '../../src/slack/blocks.js';
import type { ApprovalRow } from '../../src/store/approvals.js';
import type { RunRow } from '../../src/store/runs.js';

/**
 * The Block Kit Station sends, checked against Slack's published limits (a message Slack rejects with invalid_blocks
 * would never be delivered): section text 3000, button text 75, action_id/block_id 255, button value 2000, confirmation
 * dialog title 100 / text 300 (plain_text) / buttons 30, modal title/submit/close 24 and private_metadata 3000, at most
 * 50 blocks; and user-controlled text escaped (&, <, >) so it cannot mention @channel or forge links.
 */

type Obj = Record<string, unknown>;

function text(o: unknown): string {
  return (o as { text: string }).text;
}

/** Every problem with a message's blocks, as "path: problem". */
function blockKitProblems(blocks: Obj[]): string[] {
  const problems: string[] = [];
  const limit = (path: string, value: string | undefined, max: number) => {
    if (value !== undefined && value.length > max) problems.push(`${path}: ${value.length} > ${max}`);
  };
  if (blocks.length > 50) problems.push(`${blocks.length} blocks > 50`);
  blocks.forEach((b, i) => {
    const at = `blocks[${i}] ${String(b.type)}`;
    limit(`${at}.block_id`, b.block_id as string | undefined, 255);
    if (b.type === 'section') limit(`${at}.text`, text(b.text), 3000);
    if (b.type === 'context') {
      const els = b.elements as Obj[];
      if (els.length > 10) problems.push(`${at}: ${els.length} elements > 10`);
      els.forEach((e, j) => limit(`${at}.elements[${j}]`, text(e), 3000));
    }
    if (b.type === 'input') limit(`${at}.label`, text(b.label), 2000);
    if (b.type === 'actions') {
      for (const [j, e] of (b.elements as Obj[]).entries()) {
        const p = `${at}.elements[${j}]`;
        if ((e.text as Obj).type !== 'plain_text') problems.push(`${p}.text must be plain_text`);
        limit(`${p}.text`, text(e.text), 75);
        limit(`${p}.action_id`, e.action_id as string, 255);
        limit(`${p}.value`, e.value as string | undefined, 2000);
        limit(`${p}.url`, e.url as string | undefined, 3000);
        const c = e.confirm as Obj | undefined;
        if (c) {
          for (const k of ['title', 'text', 'confirm', 'deny']) {
            if ((c[k] as Obj).type !== 'plain_text') problems.push(`${p}.confirm.${k} must be plain_text`);
          }
          limit(`${p}.confirm.title`, text(c.title), 100);
          limit(`${p}.confirm.text`, text(c.text), 300);
          limit(`${p}.confirm.confirm`, text(c.confirm), 30);
          limit(`${p}.confirm.deny`, text(c.deny), 30);
        }
      }
    }
  });
  return problems;
}

const nasty = 'Deploy <!channel> & <https://evil.example|click> <@U999> ' + 'x'.repeat(5000);

function approval(over: Partial<ApprovalRow> = {}): ApprovalRow {
  return {
    id: 'a000000001abcdef123456', run_id: 'r000000001abcdef', step_id: 's1', attempt: 1, environment: 'prod',
    workflow_id: `deploy-${'w'.repeat(300)}`, state_name: `gate-${'g'.repeat(300)}`, status: 'PENDING', message: nasty,
    summary: JSON.stringify({ note: '<b>', long: 'y'.repeat(5000) }), approvers: JSON.stringify(['U1', 'a@b.c', 'group:S0G', 'group:sre']),
    required_approvals: 2, allow_self_approval: 0, initiator: 'alice', on_timeout: 'reject', timeout_at: Date.parse('2030-01-01T00:00:00Z'),
    channel: 'C1', decision: null, decided_at: null, created_at: '2030-01-01T00:00:00Z', updated_at: '2030-01-01T00:00:00Z',
    slack_ts: null, slack_version: 1, slack_synced: 0, slack_next_at: 0, slack_attempts: 0, slack_error: null, ...over,
  };
}

describe('Block Kit of approval messages', () => {
  it('a request with long, hostile text stays within Slack limits and escapes it, in the blocks and the notification text', () => {
    const m = approvalMessage(approval(), [], 'https://station.example.com');
    expect(blockKitProblems(m.blocks)).toEqual([]);
    const all = JSON.stringify(m);
    expect(all).not.toContain('<!channel>');
    expect(all).not.toContain('<https://evil');
    expect(all).not.toContain('<@U999>');
    expect(m.text).toContain('&lt;!channel&gt; &amp;');
    expect(m.text.length).toBeLessThanOrEqual(1000);
    // The JSON summary keeps its closing code fence when cut.
    expect(text(m.blocks[1]?.text)).toMatch(/^```[\s\S]*…```$/);
  });

  it('the decided message has no buttons and quotes every line of the comment', () => {
    const decision: Decision = {
      approved: false, decision: 'rejected', by: { source: 'api', id: 'oncall', name: 'oncall' }, comment: 'no <!here>\nsecond line',
      decidedAt: '2030-01-01T00:05:00.000Z', approvals: [],
    };
    const m = approvalMessage(approval({ status: 'REJECTED', decision: JSON.stringify(decision), decided_at: decision.decidedAt }), [], undefined);
    expect(blockKitProblems(m.blocks)).toEqual([]);
    expect(m.blocks.some((b) => b.type === 'actions')).toBe(false);
    const outcome = m.blocks.map((b) => (b.type === 'section' ? text(b.text) : '')).find((t) => t.includes('*Rejected*')) ?? '';
    expect(outcome).toContain('API token `oncall`');
    expect(outcome).toContain('<!date^1893456300^');
    expect(outcome).toContain('\n> no &lt;!here&gt;\n> second line');
  });

  it('the Reject dialog is a valid modal: short title/submit/close, metadata under 3000, an optional reason input', () => {
    const v = rejectModal(approval(), 'C1') as Obj;
    expect(v.type).toBe('modal');
    for (const k of ['title', 'submit', 'close']) {
      expect((v[k] as Obj).type).toBe('plain_text');
      expect(text(v[k]).length).toBeLessThanOrEqual(24);
    }
    expect((v.private_metadata as string).length).toBeLessThanOrEqual(3000);
    expect((v.callback_id as string).length).toBeLessThanOrEqual(255);
    expect(blockKitProblems(v.blocks as Obj[])).toEqual([]);
    expect(JSON.stringify(v.blocks)).not.toContain('<!channel>');
  });

  it('the root message of a run is within limits', () => {
    const run = { id: 'r1', workflow_id: 'deploy', version: '1', environment: 'prod', status: 'WAITING_APPROVAL', initiator: 'alice<&>', trigger: '{"type":"manual"}' } as unknown as RunRow;
    const m = rootMessage(run, 'https://station.example.com/');
    expect(blockKitProblems(m.blocks)).toEqual([]);
    expect(JSON.stringify(m.blocks)).toContain('alice&lt;&amp;&gt;');
  });
});
