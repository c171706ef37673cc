import { randomBytes } from 'node:crypto';
import type { JsonValue } from '../definitions/types.js';
import { appendRunEvent } from '../engine/append-event.js';
import type { RunEvent, RunEventMap, RunEventType, RunEvents } from '../engine/events.js';
import { NotFoundError, StationError } from '../errors.js';
import type { ApprovalFilter, ApprovalRow, ApprovalStore, VoteRow } from '../store/approvals.js';
import { TERMINAL_RUN, type RunRow, type RunStore, type StepRow } from '../store/runs.js';
import { isApprover, personKeys, samePerson, staticApprovers, voteKeys, type ApproverSet } from './identity.js';
import { approversOf, decisionOf, type Actor, type ApprovalRequest, type Decision } from './types.js';

export interface ApprovalServiceOptions {
  store: ApprovalStore;
  runs: RunStore;
  events: RunEvents;
  /**
   * Whether a notifier announces new approvals (Slack is configured): each new approval is then queued in the outbox
   * (src/approvals/notifier.ts). false: nothing is queued, nobody would take it.
   */
  notify: boolean;
  now?: () => number;
  /** Wakes this process's engine (a decision enqueued a task). */
  poke?: () => void;
}

export interface DecideRequest {
  approvalId: string;
  /** When given, the approval must belong to this run (API paths name both). */
  runId?: string | undefined;
  vote: 'approve' | 'reject';
  actor: Actor;
  comment?: string | undefined;
  /**
   * The approval's `approvers`, resolved by the caller (through Slack, which expands groups and emails). Without it
   * they are resolved here without Slack: emails and user ids as written, `group:` entries match nobody. The list
   * applies to every source: Slack, API and CLI.
   */
  approvers?: ApproverSet | undefined;
}

export interface DecideResult {
  approval: ApprovalRow;
  /** `decided`: this vote decided the approval; `recorded`: an approval vote was counted, more are needed. */
  outcome: 'decided' | 'recorded';
  decision: Decision | undefined;
  /** Approvals still needed (0 once decided). */
  remaining: number;
}

/** Why a decision was refused (audited as `approval:refused`, except a second vote). */
export type Refusal = 'not-approver' | 'self-approval' | 'already-voted' | 'wrong-message';

/** Thrown when an approval is no longer PENDING: the first decision stands. */
export class ApprovalDecidedError extends StationError {
  constructor(readonly approval: ApprovalRow) {
    const d = decisionOf(approval);
    const who = d ? ` by ${d.by.name} (${d.by.source}) at ${d.decidedAt}` : '';
    super('STN_E_APPROVAL_DECIDED', `approval ${approval.id} is already ${approval.status.toLowerCase()}${who}`, {
      status: approval.status,
      decision: d ?? null,
    });
    this.name = 'ApprovalDecidedError';
  }
}

export class ApprovalForbiddenError extends StationError {
  constructor(readonly reason: Refusal, message: string) {
    super('STN_E_APPROVAL_FORBIDDEN', message, { reason });
    this.name = 'ApprovalForbiddenError';
  }
}

/** Approval ids sort by creation time, like run ids. */
export function newApprovalId(nowMs: number): string {
  return `a${nowMs.toString(36).padStart(9, '0')}${randomBytes(6).toString('hex')}`;
}

/**
 * Approvals (docs/approvals.md): created by the engine inside the transaction that suspends the step, decided by Slack,
 * the API or the CLI with a compare-and-set (first valid decision wins), timed out by a durable engine task. A decision
 * never touches the step itself: it enqueues a `wake` task, and the engine (in whatever process holds the run)
 * completes the step with the decision as its result, or fails it on reject.
 */
export class ApprovalService {
  constructor(private readonly o: ApprovalServiceOptions) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  // ---------------------------------------------------------------- engine side (inside the engine's transaction)

