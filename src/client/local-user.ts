import os from 'node:os';
import type { Actor } from '../approvals/types.js';

/** The user running this process (who starts, pauses or decides locally); some containers have no passwd entry. */
export function localUser(): string | undefined {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? undefined;
  }
}

/**
 * Who a local vote counts as: `as` (an email or user id), else the login name. The local CLI holds the database, so
 * this is who the operator says they are; it is matched against `approvers` and against the person's Slack and API
 * votes like any other identity (docs/approvals.md "Who counts").
 */
export function localActor(as: string | undefined): Actor {
  const who = as?.trim() || localUser() || 'unknown';
  return who.includes('@') ? { source: 'cli', id: who, name: who, email: who } : { source: 'cli', id: who, name: who, user: who };
}
