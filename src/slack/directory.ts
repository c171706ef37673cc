import type { Logger } from '../log.js';
import { slackErrorCode, type WebClient } from './client.js';

interface Cached<T> {
  value: T;
  until: number;
}

/**
 * Resolves `approvers` (Slack user ids, emails, `group:<usergroup id or handle>`) to Slack user ids, with a cache:
 * `users.lookupByEmail` and `usergroups.users.list` answers are kept for `ttlMs` (groups change rarely, clicks are
 * frequent). An email Slack does not know resolves to nobody; an API failure throws, so no one is refused by mistake.
 */
export class SlackDirectory {
  private readonly emails = new Map<string, Cached<string | null>>();
  private readonly groups = new Map<string, Cached<string[]>>();
  private readonly handles = new Map<string, Cached<string | null>>();
  private readonly userEmails = new Map<string, Cached<string | null>>();

  constructor(
    private readonly client: WebClient,
    private readonly logger: Logger,
    private readonly ttlMs = 10 * 60 * 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The user ids the approvers stand for. */
  async resolve(approvers: readonly string[]): Promise<Set<string>> {
    const ids = new Set<string>();
    for (const a of approvers) {
      if (a.startsWith('group:')) {
        for (const u of await this.groupMembers(a.slice('group:'.length))) ids.add(u);
      } else if (a.includes('@')) {
        const id = await this.userByEmail(a);
        if (id) ids.add(id);
      } else {
        ids.add(a);
      }
    }
    return ids;
  }

  /** A user's email (users.info; needs users:read.email), for the self-approval check; undefined when unknown. */
  async emailOf(userId: string): Promise<string | undefined> {
    return (
      (await this.cached(this.userEmails, userId, async () => {
        try {
          const res = await this.client.users.info({ user: userId });
          return res.user?.profile?.email ?? null;
        } catch (err) {
          this.logger.debug({ err: slackErrorCode(err), user: userId }, 'users.info failed; self-approval is checked by name only');
          return null;
        }
      })) ?? undefined
    );
  }

  private async userByEmail(email: string): Promise<string | null> {
    return this.cached(this.emails, email.toLowerCase(), async () => {
      try {
        const res = await this.client.users.lookupByEmail({ email });
        return res.user?.id ?? null;
      } catch (err) {
        if (slackErrorCode(err) === 'users_not_found') return null;
        throw err;
      }
    });
  }

  private async groupMembers(group: string): Promise<string[]> {
    const id = /^S[A-Z0-9]+$/.test(group) ? group : await this.groupIdOf(group);
    if (!id) {
      this.logger.warn({ group }, 'approvers name a Slack user group that does not exist');
      return [];
    }
    return this.cached(this.groups, id, async () => {
      const res = await this.client.usergroups.users.list({ usergroup: id });
      return res.users ?? [];
    });
  }

  /** A group handle (`sre-oncall`) to its id, through usergroups.list. */
  private async groupIdOf(handle: string): Promise<string | null> {
    const h = handle.replace(/^@/, '').toLowerCase();
    return this.cached(this.handles, h, async () => {
      const res = await this.client.usergroups.list({});
      const found = (res.usergroups ?? []).find((g) => g.handle?.toLowerCase() === h || g.name?.toLowerCase() === h);
      return found?.id ?? null;
    });
  }

  private async cached<T>(map: Map<string, Cached<T>>, key: string, load: () => Promise<T>): Promise<T> {
    const hit = map.get(key);
    if (hit && hit.until > this.now()) return hit.value;
    const value = await load();
    map.set(key, { value, until: this.now() + this.ttlMs });
    return value;
  }
}
