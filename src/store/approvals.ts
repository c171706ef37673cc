import type { Db } from './db.js';

export type ApprovalStatus = 'PENDING' | 'APPROVED' | 'REJECTED' | 'TIMED_OUT' | 'CANCELLED';

export const APPROVAL_STATUSES: readonly ApprovalStatus[] = ['PENDING', 'APPROVED', 'REJECTED', 'TIMED_OUT', 'CANCELLED'];

export interface ApprovalRow {
  id: string;
  run_id: string;
  step_id: string;
  attempt: number;
  environment: string;
  workflow_id: string;
  state_name: string;
  status: ApprovalStatus;
  message: string;
  /** JSON of the value at summaryPath, or null. */
  summary: string | null;
  /** JSON array of the declared approvers (user ids, emails, group:<name>). */
  approvers: string;
  required_approvals: number;
  allow_self_approval: number;
  initiator: string | null;
  on_timeout: 'reject' | 'approve' | 'fail';
  timeout_at: number | null;
  channel: string | null;
  /** JSON of the decision (the step result), once decided. */
  decision: string | null;
  decided_at: string | null;
  created_at: string;
  updated_at: string;
  slack_ts: string | null;
  slack_version: number;
  slack_synced: number;
  slack_next_at: number;
  slack_attempts: number;
  slack_error: string | null;
}

export type NewApproval = Pick<ApprovalRow, 'id' | 'run_id' | 'step_id' | 'attempt' | 'environment' | 'workflow_id' |
  'state_name' | 'message' | 'summary' | 'approvers' | 'required_approvals' | 'allow_self_approval' | 'initiator' |
  'on_timeout' | 'timeout_at' | 'created_at'>;

/** A new approval waiting in the outbox for a notifier to announce it (src/approvals/notifier.ts). */
export interface NoticeRow {
  id: number;
  approval_id: string;
  /** The channel the step asked for; null: the notifier chooses. */
  channel: string | null;
  created_at: string;
}

export interface VoteRow {
  approval_id: string;
  voter: string;
  source: string;
  voter_id: string;
  voter_name: string | null;
  vote: 'approve' | 'reject';
  comment: string | null;
  created_at: string;
  /** JSON list of the voter's normalized identities (src/approvals/identity.ts); null for older votes. */
  person: string | null;
}

export interface ThreadRow {
  run_id: string;
  channel: string;
  ts: string | null;
  posted_status: string | null;
  done: number;
  next_at: number;
  attempts: number;
  error: string | null;
  created_at: string;
}

/** A thread whose root message is behind its run (not posted yet, or the run's status changed). */
export interface StaleThread extends ThreadRow {
  run_status: string;
}

export interface ApprovalFilter {
  status?: ApprovalStatus | undefined;
  runId?: string | undefined;
  limit?: number | undefined;
  /** Approvals created before this one (the next page). */
  before?: string | undefined;
}

/**
 * The only SQL for approvals, their votes, their outbox and the Slack threads of runs. Methods are synchronous and join the caller's
 * transaction (`RunStore.transaction`), so an approval is created in the same commit as the step that waits for it.
 */
