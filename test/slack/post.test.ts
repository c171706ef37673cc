import { afterEach, describe, expect, it } from 'vitest';
import { ApprovalStore } from '../../src/store/approvals.js';
import { EngineHarness } from '../helpers/engine-harness.js';
import { CHANNEL, SlackDaemon } from '../helpers/fake-slack-station.js';

/** slack.post: executed by the daemon's engine against the fake Slack Web API. */

const POSTS = `
  id: notify
  version: "1"
  name: Notify
  states:
    - name: hello
      type: operation
      action: slack.post
      input: {text: "Deploying {{ input.version }}", thread: run}
      next: elsewhere
    - name: elsewhere
      type: operation
      action: slack.post
      input: {channel: C0OTHER, text: "FYI", blocks: [{type: section, text: {type: mrkdwn, text: "*FYI*"}}]}
      end: true
`;

let d: SlackDaemon | undefined;
let h: EngineHarness | undefined;
afterEach(async () => {
  await d?.close();
  await h?.close();
  d = undefined;
  h = undefined;
});

function stepOf(s: SlackDaemon, runId: string, name: string) {
  const step = s.station.runStore.steps(runId).find((x) => x.state_name === name);
  return { status: step?.status, output: JSON.parse(step?.output ?? 'null') as unknown, error: JSON.parse(step?.error ?? 'null') as { code?: string } | null, attempt: step?.attempt };
}

describe('slack.post', () => {
  it("posts in the run's thread (starting it) and to a named channel; outputs {channel, ts}", async () => {
    d = await SlackDaemon.start({ workflows: { notify: POSTS } });
    const runId = d.start('notify', { version: '1.4' });
    expect((await d.ended(runId)).status).toBe('COMPLETED');
    const thread = new ApprovalStore(d.station.db).thread(runId);
    expect(thread?.channel).toBe(CHANNEL);
    const reply = d.fake.of('chat.postMessage').find((c) => c.args.text === 'Deploying 1.4');
    expect(reply?.args).toMatchObject({ channel: CHANNEL, thread_ts: thread?.ts });
    expect(stepOf(d, runId, 'hello').output).toMatchObject({ channel: CHANNEL });
    const other = d.fake.of('chat.postMessage').find((c) => c.args.channel === 'C0OTHER');
    expect(other?.args.thread_ts).toBeUndefined();
    expect(other?.args.blocks).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: '*FYI*' } }]);
    const out = stepOf(d, runId, 'elsewhere').output as { channel: string; ts: string };
    expect(out.channel).toBe('C0OTHER');
    expect(out.ts).toMatch(/^\d+\.\d+$/);
  });

  it('Slack down: the attempt fails and the step retry policy posts it when Slack is back', async () => {
    d = await SlackDaemon.start({
      workflows: {
        notify: `
          id: notify
          version: "1"
          name: Notify
          states:
            - name: hello
              type: operation
              action: slack.post
              input: {text: hello}
              retry: {maxAttempts: 10, backoffSeconds: 1}
              end: true
        `,
      },
    });
    d.fake.down = true;
    const runId = d.start('notify');
    await d.until(() => (stepOf(d as SlackDaemon, runId, 'hello').attempt ?? 0) >= 2, 'a retried attempt', 20_000);
    expect(stepOf(d, runId, 'hello').error?.code).toBe('STN_E_SLACK_POST');
    d.fake.down = false;
    expect((await d.ended(runId, 20_000)).status).toBe('COMPLETED');
    expect(d.fake.refused.length).toBeGreaterThan(0);
  });

  it('an unknown channel fails at once (not retried); no slack section fails with STN_E_SLACK_NOT_CONFIGURED', async () => {
    d = await SlackDaemon.start({
      workflows: {
        notify: `
          id: notify
          version: "1"
          name: Notify
          states:
            - {name: hello, type: operation, action: slack.post, input: {channel: CGONE, text: hi}, retry: {maxAttempts: 5}, end: true}
        `,
      },
    });
    d.fake.missingChannels.add('CGONE');
    const runId = d.start('notify');
    expect((await d.ended(runId)).status).toBe('FAILED');
    expect(stepOf(d, runId, 'hello')).toMatchObject({ attempt: 1, error: { code: 'STN_E_SLACK_POST' } });

    h = EngineHarness.create();
    await h.define('plain', `
      id: plain
      version: "1"
      name: Plain
      states:
        - {name: hello, type: operation, action: slack.post, input: {text: hi}, end: true}
    `);
    const r = await h.run('plain');
    expect(r.status).toBe('FAILED');
    expect(r.step('hello').error).toMatchObject({ code: 'STN_E_SLACK_NOT_CONFIGURED' });
  });
});
