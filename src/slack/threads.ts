import { retryDelayMs } from '../backoff.js';
import type { Logger } from '../log.js';
import type { ApprovalStore, ThreadRow } from '../store/approvals.js';
import { TERMINAL_RUN, type RunStore } from '../store/runs.js';
import { rootMessage } from './blocks.js';
import { isPermanentSlackError, slackErrorText, slackRetryAfterMs, type WebClient } from './client.js';

/** The run's thread could not be started and will not be retried (Slack refused the root message for good). */
export class SlackThreadFailedError extends Error {
  constructor(runId: string, readonly reason: string) {
    super(`the Slack thread of run ${runId} could not be started: ${reason}`);
    this.name = 'SlackThreadFailedError';
  }
}

/** How long a process may hold the right to post a root message before another one may try. */
export const SLACK_LEASE_MS = 60_000;

/** Bounded exponential backoff for Slack deliveries: 1 s, 2 s, 4 s, ... capped at 60 s, with jitter. */
export function slackBackoffMs(attempts: number, random: () => number = Math.random): number {
  return retryDelayMs({ kind: 'exponential', firstMs: 1000, capMs: 60_000 }, attempts + 1, random);
}

/**
 * One Slack thread per run: the root message (workflow, trigger, status, link) is posted once, by whichever process
 * claims the thread first (the daemon's notifier, or a slack.post step), and updated when the run's status changes.
 */
export class SlackThreads {
  constructor(
    private readonly o: {
      store: ApprovalStore;
      runs: RunStore;
      client: WebClient;
      logger: Logger;
      publicUrl: string | undefined;
      now?: () => number;
    },
  ) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /**
   * The run's thread, posting its root message if nobody has. `waitMs`: how long to wait for another process that
   * holds the claim; 0 returns undefined at once. Throws when Slack refuses or cannot be reached.
   */
  async ensure(runId: string, channel: string, waitMs = 0): Promise<{ channel: string; ts: string } | undefined> {
    const deadline = this.now() + waitMs;
    for (;;) {
      let row = this.o.store.thread(runId);
      if (!row) {
        this.o.store.openThread(runId, channel, 0, new Date(this.now()).toISOString());
        row = this.o.store.thread(runId) as ThreadRow;
      }
      if (row.ts) return { channel: row.channel, ts: row.ts };
      if (row.error) throw new SlackThreadFailedError(runId, row.error);
      const now = this.now();
      if (row.next_at <= now && this.o.store.claimThread(runId, row.next_at, now + SLACK_LEASE_MS)) {
        return this.postRoot(row);
      }
      if (this.now() >= deadline) return undefined;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Posts or updates the root message of a claimed thread so it shows the run's current status. */
  async sync(row: ThreadRow): Promise<void> {
    if (!row.ts) {
      await this.postRoot(row);
      return;
    }
    const run = this.o.runs.run(row.run_id);
    if (!run) return;
    try {
      await this.o.client.chat.update({ channel: row.channel, ts: row.ts, ...rootMessage(run, this.o.publicUrl) });
      this.o.store.threadPosted(row.run_id, row.ts, run.status, TERMINAL_RUN.has(run.status));
    } catch (err) {
      this.failed(row, err);
      throw err;
    }
  }

  private async postRoot(row: ThreadRow): Promise<{ channel: string; ts: string }> {
    const run = this.o.runs.run(row.run_id);
    if (!run) throw new Error(`no run ${row.run_id}`);
    try {
      const res = await this.o.client.chat.postMessage({ channel: row.channel, ...rootMessage(run, this.o.publicUrl), unfurl_links: false });
      const ts = res.ts as string;
      const channel = res.channel ?? row.channel;
      this.o.store.threadPosted(row.run_id, ts, run.status, TERMINAL_RUN.has(run.status), channel);
      this.o.logger.info({ run_id: row.run_id, channel, ts }, 'Slack thread started');
      return { channel, ts };
    } catch (err) {
      this.failed(row, err);
      throw err;
    }
  }

  private failed(row: ThreadRow, err: unknown): void {
    if (isPermanentSlackError(err)) {
      this.o.store.threadGiveUp(row.run_id, slackErrorText(err));
      this.o.logger.error({ run_id: row.run_id, channel: row.channel, error: slackErrorText(err) }, 'Slack refused the run thread; not retried');
      return;
    }
    const delay = Math.max(slackBackoffMs(row.attempts), slackRetryAfterMs(err));
    this.o.store.threadRetry(row.run_id, this.now() + delay);
    this.o.logger.warn({ run_id: row.run_id, error: slackErrorText(err), retry_in_ms: delay }, 'Slack unavailable for the run thread; will retry');
  }
}
