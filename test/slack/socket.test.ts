import { afterEach, describe, expect, it } from 'vitest';
import { buttonClick, rejectSubmission } from '../helpers/fake-slack.js';
import { APP_TOKEN, blockText, CHANNEL, SlackDaemon } from '../helpers/fake-slack-station.js';
import { FakeSlackSocket } from '../helpers/fake-slack-socket.js';

/** Socket Mode: no public URL; the daemon opens a WebSocket from apps.connections.open and gets interactions there. */

const WORKFLOW = `
  id: deploy
  version: "1"
  name: Deploy
  states:
    - name: gate
      type: operation
      action: human.approval
      input: {message: "Ship it?", approvers: [UALICE]}
      end: true
`;

let d: SlackDaemon;
let socket: FakeSlackSocket;
afterEach(async () => {
  await d.close();
  await socket.stop();
});

async function socketDaemon(): Promise<SlackDaemon> {
  socket = new FakeSlackSocket();
  await socket.start();
  d = await SlackDaemon.start({ workflows: { deploy: WORKFLOW }, slack: `mode: socket\ndefaultChannel: ${CHANNEL}` });
  return d;
}

describe('Slack approvals (Socket Mode)', () => {
  it('connects with the app token, and a click over the socket approves', async () => {
    await socketDaemon();
    // The daemon started before the fake Web API knew the socket URL: its first apps.connections.open failed, and it
    // keeps retrying in the background (the daemon itself never waits on Slack).
    d.fake.socketUrl = socket.url;
    await d.until(() => socket.connected, 'Socket Mode connected', 20_000);
    const open = d.fake.of('apps.connections.open');
    expect(open.length).toBeGreaterThanOrEqual(1);
    expect(open.at(-1)?.token).toBe(APP_TOKEN);

    const runId = d.start('deploy');
    const { approvalId, ts } = await d.approvalPosted(runId);
    await socket.interactive(buttonClick({ actionId: 'stn_approve', approvalId, user: { id: 'UALICE', name: 'alice' }, channel: CHANNEL, messageTs: ts }));
    expect((await d.ended(runId)).status).toBe('COMPLETED');
    const update = await d.fake.waitFor('chat.update', (c) => c.args.ts === ts);
    expect(blockText(update.args.blocks)).toContain('Approved');
    // /slack/events is not served in socket mode.
    const res = await fetch(`${d.url}/slack/events`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(404);
  });

  it('stops at once while Slack keeps refusing the connection (no waiting out the retry backoff)', async () => {
    await socketDaemon();
    await d.until(() => d.fake.of('apps.connections.open').length >= 3, 'three connection attempts', 20_000);
    // The next attempt is 2-4 s away; a stop must not wait for it.
    const stopping = Date.now();
    await d.halt();
    expect(Date.now() - stopping).toBeLessThan(1000);
  });

  it('stops at once when the stop lands while a connection attempt is still in flight', async () => {
    await socketDaemon();
    d.fake.replyDelayMs['apps.connections.open'] = 300;
    await d.until(() => d.fake.of('apps.connections.open').length >= 2, 'a second connection attempt in flight', 20_000);
    // The attempt fails 300 ms after the stop began; the retry wait that would follow (1-2 s) must not be entered.
    const stopping = Date.now();
    await d.halt();
    expect(Date.now() - stopping).toBeLessThan(1000);
    expect(d.fake.of('apps.connections.open')).toHaveLength(2);
  });

  it('the Reject dialog works over the socket; a refusal comes back as dialog errors', async () => {
    await socketDaemon();
    d.fake.socketUrl = socket.url;
    await d.until(() => socket.connected, 'Socket Mode connected', 20_000);
    const runId = d.start('deploy');
    const { approvalId } = await d.approvalPosted(runId);
    const refused = (await socket.interactive(rejectSubmission({ approvalId, channel: CHANNEL, user: { id: 'UMALLORY', name: 'mallory' } }))) as {
      response_action?: string;
      errors?: Record<string, string>;
    };
    expect(refused.response_action).toBe('errors');
    expect(refused.errors?.reason).toContain('not one of the approvers');
    expect(d.station.approvals.get(approvalId).status).toBe('PENDING');
    await socket.interactive(rejectSubmission({ approvalId, channel: CHANNEL, user: { id: 'UALICE', name: 'alice' }, reason: 'no' }));
    expect((await d.ended(runId)).status).toBe('FAILED');
  });
});