  /** Records a new PENDING approval for a step attempt and, in the same transaction, queues it for the notifier. */
  createInTx(run: RunRow, step: StepRow, req: ApprovalRequest, summary: JsonValue | undefined, nowMs: number): ApprovalRow {
    const existing = this.o.store.byStep(step.id, step.attempt);
    if (existing) return existing;
    const at = new Date(nowMs).toISOString();
    const id = newApprovalId(nowMs);
    this.o.store.insert({
      id,
      run_id: run.id,
      step_id: step.id,
      attempt: step.attempt,
      environment: run.environment,
      workflow_id: run.workflow_id,
      state_name: step.state_name,
      message: req.message,
      summary: summary === undefined ? null : JSON.stringify(summary),
      approvers: JSON.stringify(req.approvers),
      required_approvals: req.requiredApprovals,
      allow_self_approval: req.allowSelfApproval ? 1 : 0,
      initiator: run.initiator,
      on_timeout: req.onTimeout,
      timeout_at: req.timeoutAt ?? null,
      created_at: at,
    });
    if (this.o.notify) this.o.store.enqueueNotice(id, req.channel ?? null, at);
    return this.o.store.get(id) as ApprovalRow;
  }

  /**
   * The approval's deadline passed: compare-and-set to TIMED_OUT with the decision `onTimeout` gives. undefined: it was
   * decided first (the decision's own task completes the step).
   */
  timeoutInTx(approvalId: string, nowMs: number): { decision: Decision; onTimeout: ApprovalRow['on_timeout'] } | undefined {
    const a = this.o.store.get(approvalId);
    if (!a || a.status !== 'PENDING') return undefined;
    const at = new Date(nowMs).toISOString();
    const approved = a.on_timeout === 'approve';
    const decision: Decision = {
      approved,
      decision: approved ? 'approved' : a.on_timeout === 'reject' ? 'rejected' : 'timed_out',
      by: { source: 'timeout', id: 'timeout', name: 'timeout' },
      comment: null,
      decidedAt: at,
      approvals: this.approvalVotes(a.id),
      timedOut: true,
    };
    if (!this.o.store.decide(a.id, 'TIMED_OUT', JSON.stringify(decision), at)) return undefined;
    return { decision, onTimeout: a.on_timeout };
  }

  /** The decision of an approval that was decided (APPROVED or REJECTED), for the engine to apply. */
  outcome(approvalId: string): { status: ApprovalRow['status']; decision: Decision | undefined } | undefined {
    const a = this.o.store.get(approvalId);
    if (!a) return undefined;
    return { status: a.status, decision: decisionOf(a) };
  }

  /** The step stopped waiting for another reason (cancel, run failure, step timeout): the approval closes. */
  closeInTx(approvalId: string, nowMs: number): boolean {
    return this.o.store.decide(approvalId, 'CANCELLED', null, new Date(nowMs).toISOString());
  }

  // ---------------------------------------------------------------- decisions (Slack, API, CLI)

