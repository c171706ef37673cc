import { afterEach, describe, expect, it } from 'vitest';
import { ApprovalStore } from '../../src/store/approvals.js';
import { buttonClick, rejectSubmission } from '../helpers/fake-slack.js';
import { BOT_TOKEN, blockText, buttons, CHANNEL, SIGNING_SECRET, SlackDaemon } from '../helpers/fake-slack-station.js';

/** Approvals in Slack threads through a running daemon's /slack/events (HTTP mode), against a fake Slack Web API. */

const alice = { id: 'UALICE', name: 'alice' };
const bob = { id: 'UBOB', name: 'bob' };
const mallory = { id: 'UMALLORY', name: 'mallory' };

function deploy(approval: string): string {
  return `
    id: deploy
    version: "1"
    name: Deploy
    states:
      - name: prepare
        type: operation
        action: noop
        input: {service: api, hosts: [a, b]}
        compensation: {action: noop, input: {undo: true}}
        next: gate
      - name: gate
        type: operation
        action: human.approval
        input: ${approval}
        next: ship
      - {name: ship, type: operation, action: noop, input: {by: "{{ steps.gate.by.name }}"}, end: true}
  `;
}

let d: SlackDaemon;
afterEach(async () => {
  await d.close();
});

describe('Slack approvals (HTTP mode)', () => {
  it('posts a run thread and the request; Approve continues the run and the message shows who approved', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: deploy('{message: "Deploy {{ input.version }}?", summaryPath: steps.prepare, approvers: [UALICE, UBOB], timeoutSeconds: 3600}') } });
    const runId = d.start('deploy', { version: '2.0' });
    const { approvalId, ts } = await d.approvalPosted(runId);
    expect(d.run(runId).status).toBe('WAITING_APPROVAL');

    const root = d.fake.of('chat.postMessage').find((c) => c.args.thread_ts === undefined);
    expect(root?.args.channel).toBe(CHANNEL);
    expect(root?.token).toBe(BOT_TOKEN);
    expect(blockText(root?.args.blocks)).toContain('deploy');
    expect(blockText(root?.args.blocks)).toContain(`https://station.example.com/api/v1/workflow-runs/${runId}`);
    const request = d.fake.of('chat.postMessage').find((c) => c.args.thread_ts !== undefined);
    const thread = new ApprovalStore(d.station.db).thread(runId);
    expect(request?.args.thread_ts).toBe(thread?.ts);
    const text = blockText(request?.args.blocks);
    expect(text).toContain('Deploy 2.0?');
    expect(text).toContain('\\"service\\": \\"api\\"'); // the summary, as indented JSON
    expect(text).toContain('<@UALICE>, <@UBOB>');
    expect(text).toContain('Deadline');
    const b = buttons(request?.args.blocks);
    expect(b.map((x) => [x.action_id, x.style])).toEqual([
      ['stn_approve', 'primary'],
      ['stn_reject', 'danger'],
      ['stn_open_run', undefined],
    ]);

    const res = await d.interact(buttonClick({ actionId: 'stn_approve', approvalId, user: alice, channel: CHANNEL, messageTs: ts }));
    expect(res.status).toBe(200);
    const run = await d.ended(runId);
    expect(run.status).toBe('COMPLETED');
    const gate = d.station.runStore.steps(runId).find((s) => s.state_name === 'gate');
    expect(JSON.parse(gate?.output ?? 'null')).toMatchObject({ approved: true, decision: 'approved', by: { source: 'slack', id: 'UALICE', name: 'alice' } });

    const update = await d.fake.waitFor('chat.update', (c) => c.args.ts === ts && blockText(c.args.blocks).includes('Approved'));
    expect(blockText(update.args.blocks)).toContain('<@UALICE>');
    expect(buttons(update.args.blocks)).toEqual([]);
    // The root message is brought up to date with the final status.
    await d.fake.waitFor('chat.update', (c) => c.args.ts === thread?.ts && blockText(c.args.blocks).includes('completed'));
    // Tokens and secrets are never stored.
    const db = d.station.db;
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    const dump = JSON.stringify(tables.map((t) => db.prepare(`SELECT * FROM "${t}"`).all()));
    expect(dump).not.toContain(BOT_TOKEN);
    expect(dump).not.toContain(SIGNING_SECRET);
  });

  it('Reject opens a dialog; submitting it with a reason fails the run, runs compensation and updates the message', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: deploy('{message: Deploy?, approvers: [UALICE]}') } });
    const runId = d.start('deploy');
    const { approvalId, ts } = await d.approvalPosted(runId);
    await d.interact(buttonClick({ actionId: 'stn_reject', approvalId, user: alice, channel: CHANNEL, messageTs: ts }));
    const opened = await d.fake.waitFor('views.open');
    const view = opened.args.view as { callback_id: string; blocks: unknown; private_metadata: string };
    expect(view.callback_id).toBe('stn_reject_modal');
    expect(JSON.parse(view.private_metadata)).toMatchObject({ approvalId });
    expect(d.station.approvals.get(approvalId).status).toBe('PENDING');

    const res = await d.interact(rejectSubmission({ approvalId, channel: CHANNEL, user: alice, reason: 'error budget spent' }));
    expect(res.status).toBe(200);
    expect(res.body).toBe('');
    const run = await d.ended(runId);
    expect(run.status).toBe('FAILED');
    expect(run.compensated).toBe(true);
    const steps = d.station.runStore.steps(runId);
    expect(steps.some((s) => s.compensation_of !== null && s.status === 'SUCCEEDED')).toBe(true);
    expect(JSON.parse(steps.find((s) => s.state_name === 'gate')?.error ?? '{}')).toMatchObject({
      code: 'STN_E_APPROVAL_REJECTED',
      details: { comment: 'error budget spent', by: { source: 'slack', id: 'UALICE' } },
    });
    const update = await d.fake.waitFor('chat.update', (c) => c.args.ts === ts);
    expect(blockText(update.args.blocks)).toContain('Rejected');
    expect(blockText(update.args.blocks)).toContain('error budget spent');
    expect(buttons(update.args.blocks)).toEqual([]);
  });

  it('a click by someone not allowed gets an ephemeral refusal and an audit event; nothing else changes', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: deploy('{message: Deploy?, approvers: [UALICE]}') } });
    const runId = d.start('deploy');
    const { approvalId, ts } = await d.approvalPosted(runId);
    const before = d.fake.calls.length;
    await d.interact(buttonClick({ actionId: 'stn_approve', approvalId, user: mallory, channel: CHANNEL, messageTs: ts }));
    const eph = await d.fake.waitFor('chat.postEphemeral');
    expect(eph.args).toMatchObject({ channel: CHANNEL, user: 'UMALLORY' });
    expect(String(eph.args.text)).toContain('not one of the approvers');
    // Reject by the same person: refused before any dialog opens.
    await d.interact(buttonClick({ actionId: 'stn_reject', approvalId, user: mallory, channel: CHANNEL, messageTs: ts }));
    await d.fake.waitFor('chat.postEphemeral', (c) => c !== eph);
    const refused = d.events(runId).filter((e) => e.type === 'approval:refused');
    expect(refused.map((e) => e.data.reason)).toEqual(['not-approver', 'not-approver']);
    expect(refused[0]?.data.by).toMatchObject({ source: 'slack', id: 'UMALLORY' });
    expect(d.station.approvals.get(approvalId).status).toBe('PENDING');
    expect(d.run(runId).status).toBe('WAITING_APPROVAL');
    const after = d.fake.calls.slice(before).map((c) => c.method);
    // Only the refusals (and Bolt's one-time auth.test of the token): no update, no dialog, no post.
    expect(after.filter((m) => m !== 'chat.postEphemeral' && m !== 'auth.test')).toEqual([]);
  });

  it('refuses a forged signature and a 6-minute-old timestamp, changing nothing', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: deploy('{message: Deploy?}') } });
    const runId = d.start('deploy');
    const { approvalId } = await d.approvalPosted(runId);
    const click = buttonClick({ actionId: 'stn_approve', approvalId, user: alice, channel: CHANNEL });
    const forged = await d.interact(click, { secret: 'not-the-secret' });
    expect(forged.status).toBe(401);
    expect(forged.body).toContain('signature does not match');
    const old = await d.interact(click, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    expect(old.status).toBe(401);
    expect(old.body).toContain('5 minutes');
    const unsigned = await fetch(`${d.url}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(unsigned.status).toBe(401);
    expect(d.station.approvals.get(approvalId).status).toBe('PENDING');
    expect(d.events(runId).some((e) => e.type.startsWith('approval:') && e.type !== 'approval:requested')).toBe(false);
  });

  it('a double click makes one decision; the second click is told it is already decided', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: deploy('{message: Deploy?}') } });
    const runId = d.start('deploy');
    const { approvalId, ts } = await d.approvalPosted(runId);
    const click = (u: typeof alice) => d.interact(buttonClick({ actionId: 'stn_approve', approvalId, user: u, channel: CHANNEL, messageTs: ts }));
    const [r1, r2] = await Promise.all([click(alice), click(bob)]);
    expect([r1.status, r2.status]).toEqual([200, 200]);
    const eph = await d.fake.waitFor('chat.postEphemeral');
    expect(String(eph.args.text)).toMatch(/Already approved by <@U(ALICE|BOB)>/);
    expect(await d.ended(runId)).toMatchObject({ status: 'COMPLETED' });
    expect(d.events(runId).filter((e) => e.type === 'approval:decided')).toHaveLength(1);
  });

  it('2-of-N with an email and a user group as approvers: two distinct people are needed', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: deploy('{message: Deploy?, approvers: ["alice@example.com", "group:sre-oncall"], requiredApprovals: 2}') } });
    d.fake.users = [{ id: 'UALICE', name: 'alice', email: 'alice@example.com' }];
    d.fake.groups = { S0ONCALL: { handle: 'sre-oncall', users: ['UBOB', 'UCAROL'] } };
    const runId = d.start('deploy');
    const { approvalId, ts } = await d.approvalPosted(runId);
    await d.interact(buttonClick({ actionId: 'stn_approve', approvalId, user: alice, channel: CHANNEL, messageTs: ts }));
    expect(d.fake.of('users.lookupByEmail')[0]?.args.email).toBe('alice@example.com');
    expect(d.fake.of('usergroups.users.list')[0]?.args.usergroup).toBe('S0ONCALL');
    const eph = await d.fake.waitFor('chat.postEphemeral');
    expect(String(eph.args.text)).toContain('1 more needed');
    await d.fake.waitFor('chat.update', (c) => c.args.ts === ts && blockText(c.args.blocks).includes('1 of 2 approvals'));
    // The same person again does not count twice.
    await d.interact(buttonClick({ actionId: 'stn_approve', approvalId, user: alice, channel: CHANNEL, messageTs: ts }));
    await d.fake.waitFor('chat.postEphemeral', (c) => String(c.args.text).includes('already voted'));
    expect(d.run(runId).status).toBe('WAITING_APPROVAL');
    await d.interact(buttonClick({ actionId: 'stn_approve', approvalId, user: { id: 'UBOB', name: 'bob' }, channel: CHANNEL, messageTs: ts }));
    expect((await d.ended(runId)).status).toBe('COMPLETED');
    // Lookups are cached: one per email and group, however many clicks.
    expect(d.fake.of('users.lookupByEmail')).toHaveLength(1);
    expect(d.fake.of('usergroups.users.list')).toHaveLength(1);
    const update = await d.fake.waitFor('chat.update', (c) => c.args.ts === ts && blockText(c.args.blocks).includes('Approved'));
    expect(blockText(update.args.blocks)).toContain('2 of 2 approvals');
  });

  it('self-approval is refused when disallowed: the initiator gets an ephemeral refusal', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: deploy('{message: Deploy?, allowSelfApproval: false}') } });
    d.fake.users = [{ id: 'UALICE', name: 'alice', email: 'alice@example.com' }];
    const runId = d.start('deploy', {}, 'alice');
    const { approvalId, ts } = await d.approvalPosted(runId);
    await d.interact(buttonClick({ actionId: 'stn_approve', approvalId, user: { id: 'UALICE', name: 'Alice Example' }, channel: CHANNEL, messageTs: ts }));
    const eph = await d.fake.waitFor('chat.postEphemeral');
    expect(String(eph.args.text)).toContain('started this run');
    expect(d.events(runId).find((e) => e.type === 'approval:refused')?.data.reason).toBe('self-approval');
    expect(d.station.approvals.get(approvalId).status).toBe('PENDING');
    await d.interact(buttonClick({ actionId: 'stn_approve', approvalId, user: bob, channel: CHANNEL, messageTs: ts }));
    expect((await d.ended(runId)).status).toBe('COMPLETED');
  });

  it('a timeout updates the message and follows onTimeout', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: deploy('{message: Deploy?, timeoutSeconds: 1, onTimeout: reject}') } });
    const runId = d.start('deploy');
    const { ts } = await d.approvalPosted(runId);
    const run = await d.ended(runId);
    expect(run.status).toBe('FAILED');
    expect(run.compensated).toBe(true);
    const update = await d.fake.waitFor('chat.update', (c) => c.args.ts === ts);
    expect(blockText(update.args.blocks)).toContain('Timed out');
    expect(blockText(update.args.blocks)).toContain('onTimeout: reject');
    expect(buttons(update.args.blocks)).toEqual([]);
  });

  it('Slack down during the request: retried with backoff, decidable meanwhile, message posted and updated when Slack is back', async () => {
    d = await SlackDaemon.start({ workflows: { deploy: deploy('{message: Deploy?}') } });
    d.fake.down = true;
    const runId = d.start('deploy');
    // Slack refused the run's thread (the request goes into it), so nothing was delivered.
    await d.until(() => d.station.approvals.ofRun(runId).length === 1 && d.fake.refused.includes('chat.postMessage'), 'a failed delivery');
    const approvalId = d.station.approvals.ofRun(runId)[0]?.id as string;
    expect(d.run(runId).status).toBe('WAITING_APPROVAL');
    // Decided meanwhile (like "stn approve"), while Slack is still down: the run goes on without Slack.
    d.station.approvals.decide({ approvalId, vote: 'approve', actor: { source: 'cli', id: 'carol', name: 'carol' } });
    expect((await d.ended(runId)).status).toBe('COMPLETED');
    expect(d.fake.calls).toEqual([]);
    d.fake.down = false;
    const posted = await d.fake.waitFor('chat.postMessage', (c) => c.args.thread_ts !== undefined, 20_000);
    // The request was never seen by anyone: it arrives already showing the outcome, without buttons.
    expect(blockText(posted.args.blocks)).toContain('Approved');
    expect(blockText(posted.args.blocks)).toContain('carol');
    expect(buttons(posted.args.blocks)).toEqual([]);
    await d.until(() => d.station.approvals.get(approvalId).slack_synced >= d.station.approvals.get(approvalId).slack_version, 'delivered');
  });

  it('a daemon restarted while an approval waits: the approval is still decidable from Slack and still times out', async () => {
    // The first approval must outlive the restart on a loaded machine; the second times out after it.
    const short = deploy('{message: Deploy?, timeoutSeconds: 4}').replace('id: deploy', 'id: short');
    d = await SlackDaemon.start({ workflows: { deploy: deploy('{message: Deploy?, timeoutSeconds: 3600}'), short } });
    const first = d.start('deploy');
    const second = d.start('short');
    const a1 = await d.approvalPosted(first);
    await d.approvalPosted(second);
    await d.halt();
    await d.boot();
    await d.interact(buttonClick({ actionId: 'stn_approve', approvalId: a1.approvalId, user: alice, channel: CHANNEL, messageTs: a1.ts }));
    expect((await d.ended(first)).status).toBe('COMPLETED');
    const timedOut = await d.ended(second, 20_000);
    expect(timedOut.status).toBe('FAILED');
    expect(d.events(second).some((e) => e.type === 'approval:timed_out')).toBe(true);
  });
});
