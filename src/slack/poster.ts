import { channelFor, type ResolvedSlackConfig } from '../config/slack.js';
import type { JsonValue } from '../definitions/types.js';
import type { SlackPoster } from '../executors/types.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import { ApprovalStore } from '../store/approvals.js';
import type { RunStore } from '../store/runs.js';
import {
  createWebClient,
  isPermanentSlackError,
  isSlackAuthError,
  slackCredentials,
  slackErrorText,
  type SlackRetry,
  type WebClient,
} from './client.js';
import { SlackThreadFailedError, SlackThreads } from './threads.js';

/** How long a slack.post step waits for another process that is starting the run's thread. */
const THREAD_WAIT_MS = 10_000;

/** Why a slack.post failed; `retryable: false` skips the step's remaining attempts. */
export class SlackPostError extends Error {
  constructor(
    readonly code: 'STN_E_SLACK_NOT_CONFIGURED' | 'STN_E_SLACK_POST' | 'STN_E_SLACK_AUTH',
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'SlackPostError';
  }
}

/** Why a post failed, as the step should record it: a refused token or thread is never retried. */
function asPostError(err: unknown, tokenEnv: string): SlackPostError {
  if (err instanceof SlackPostError) return err;
  if (isSlackAuthError(err)) {
    return new SlackPostError('STN_E_SLACK_AUTH', `Slack refused the bot token in ${tokenEnv} (slack.botTokenEnv): ${slackErrorText(err)}; not retried`, false);
  }
  // The run's thread was refused for good earlier (its root message): every attempt would get the same answer.
  if (err instanceof SlackThreadFailedError) return new SlackPostError('STN_E_SLACK_POST', err.message, false);
  return new SlackPostError('STN_E_SLACK_POST', `Slack refused or could not be reached: ${slackErrorText(err)}`, !isPermanentSlackError(err));
}

/**
 * slack.post's way to Slack in the process that executes the step (the daemon, `stn worker` or a foreground `stn run`):
 * the bot token comes from this process's environment. `thread: run` replies in the run's thread, starting it if no
 * process has yet (the same thread the approval requests go to).
 */
export function createSlackPoster(o: {
  config: ResolvedSlackConfig | undefined;
  env: NodeJS.ProcessEnv;
  db: Db;
  runs: RunStore;
  logger: Logger;
  publicUrl: string | undefined;
  retry?: SlackRetry;
}): SlackPoster | undefined {
  const config = o.config;
  if (!config) return undefined;
  let client: WebClient | undefined;
  let threads: SlackThreads | undefined;
  const store = new ApprovalStore(o.db);
  const logger = o.logger.child({ component: 'slack' });
  return {
    async post(req: { runId: string; channel?: string | undefined; text?: string | undefined; blocks?: JsonValue[] | undefined; thread: boolean }) {
      const token = slackCredentials(config, o.env).botToken;
      if (!token) throw new SlackPostError('STN_E_SLACK_NOT_CONFIGURED', `environment variable ${config.botTokenEnv} (slack.botTokenEnv) is not set in this process`, false);
      client ??= createWebClient(token, config, o.logger, o.retry);
      threads ??= new SlackThreads({ store, runs: o.runs, client, logger, publicUrl: o.publicUrl });
      const run = o.runs.run(req.runId);
      if (!run) throw new SlackPostError('STN_E_SLACK_POST', `no run ${req.runId}`, false);
      const existing = req.thread ? store.thread(run.id) : undefined;
      const channel = existing?.channel ?? channelFor(config, run.environment, run.workflow_id, req.channel);
      if (!channel) {
        throw new SlackPostError('STN_E_SLACK_NOT_CONFIGURED', 'no channel: give slack.post a channel, or set slack.defaultChannel or slack.channels', false);
      }
      try {
        let threadTs: string | undefined;
        if (req.thread) {
          const thread = await threads.ensure(run.id, channel, THREAD_WAIT_MS);
          if (!thread) throw new SlackPostError('STN_E_SLACK_POST', `the Slack thread of run ${run.id} is still being started by another process`, true);
          threadTs = thread.ts;
        }
        const res = await client.chat.postMessage({
          channel,
          text: req.text ?? '',
          ...(req.blocks ? { blocks: req.blocks as never } : {}),
          ...(threadTs ? { thread_ts: threadTs } : {}),
          unfurl_links: false,
        });
        return { channel: res.channel ?? channel, ts: res.ts as string };
      } catch (err) {
        throw asPostError(err, config.botTokenEnv);
      }
    },
  };
}
