import { afterEach, describe, expect, it } from 'vitest';
import { SlackDaemon } from '../helpers/fake-slack-station.js';

/** #10.17: a wrong or revoked Slack token is not retried: one call, the step fails with STN_E_SLACK_AUTH. */

let d: SlackDaemon | undefined;
afterEach(async () => {
  await d?.close();
  d = undefined;
});

function stepOf(s: SlackDaemon, runId: string, name: string) {
  const step = s.station.runStore.steps(runId).find((x) => x.state_name === name);
  return { status: step?.status, attempt: step?.attempt, error: JSON.parse(step?.error ?? 'null') as { code?: string; message?: string } | null };
}

const workflow = (input: string) => `
  id: notify
  version: "1"
  name: Notify
  states:
    - name: hello
      type: operation
      action: slack.post
      input: ${input}
      retry: {maxAttempts: 5, backoffSeconds: 1}
      end: true
`;

describe('slack.post with a token Slack refuses', () => {
  for (const error of ['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'missing_scope']) {
    it(`${error}: one call to Slack, the step fails at once with STN_E_SLACK_AUTH`, async () => {
      d = await SlackDaemon.start({ workflows: { notify: workflow('{channel: C0OTHER, text: hi}') } });
      d.fake.platformErrors['chat.postMessage'] = error;
      const runId = d.start('notify');
      expect((await d.ended(runId, 20_000)).status).toBe('FAILED');
      const step = stepOf(d, runId, 'hello');
      expect(step).toMatchObject({ status: 'FAILED', attempt: 1, error: { code: 'STN_E_SLACK_AUTH' } });
      expect(step.error?.message).toContain(error);
      expect(d.fake.of('chat.postMessage').filter((c) => c.args.channel === 'C0OTHER')).toHaveLength(1);
    });
  }

  it("in the run's thread: the refused root message fails the step once, not on every attempt", async () => {
    d = await SlackDaemon.start({ workflows: { notify: workflow('{text: hi, thread: run}') } });
    d.fake.platformErrors['chat.postMessage'] = 'invalid_auth';
    const runId = d.start('notify');
    expect((await d.ended(runId, 20_000)).status).toBe('FAILED');
    expect(stepOf(d, runId, 'hello')).toMatchObject({ status: 'FAILED', attempt: 1, error: { code: 'STN_E_SLACK_AUTH' } });
  });
});