export class ApprovalStore {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO workflow_approvals (id, run_id, step_id, attempt, environment, workflow_id, state_name, status, message,
           summary, approvers, required_approvals, allow_self_approval, initiator, on_timeout, timeout_at,
           created_at, updated_at)
         VALUES (@id, @run_id, @step_id, @attempt, @environment, @workflow_id, @state_name, 'PENDING', @message,
           @summary, @approvers, @required_approvals, @allow_self_approval, @initiator, @on_timeout, @timeout_at,
           @created_at, @created_at)`,
      ),
      noticeInsert: db.prepare('INSERT INTO approval_outbox (approval_id, channel, created_at) VALUES (?, ?, ?)'),
      notices: db.prepare<[number], NoticeRow>('SELECT * FROM approval_outbox ORDER BY id LIMIT ?'),
      noticeDelete: db.prepare('DELETE FROM approval_outbox WHERE id = ?'),
      route: db.prepare('UPDATE workflow_approvals SET channel = ? WHERE id = ? AND channel IS NULL'),
      get: db.prepare<[string], ApprovalRow>('SELECT * FROM workflow_approvals WHERE id = ?'),
      byStep: db.prepare<[string, number], ApprovalRow>('SELECT * FROM workflow_approvals WHERE step_id = ? AND attempt = ?'),
      ofRun: db.prepare<[string], ApprovalRow>('SELECT * FROM workflow_approvals WHERE run_id = ? ORDER BY created_at, id'),
      // The compare-and-set: only a PENDING approval is decided, and only once.
      decide: db.prepare(
        `UPDATE workflow_approvals SET status = @status, decision = @decision, decided_at = @decided_at, updated_at = @decided_at,
           slack_version = slack_version + 1
         WHERE id = @id AND status = 'PENDING'`,
      ),
      touch: db.prepare('UPDATE workflow_approvals SET slack_version = slack_version + 1, updated_at = ? WHERE id = ?'),
      voteInsert: db.prepare(
        `INSERT INTO workflow_approval_votes (approval_id, voter, source, voter_id, voter_name, vote, comment, created_at, person)
         VALUES (@approval_id, @voter, @source, @voter_id, @voter_name, @vote, @comment, @created_at, @person)
         ON CONFLICT (approval_id, voter) DO NOTHING`,
      ),
      votes: db.prepare<[string], VoteRow>('SELECT * FROM workflow_approval_votes WHERE approval_id = ? ORDER BY created_at, voter'),
      slackDue: db.prepare<[number, number], ApprovalRow>(
        `SELECT * FROM workflow_approvals
         WHERE channel IS NOT NULL AND slack_synced < slack_version AND slack_error IS NULL AND slack_next_at <= ?
         ORDER BY slack_next_at, created_at LIMIT ?`,
      ),
      slackClaim: db.prepare(
        'UPDATE workflow_approvals SET slack_next_at = ? WHERE id = ? AND slack_next_at = ? AND slack_synced < slack_version',
      ),
      slackDone: db.prepare(
        `UPDATE workflow_approvals SET slack_ts = ?, channel = COALESCE(?, channel), slack_synced = ?, slack_next_at = 0,
           slack_attempts = 0
         WHERE id = ?`,
      ),
      slackRetry: db.prepare('UPDATE workflow_approvals SET slack_next_at = ?, slack_attempts = slack_attempts + 1 WHERE id = ?'),
      slackLater: db.prepare('UPDATE workflow_approvals SET slack_next_at = ? WHERE id = ?'),
      slackGiveUp: db.prepare('UPDATE workflow_approvals SET slack_error = ?, slack_next_at = 0 WHERE id = ?'),
      bySlackMessage: db.prepare<[string, string], ApprovalRow>('SELECT * FROM workflow_approvals WHERE channel = ? AND slack_ts = ?'),
      threadGet: db.prepare<[string], ThreadRow>('SELECT * FROM slack_threads WHERE run_id = ?'),
      threadInsert: db.prepare(
        `INSERT INTO slack_threads (run_id, channel, next_at, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (run_id) DO NOTHING`,
      ),
      threadClaim: db.prepare('UPDATE slack_threads SET next_at = ? WHERE run_id = ? AND next_at = ?'),
      threadPosted: db.prepare(
        `UPDATE slack_threads SET ts = ?, channel = COALESCE(?, channel), posted_status = ?, done = ?, next_at = 0, attempts = 0
         WHERE run_id = ?`,
      ),
      threadRetry: db.prepare('UPDATE slack_threads SET next_at = ?, attempts = attempts + 1 WHERE run_id = ?'),
      threadGiveUp: db.prepare('UPDATE slack_threads SET error = ?, next_at = 0 WHERE run_id = ?'),
      threadsStale: db.prepare<[number, number], StaleThread>(
        `SELECT t.*, r.status AS run_status FROM slack_threads t JOIN workflow_runs r ON r.id = t.run_id
         WHERE t.done = 0 AND t.error IS NULL AND t.next_at <= ?
           AND (t.ts IS NULL OR t.posted_status IS NOT r.status)
         ORDER BY t.next_at LIMIT ?`,
      ),
      nextSlackAt: db.prepare<[], { at: number | null }>(
        `SELECT MIN(at) AS at FROM (
           SELECT MIN(slack_next_at) AS at FROM workflow_approvals
             WHERE channel IS NOT NULL AND slack_synced < slack_version AND slack_error IS NULL
           UNION ALL
           SELECT MIN(0) FROM approval_outbox
           UNION ALL
           SELECT MIN(t.next_at) FROM slack_threads t JOIN workflow_runs r ON r.id = t.run_id
             WHERE t.done = 0 AND t.error IS NULL AND (t.ts IS NULL OR t.posted_status IS NOT r.status))`,
      ),
    };
  }

  // --- approvals
  insert(row: NewApproval): void {
    this.s.insert.run(row);
  }
  get(id: string): ApprovalRow | undefined {
    return this.s.get.get(id);
  }
  byStep(stepId: string, attempt: number): ApprovalRow | undefined {
    return this.s.byStep.get(stepId, attempt);
  }
  ofRun(runId: string): ApprovalRow[] {
    return this.s.ofRun.all(runId);
  }
  list(filter: ApprovalFilter): ApprovalRow[] {
    const where: string[] = [];
    const params: Array<string | number> = [];
    if (filter.status !== undefined) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (filter.runId !== undefined) {
      where.push('run_id = ?');
      params.push(filter.runId);
    }
    if (filter.before !== undefined) {
      where.push('(created_at, id) < (SELECT created_at, id FROM workflow_approvals WHERE id = ?)');
      params.push(filter.before);
    }
    params.push(filter.limit ?? 50);
    return this.db
      .prepare<Array<string | number>, ApprovalRow>(
        `SELECT * FROM workflow_approvals ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY created_at DESC, id DESC LIMIT ?`,
      )
      .all(...params);
  }
  /** Compare-and-set PENDING -> status. false: it was already decided (or closed) by someone else. */
  decide(id: string, status: Exclude<ApprovalStatus, 'PENDING'>, decision: string | null, decidedAt: string): boolean {
    return this.s.decide.run({ id, status, decision, decided_at: decidedAt }).changes === 1;
  }
  /** Something shown in the Slack message changed (a vote): the notifier updates it. */
  touch(id: string, at: string): void {
    this.s.touch.run(at, id);
  }

  // --- votes
  /** false: this person already voted. */
  addVote(row: VoteRow): boolean {
    return this.s.voteInsert.run(row).changes === 1;
  }
  votes(approvalId: string): VoteRow[] {
    return this.s.votes.all(approvalId);
  }

  // --- Slack outbox of approval messages
  slackDue(now: number, limit: number): ApprovalRow[] {
    return this.s.slackDue.all(now, limit);
  }
  /** Leases an approval's Slack work until `until` (compare-and-set on slack_next_at, so one notifier wins). */
  claimSlack(id: string, seenNextAt: number, until: number): boolean {
    return this.s.slackClaim.run(until, id, seenNextAt).changes === 1;
  }
  /**
   * The message is in line with `syncedVersion`. `channel`: the channel id Slack answered the post with (chat.update
   * needs the id, and the request goes to the run's thread, which may be in another channel than the step named).
   */
  slackDone(id: string, ts: string, syncedVersion: number, channel?: string): void {
    this.s.slackDone.run(ts, channel ?? null, syncedVersion, id);
  }
  slackRetry(id: string, nextAt: number): void {
    this.s.slackRetry.run(nextAt, id);
  }
  /** Looks again at `nextAt` without counting a failed attempt (the run's thread is not there yet). */
  slackLater(id: string, nextAt: number): void {
    this.s.slackLater.run(nextAt, id);
  }
  slackGiveUp(id: string, error: string): void {
    this.s.slackGiveUp.run(error, id);
  }
  bySlackMessage(channel: string, ts: string): ApprovalRow | undefined {
    return this.s.bySlackMessage.get(channel, ts);
  }

  // --- the outbox of new approvals (one row per approval to announce)
  enqueueNotice(approvalId: string, channel: string | null, at: string): void {
    this.s.noticeInsert.run(approvalId, channel, at);
  }
  /** The oldest notices first. */
  notices(limit: number): NoticeRow[] {
    return this.s.notices.all(limit);
  }
  /**
   * Takes a notice out of the outbox; with `to`, in the same transaction the approval gets its channel (unless it has
   * one) and the run a thread there (unless it has one), which makes its Slack message due.
   */
  takeNotice(noticeId: number, to: { approvalId: string; runId: string; channel: string } | undefined, at: string): void {
    this.db.transaction(() => {
      if (to) {
        this.s.route.run(to.channel, to.approvalId);
        this.s.threadInsert.run(to.runId, to.channel, 0, at);
      }
      this.s.noticeDelete.run(noticeId);
    })();
  }

  // --- threads (one per run)
  thread(runId: string): ThreadRow | undefined {
    return this.s.threadGet.get(runId);
  }
  /** Records that the run has a thread in `channel` (the root is posted by whoever claims it first). */
  openThread(runId: string, channel: string, now: number, at: string): void {
    this.s.threadInsert.run(runId, channel, now, at);
  }
  claimThread(runId: string, seenNextAt: number, until: number): boolean {
    return this.s.threadClaim.run(until, runId, seenNextAt).changes === 1;
  }
  /** The root message shows `status`; `channel`: the channel id Slack answered the first post with. */
  threadPosted(runId: string, ts: string, status: string, done: boolean, channel?: string): void {
    this.s.threadPosted.run(ts, channel ?? null, status, done ? 1 : 0, runId);
  }
  threadRetry(runId: string, nextAt: number): void {
    this.s.threadRetry.run(nextAt, runId);
  }
  threadGiveUp(runId: string, error: string): void {
    this.s.threadGiveUp.run(error, runId);
  }
  staleThreads(now: number, limit: number): StaleThread[] {
    return this.s.threadsStale.all(now, limit);
  }
  /** When the notifier next has Slack work due (ms), or null. */
  nextSlackAt(): number | null {
    return this.s.nextSlackAt.get()?.at ?? null;
  }
}
