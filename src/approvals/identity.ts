import type { VoteRow } from '../store/approvals.js';
import type { Actor } from './types.js';

/**
 * Who a voter is, whatever the way they voted (docs/approvals.md "Who counts"): a Slack click is its Slack user id
 * (and the email Slack gives for it), an API vote is the person configured on the token (`user`, `email`), a CLI vote
 * is `--as` or the login name. Identities are compared normalized (trimmed, lower-case): `email:<address>` and
 * `user:<id or login>`. Display names are never identities: anyone can pick one.
 */
export function personKeys(actor: Pick<Actor, 'email' | 'user'>): string[] {
  const keys: string[] = [];
  const email = normalize(actor.email);
  if (email) keys.push(`email:${email}`);
  const user = normalize(actor.user);
  if (user) keys.push(`user:${user}`);
  return keys;
}

/** The identities recorded with a vote; a vote from before they were recorded is its `source:id` key. */
export function voteKeys(v: Pick<VoteRow, 'person' | 'voter'>): string[] {
  if (v.person !== null) {
    try {
      return JSON.parse(v.person) as string[];
    } catch {
      // fall through to the voter key
    }
  }
  return [`voter:${v.voter.toLowerCase()}`];
}

/** Whether two sets of identities name one person (any shared email or user id). */
export function samePerson(a: readonly string[], b: readonly string[]): boolean {
  return a.some((k) => b.includes(k));
}

/** An approval's `approvers`, resolved: user ids (Slack ids, logins) and emails, normalized. */
export interface ApproverSet {
  users: ReadonlySet<string>;
  emails: ReadonlySet<string>;
  /** `group:` entries that could not be resolved (no Slack here): nobody matches them. */
  unresolvedGroups: readonly string[];
}

/** What resolves approvers through Slack (src/slack/directory.ts): emails and groups to Slack user ids. */
export interface ApproverDirectory {
  resolve(approvers: readonly string[]): Promise<Set<string>>;
  /** A Slack user's email, when Slack tells it. */
  emailOf(userId: string): Promise<string | undefined>;
}

/**
 * Resolves `approvers` without Slack: emails and user ids as written; `group:` entries stay unresolved (a group can
 * only be expanded through Slack, so nobody matches it here).
 */
export function staticApprovers(approvers: readonly string[]): ApproverSet {
  const users = new Set<string>();
  const emails = new Set<string>();
  const unresolvedGroups: string[] = [];
  for (const a of approvers) {
    if (a.startsWith('group:')) unresolvedGroups.push(a);
    else if (a.includes('@')) emails.add(normalize(a) ?? '');
    else users.add(normalize(a) ?? '');
  }
  return { users, emails, unresolvedGroups };
}

/** Resolves `approvers` with Slack: groups to their members and emails to Slack user ids too. Slack errors propagate. */
export async function resolveApprovers(approvers: readonly string[], directory: ApproverDirectory): Promise<ApproverSet> {
  const base = staticApprovers(approvers);
  const users = new Set(base.users);
  for (const id of await directory.resolve(approvers)) users.add(normalize(id) ?? '');
  return { users, emails: base.emails, unresolvedGroups: [] };
}

/** Whether the voter is one of the approvers: one of their identities is listed (or is a member of a listed group). */
export function isApprover(set: ApproverSet, actor: Pick<Actor, 'email' | 'user'>): boolean {
  const email = normalize(actor.email);
  const user = normalize(actor.user);
  return (email !== undefined && set.emails.has(email)) || (user !== undefined && set.users.has(user));
}

function normalize(v: string | undefined): string | undefined {
  const n = v?.trim().toLowerCase();
  return n === undefined || n === '' ? undefined : n;
}
