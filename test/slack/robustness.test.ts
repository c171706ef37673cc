import { afterEach, describe, expect, it } from 'vitest';
import { ApprovalStore } from '../../src/store/approvals.js';
import { buttonClick, rejectSubmission } from '../helpers/fake-slack.js';
import { blockText, CHANNEL, SlackDaemon } from '../helpers/fake-slack-station.js';

/** What a Slack-savvy SRE would try: Slack rate limiting and partial outages, odd payloads, channel names. */

const alice = { id: 'UALICE', name: 'alice' };

const gate = (input: string) => `
  id: deploy
  version: "1"
  name: Deploy
  states:
    - {name: gate, type: operation, action: human.approval, input: ${input}, end: true}
`;

let d: SlackDaemon;
afterEach(async () => {
  await d.close();
});

describe('Slack robustness', () => {
  it('a click is accepted even while Slack answers auth.test with errors: no Web API call stands before a decision', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: gate('{message: Ship?}') } });
    const runId = d.start('deploy');
    const { approvalId, ts } = await d.approvalPosted(runId);
    d.fake.failures = Array.from({ length: 10 }, () => ({ method: 'auth.test', status: 500 }));
    const res = await d.interact(buttonClick({ actionId: 'stn_approve', approvalId, user: alice, channel: CHANNEL, messageTs: ts }));
    expect(res.status).toBe(200);
    expect((await d.ended(runId)).status).toBe('COMPLETED');
    expect(d.fake.of('auth.test')).toEqual([]);
    expect(d.fake.refused).not.toContain('auth.test');
  });

  it('HTTP 429: the delivery waits for Retry-After without holding up other calls (the Reject dialog opens at once)', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: gate('{message: Ship?, approvers: [UALICE]}') } });
    // A first run's request is in Slack (a click must come from the approval's own message); the second run's post
    // is rate-limited.
    const firstRun = d.start('deploy');
    const posted = await d.approvalPosted(firstRun);
    d.fake.failures = [{ method: 'chat.postMessage', status: 429, retryAfterSeconds: 30 }];
    const postsBefore = d.fake.of('chat.postMessage').length;
    const limitedAt = Date.now();
    const runId = d.start('deploy');
    await d.until(() => d.fake.refused.includes('chat.postMessage'), 'the rate-limited post');
    await d.until(() => (new ApprovalStore(d.station.db).thread(runId)?.attempts ?? 0) >= 1, 'the retry scheduled');
    const thread = new ApprovalStore(d.station.db).thread(runId);
    // Not retried before Slack's Retry-After (the backoff alone would retry after about a second).
    expect(thread?.next_at ?? 0).toBeGreaterThanOrEqual(limitedAt + 29_000);
    expect(d.fake.of('chat.postMessage')).toHaveLength(postsBefore);

    const approvalId = d.station.approvals.ofRun(runId)[0]?.id as string;
    const clickedAt = Date.now();
    await d.interact(buttonClick({ actionId: 'stn_reject', approvalId: posted.approvalId, user: alice, channel: CHANNEL, messageTs: posted.ts }));
    await d.fake.waitFor('views.open', () => true, 5_000);
    // views.open's trigger_id expires after 3 s: the rate limit on another method must not pause it.
    expect(Date.now() - clickedAt).toBeLessThan(3_000);
    // Waiting for the thread is not a failure of the request itself: its own backoff stays at the start.
    await new Promise((r) => setTimeout(r, 1000));
    expect(d.station.approvals.get(approvalId).slack_attempts).toBeLessThanOrEqual(1);
  });

  it('refuses interaction payloads without a user (400), ignores unknown actions, and shows a bad dialog submission as a dialog error', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: gate('{message: Ship?}') } });
    const runId = d.start('deploy');
    const { approvalId, ts } = await d.approvalPosted(runId);
    const before = d.fake.calls.length;
    const click = buttonClick({ actionId: 'stn_approve', approvalId, user: alice, channel: CHANNEL, messageTs: ts });

    const noUser = await d.interact({ ...click, user: undefined });
    expect(noUser.status).toBe(400);
    expect(noUser.body).toContain('block_actions without user.id');
    const noActions = await d.interact({ ...click, actions: undefined });
    expect(noActions.status).toBe(400);
    const submission = rejectSubmission({ approvalId, channel: CHANNEL, user: alice, reason: 'x' });
    expect((await d.interact({ ...submission, user: undefined })).status).toBe(400);
    expect((await d.interact({ ...submission, view: undefined })).status).toBe(400);

    // Another app's (or an old) button: acknowledged, nothing happens.
    const unknown = await d.interact({ ...click, actions: [{ ...click.actions[0], action_id: 'someone_elses_button' }] });
    expect(unknown.status).toBe(200);
    // A dialog submission whose metadata names no approval: the error shows in the dialog.
    const lost = await d.interact({ ...submission, view: { ...submission.view, private_metadata: 'not json', state: undefined } });
    expect(lost.status).toBe(200);
    expect(JSON.parse(lost.body)).toMatchObject({ response_action: 'errors', errors: { reason: expect.stringContaining('no longer exists') as unknown } });

    expect(d.station.approvals.get(approvalId).status).toBe('PENDING');
    expect(d.run(runId).status).toBe('WAITING_APPROVAL');
    expect(d.events(runId).filter((e) => e.type.startsWith('approval:') && e.type !== 'approval:requested')).toEqual([]);
    expect(d.fake.calls.slice(before)).toEqual([]);
  });

  it('a channel Slack does not know: recorded once, not retried forever; the approval stays decidable', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: gate('{message: Ship?}') } });
    d.fake.missingChannels.add(CHANNEL);
    const runId = d.start('deploy');
    await d.until(() => d.station.approvals.ofRun(runId)[0]?.slack_error != null, 'the approval message given up');
    const a = d.station.approvals.ofRun(runId)[0] as NonNullable<ReturnType<typeof d.station.approvals.ofRun>[0]>;
    expect(a.slack_error).toContain('channel_not_found');
    expect(new ApprovalStore(d.station.db).thread(runId)?.error).toContain('channel_not_found');
    expect(d.fake.of('chat.postMessage')).toHaveLength(1);
    d.station.approvals.decide({ approvalId: a.id, vote: 'approve', actor: { source: 'cli', id: 'carol', name: 'carol' } });
    expect((await d.ended(runId)).status).toBe('COMPLETED');
    expect(d.fake.of('chat.postMessage')).toHaveLength(1);
  });

  it('a refusal is shown in the thread where the person clicked (ephemeral with thread_ts)', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: gate('{message: Ship?, approvers: [UALICE]}') } });
    const runId = d.start('deploy');
    const { approvalId, ts } = await d.approvalPosted(runId);
    const threadTs = new ApprovalStore(d.station.db).thread(runId)?.ts as string;
    await d.interact(buttonClick({ actionId: 'stn_approve', approvalId, user: { id: 'UMALLORY', name: 'mallory' }, channel: CHANNEL, messageTs: ts, threadTs }));
    const eph = await d.fake.waitFor('chat.postEphemeral');
    expect(eph.args).toMatchObject({ channel: CHANNEL, user: 'UMALLORY', thread_ts: threadTs });
  });

  it('a channel given by name (#ops): the messages are updated through the channel id Slack answered with', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: gate('{message: Ship?}') }, slack: 'mode: http\ndefaultChannel: "#ops"' });
    const runId = d.start('deploy');
    const { approvalId, ts } = await d.approvalPosted(runId);
    expect(d.station.approvals.get(approvalId).channel).toBe('COPS');
    await d.interact(buttonClick({ actionId: 'stn_approve', approvalId, user: alice, channel: 'COPS', messageTs: ts }));
    expect((await d.ended(runId)).status).toBe('COMPLETED');
    const update = await d.fake.waitFor('chat.update', (c) => c.args.ts === ts);
    expect(update.args.channel).toBe('COPS');
    expect(blockText(update.args.blocks)).toContain('Approved');
    // The root message too.
    const thread = new ApprovalStore(d.station.db).thread(runId);
    await d.fake.waitFor('chat.update', (c) => c.args.ts === thread?.ts && c.args.channel === 'COPS' && blockText(c.args.blocks).includes('completed'));
    expect(d.station.approvals.get(approvalId).slack_error).toBeNull();
  });
});
