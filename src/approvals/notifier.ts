/**
 * Something that tells people about approvals outside Station (Slack today). The approval service never calls it
 * directly: approvals and their message state live in SQLite, and a notifier brings the outside world in line with
 * them (a durable outbox), so a notifier that is down, slow or in another process never blocks or loses a decision.
 */
export interface Notifier {
  /** Starts delivering: pending work in the database is picked up, new work as it is committed. */
  start(): void;
  /** Stops after the delivery in progress (if any) has finished. */
  stop(): Promise<void>;
  /** New work may have been committed in this process: look now instead of at the next poll. */
  poke(): void;
}