  /**
   * Records a vote. Reject decides at once; approve decides once `requiredApprovals` distinct people approved.
   * Throws ApprovalDecidedError (409) when the approval is no longer pending, ApprovalForbiddenError (403) for a person
   * who may not decide (audited as `approval:refused`), NotFoundError for an unknown id.
   */
  decide(req: DecideRequest): DecideResult {
    const published: RunEvent[] = [];
    // Errors that must not roll back what this transaction recorded (an audit event, a closed approval).
    let failure: StationError | undefined;
    const result = this.o.runs.transaction((): DecideResult | undefined => {
      const a = this.o.store.get(req.approvalId);
      if (!a || (req.runId !== undefined && a.run_id !== req.runId)) {
        throw new NotFoundError(`no approval "${req.approvalId}"${req.runId !== undefined ? ` in run ${req.runId}` : ''}`);
      }
      if (a.status !== 'PENDING') throw new ApprovalDecidedError(a);
      const run = this.o.runs.run(a.run_id);
      if (!run) throw new NotFoundError(`run ${a.run_id} of approval ${a.id} no longer exists`);
      const nowMs = this.now();
      const at = new Date(nowMs).toISOString();
      if (TERMINAL_RUN.has(run.status)) {
        this.o.store.decide(a.id, 'CANCELLED', null, at);
        failure = new ApprovalDecidedError(this.o.store.get(a.id) as ApprovalRow);
        return undefined;
      }
      const by = { source: req.actor.source, id: req.actor.id, name: req.actor.name };
      const refusal = this.refusal(a, req);
      if (refusal) {
        failure = new ApprovalForbiddenError(refusal, refusalText(refusal, a, req.actor));
        if (refusal !== 'already-voted') {
          published.push(this.appendEvent(run, a.step_id, 'approval:refused', { approvalId: a.id, by, vote: req.vote, reason: refusal }, at));
        }
        return undefined;
      }
      const comment = req.comment !== undefined && req.comment.trim() !== '' ? req.comment.trim() : null;
      const person = actorKeys(req.actor);
      this.o.store.addVote({
        person: JSON.stringify(person),
        approval_id: a.id,
        voter: `${req.actor.source}:${req.actor.id}`,
        source: req.actor.source,
        voter_id: req.actor.id,
        voter_name: req.actor.name,
        vote: req.vote,
        comment,
        created_at: at,
      });
      const approvals = this.approvalVotes(a.id);
      const remaining = req.vote === 'approve' ? Math.max(0, a.required_approvals - approvals.length) : 0;
      if (req.vote === 'approve' && remaining > 0) {
        this.o.store.touch(a.id, at);
        published.push(
          this.appendEvent(run, a.step_id, 'approval:voted', { approvalId: a.id, by, comment, approvals: approvals.length, required: a.required_approvals }, at),
        );
        return { approval: this.o.store.get(a.id) as ApprovalRow, outcome: 'recorded', decision: undefined, remaining };
      }
      const decision: Decision = {
        approved: req.vote === 'approve',
        decision: req.vote === 'approve' ? 'approved' : 'rejected',
        by,
        comment,
        decidedAt: at,
        approvals,
      };
      if (!this.o.store.decide(a.id, req.vote === 'approve' ? 'APPROVED' : 'REJECTED', JSON.stringify(decision), at)) {
        throw new ApprovalDecidedError(this.o.store.get(a.id) as ApprovalRow);
      }
      published.push(
        this.appendEvent(run, a.step_id, 'approval:decided', { approvalId: a.id, decision: decision.decision, approved: decision.approved, by, comment }, at),
      );
      // The engine holding the run applies the decision to the step (within its poll interval in another process).
      this.o.runs.insertTask(run.id, 'wake', a.step_id, { reason: 'approval', approvalId: a.id }, nowMs);
      return { approval: this.o.store.get(a.id) as ApprovalRow, outcome: 'decided', decision, remaining: 0 };
    });
    for (const e of published) this.o.events.emit(e);
    if (failure) throw failure;
    this.o.poke?.();
    return result as DecideResult;
  }

  private refusal(a: ApprovalRow, req: DecideRequest): Refusal | undefined {
    const approvers = approversOf(a);
    if (approvers.length > 0 && !isApprover(req.approvers ?? staticApprovers(approvers), req.actor)) return 'not-approver';
    if (req.vote === 'approve' && a.allow_self_approval === 0 && isInitiator(a.initiator, req.actor)) return 'self-approval';
    // One person, one vote: a Slack click and an API or CLI vote that resolve to the same person count once.
    const me = actorKeys(req.actor);
    const voter = `${req.actor.source}:${req.actor.id}`;
    if (this.o.store.votes(a.id).some((v) => v.voter === voter || samePerson(voteKeys(v), me))) return 'already-voted';
    return undefined;
  }

  /**
   * Records a refusal decided outside a vote (a Slack click on a message that is not the approval's own) as
   * `approval:refused`, for audit. Nothing else changes; unknown or decided approvals are left alone.
   */
  refuse(approvalId: string, actor: Actor, vote: 'approve' | 'reject', reason: Refusal): void {
    const published: RunEvent[] = [];
    this.o.runs.transaction(() => {
      const a = this.o.store.get(approvalId);
      if (!a || a.status !== 'PENDING') return;
      const run = this.o.runs.run(a.run_id);
      if (!run) return;
      const by = { source: actor.source, id: actor.id, name: actor.name };
      published.push(this.appendEvent(run, a.step_id, 'approval:refused', { approvalId: a.id, by, vote, reason }, new Date(this.now()).toISOString()));
    });
    for (const e of published) this.o.events.emit(e);
  }

