import type { JsonValue } from '../definitions/types.js';
import type { Executor } from './types.js';
import { failed, ok } from './types.js';

interface SlackPostInput {
  channel?: string;
  text?: string;
  blocks?: JsonValue[];
  thread?: 'run';
}

/**
 * `slack.post`: posts a message (`text` and/or Block Kit `blocks`) to `channel` (default: the configured one), or with
 * `thread: run` as a reply in the run's thread. Outputs `{channel, ts}`. A Slack outage fails the attempt (retried per
 * the step's retry policy); a wrong channel or token is not retried.
 */
export const slackPost: Executor = {
  name: 'slack.post',
  run: async (ctx) => {
    const input = ctx.input as unknown as SlackPostInput;
    if (!ctx.slack) {
      return failed('STN_E_SLACK_NOT_CONFIGURED', 'slack.post: station.yaml has no slack section', { retryable: false });
    }
    try {
      const res = await ctx.slack.post({ runId: ctx.runId, channel: input.channel, text: input.text, blocks: input.blocks, thread: input.thread === 'run' });
      return ok(res);
    } catch (err) {
      const e = err as { code?: string; message?: string; retryable?: boolean };
      return failed(e.code ?? 'STN_E_SLACK_POST', `slack.post: ${e.message ?? String(err)}`, { retryable: e.retryable ?? true });
    }
  },
};
