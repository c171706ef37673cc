import type { Notifier } from '../approvals/notifier.js';
import { channelFor, type ResolvedSlackConfig } from '../config/slack.js';
import type { RunEvents } from '../engine/events.js';
import type { Logger } from '../log.js';
import type { ApprovalRow, ApprovalStore } from '../store/approvals.js';
import { approvalMessage } from './blocks.js';
import { isPermanentSlackError, slackErrorText, slackRetryAfterMs, type WebClient } from './client.js';
import { SLACK_LEASE_MS, slackBackoffMs, SlackThreadFailedError, type SlackThreads } from './threads.js';

export interface SlackNotifierOptions {
  /** Which channel an approval goes to (`channelFor`). */
  config: ResolvedSlackConfig;
  store: ApprovalStore;
  threads: SlackThreads;
  client: WebClient;
  events: RunEvents;
  logger: Logger;
  publicUrl: string | undefined;
  /** How often the database is checked for work committed by other processes (CLI decisions, `stn worker` runs). */
  pollMs?: number;
  now?: () => number;
}

/** Events after which there may be Slack work: a new or changed approval, a run that changed status. */
const INTERESTING = /^(approval:|run:)/;

/**
 * Delivers approval messages and run threads to Slack from the state in SQLite (src/store/approvals.ts): routes each
 * new approval of the outbox to its channel and its run's thread (src/approvals/notifier.ts), posts the
 * request when an approval appears, replaces it (chat.update) when a vote, a decision or a timeout changes it, and keeps
 * each run's root message in line with the run's status. Every delivery is claimed in the database first (one process
 * delivers it) and retried with bounded backoff while Slack is unavailable, so nothing is lost and nothing waits on Slack.
 */
export class SlackNotifier implements Notifier {
  private running = false;
  private loopDone: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private pending = false;
  private offEvents: (() => void) | undefined;

  constructor(private readonly o: SlackNotifierOptions) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.offEvents = this.o.events.on((e) => {
      if (INTERESTING.test(e.type)) this.poke();
    });
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.offEvents?.();
    this.poke();
    await this.loopDone;
  }

  poke(): void {
    this.pending = true;
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  /** One pass over everything due now (exposed for tests that drive the notifier by hand). */
  async deliverDue(): Promise<void> {
    this.routeNotices();
    await this.deliverThreads();
    await this.deliverApprovals();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      this.pending = false;
      try {
        await this.deliverDue();
      } catch (err) {
        this.o.logger.error({ err, error_type: 'slack' }, 'Slack notifier pass failed');
      }
      if (!this.running) break;
      if (!this.pending) await this.idle();
    }
  }

  private idle(): Promise<void> {
    const poll = this.o.pollMs ?? 250;
    let wait = poll;
    try {
      const at = this.o.store.nextSlackAt();
      if (at !== null) wait = Math.max(0, Math.min(poll, at - this.now() + 1));
    } catch {
      // The next pass reports it.
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, wait);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * New approvals: the channel the step named, else the configured one for its workflow or environment; the run's
   * thread is opened there. An approval no channel applies to gets no Slack message.
   */
  private routeNotices(): void {
    const at = new Date(this.now()).toISOString();
    for (const n of this.o.store.notices(50)) {
      const a = this.o.store.get(n.approval_id);
      const channel = a && channelFor(this.o.config, a.environment, a.workflow_id, n.channel ?? undefined);
      this.o.store.takeNotice(n.id, a && channel ? { approvalId: a.id, runId: a.run_id, channel } : undefined, at);
    }
  }

  private async deliverThreads(): Promise<void> {
    for (const row of this.o.store.staleThreads(this.now(), 20)) {
      if (!this.running && this.loopDone) return;
      if (!this.o.store.claimThread(row.run_id, row.next_at, this.now() + SLACK_LEASE_MS)) continue;
      try {
        await this.o.threads.sync(row);
      } catch {
        // Logged and rescheduled by SlackThreads.
      }
    }
  }

  private async deliverApprovals(): Promise<void> {
    for (const a of this.o.store.slackDue(this.now(), 20)) {
      if (!this.running && this.loopDone) return;
      if (!this.o.store.claimSlack(a.id, a.slack_next_at, this.now() + SLACK_LEASE_MS)) continue;
      await this.deliverApproval(a);
    }
  }

  private async deliverApproval(a: ApprovalRow): Promise<void> {
    const channel = a.channel as string;
    try {
      const message = approvalMessage(a, this.o.store.votes(a.id), this.o.publicUrl);
      if (a.slack_ts === null) {
        const thread = await this.o.threads.ensure(a.run_id, channel);
        if (!thread) {
          // The thread is being started (by another process, or waiting out its own retry): look again shortly. Not a
          // failed attempt of this message, so its own backoff does not grow meanwhile.
          this.o.store.slackLater(a.id, this.now() + 250);
          return;
        }
        const res = await this.o.client.chat.postMessage({ channel: thread.channel, thread_ts: thread.ts, ...message, unfurl_links: false });
        this.o.store.slackDone(a.id, res.ts as string, a.slack_version, res.channel ?? thread.channel);
        this.o.logger.info({ run_id: a.run_id, approval_id: a.id, channel: thread.channel, ts: res.ts }, 'approval request posted to Slack');
      } else {
        await this.o.client.chat.update({ channel, ts: a.slack_ts, ...message });
        this.o.store.slackDone(a.id, a.slack_ts, a.slack_version);
        this.o.logger.info({ run_id: a.run_id, approval_id: a.id, status: a.status }, 'approval message updated in Slack');
      }
    } catch (err) {
      // A root message Slack refused for good (channel_not_found, ...) refuses the request in its thread too.
      if (isPermanentSlackError(err) || err instanceof SlackThreadFailedError) {
        this.o.store.slackGiveUp(a.id, err instanceof SlackThreadFailedError ? err.reason : slackErrorText(err));
        this.o.logger.error(
          { run_id: a.run_id, approval_id: a.id, channel, error: slackErrorText(err) },
          'Slack refused the approval message; not retried (the approval stays decidable by API and CLI)',
        );
        return;
      }
      // Slack's Retry-After (HTTP 429) when it gives one, else the backoff.
      const delay = Math.max(slackBackoffMs(a.slack_attempts), slackRetryAfterMs(err));
      this.o.store.slackRetry(a.id, this.now() + delay);
      this.o.logger.warn(
        { run_id: a.run_id, approval_id: a.id, error: slackErrorText(err), retry_in_ms: delay },
        'Slack unavailable for the approval message; will retry (the approval stays decidable by API and CLI)',
      );
    }
  }
}