  private approvalVotes(approvalId: string): Decision['approvals'] {
    return this.o.store
      .votes(approvalId)
      .filter((v) => v.vote === 'approve')
      .map((v) => ({ source: v.source, id: v.voter_id, name: v.voter_name, comment: v.comment, at: v.created_at }));
  }

  /** Appends a run event outside the engine (the run row is re-read inside this transaction, so its seq is current). */
  private appendEvent<T extends RunEventType>(run: RunRow, stepId: string, type: T, data: RunEventMap[T], at: string): RunEvent {
    const event = appendRunEvent((id, row) => this.o.runs.insertEventRow(id, row), run, type, stepId, data, at);
    run.updated_at = at;
    this.o.runs.updateRun(run);
    return event;
  }

  // ---------------------------------------------------------------- reading

  get(id: string): ApprovalRow {
    const a = this.o.store.get(id);
    if (!a) throw new NotFoundError(`no approval "${id}"`);
    return a;
  }

  list(filter: ApprovalFilter): ApprovalRow[] {
    return this.o.store.list(filter);
  }

  ofRun(runId: string): ApprovalRow[] {
    if (!this.o.runs.run(runId)) throw new NotFoundError(`no run "${runId}"`);
    return this.o.store.ofRun(runId);
  }

  votes(approvalId: string): VoteRow[] {
    return this.o.store.votes(approvalId);
  }
}

/**
 * Whether the decider started the run. The initiator is the CLI user (`stn run`), the API token name, or whatever
 * started it; compared case-insensitively with the decider's id, name, email and the email's local part, with an
 * optional `source:` prefix ignored. Runs started by cron or a webhook (`cron:<trigger>`, `webhook:<trigger>`) have no
 * person as initiator, so self-approval never applies to them.
 */
export function isInitiator(initiator: string | null, actor: Actor): boolean {
  if (initiator === null || initiator === '') return false;
  const who = initiator.toLowerCase();
  // A cron slot or a webhook delivery started the run, not a person: the trigger's name is nobody's identity.
  if (who.startsWith('cron:') || who.startsWith('webhook:')) return false;
  const bare = who.includes(':') ? who.slice(who.indexOf(':') + 1) : who;
  const names = [actor.id, actor.name, actor.email, actor.email?.split('@')[0], actor.user]
    .filter((n): n is string => typeof n === 'string' && n !== '')
    .map((n) => n.toLowerCase());
  return names.includes(who) || names.includes(bare);
}

function refusalText(reason: Refusal, a: ApprovalRow, actor: Actor): string {
  switch (reason) {
    case 'not-approver':
      return `${actor.name} is not one of the approvers of approval ${a.id}`;
    case 'self-approval':
      return `${actor.name} started this run and may not approve it (allowSelfApproval: false)`;
    case 'already-voted':
      return `${actor.name} already voted on approval ${a.id} (from Slack, the API or the CLI); it needs ${a.required_approvals} distinct people`;
    case 'wrong-message':
      return `this button does not belong to the Slack message of approval ${a.id}`;
    default: {
      const never: never = reason;
      return String(never);
    }
  }
}

/** A voter's identities plus its source-specific key (a token without a person is still itself). */
function actorKeys(actor: Actor): string[] {
  return [...personKeys(actor), `voter:${actor.source}:${actor.id}`.toLowerCase()];
}

/** The engine's view of the service (InterpreterDeps['approvals']): every call joins the engine's transaction. */
export function approvalHooks(service: ApprovalService) {
  return {
    create: (run: RunRow, step: StepRow, request: ApprovalRequest, summary: JsonValue | undefined, nowMs: number) =>
      service.createInTx(run, step, request, summary, nowMs),
    timeout: (approvalId: string, nowMs: number) => service.timeoutInTx(approvalId, nowMs),
    outcome: (approvalId: string) => service.outcome(approvalId),
    close: (approvalId: string, nowMs: number) => {
      service.closeInTx(approvalId, nowMs);
    },
  };
}
