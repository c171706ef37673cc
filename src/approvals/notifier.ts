/**
 * The port through which approvals reach people outside Station (Slack today, in src/slack/). approvals/ never calls a
 * notifier and never imports one: it writes what there is to announce into the database, in the transaction that
 * changes the approval, and a notifier brings the outside world in line with it.
 *
 * - A new approval is queued in the outbox (`approval_outbox`, `ApprovalStore.enqueueNotice`) with the channel its step
 *   asked for. The notifier takes each notice (`ApprovalStore.notices`), decides where the approval goes (which channel,
 *   which thread: its own business) and takes the notice out (`ApprovalStore.takeNotice`) in one transaction.
 * - A vote, a decision or a timeout bumps the approval's message version; the notifier updates what it posted.
 *
 * The outbox survives a crash and is shared by every process on the database: an approval created by a process that
 * runs no notifier (or just before the daemon was killed) is announced once a daemon runs. A notifier that is down,
 * slow or in another process never blocks or loses a decision.
 */
export interface Notifier {
  /** Starts delivering: pending work in the database is picked up, new work as it is committed. */
  start(): void;
  /** Stops after the delivery in progress (if any) has finished. */
  stop(): Promise<void>;
  /** New work may have been committed in this process: look now instead of at the next poll. */
  poke(): void;
}
