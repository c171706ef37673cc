import type { Station } from '../context.js';
import { GitRunner, gitErrorText, isSpawnFailure } from './git-runner.js';

export interface GitStatus {
  branch: string | null;
  head: string | null;
  /** The remote-tracking ref followed, e.g. `origin/main`. */
  upstream: string | null;
  /** Tracked files have local changes: the checkout is not fast-forwarded (never reset). */
  dirty: boolean;
  /**
   * HEAD has commits the remote-tracking branch does not: the remote's history was rewritten (a force-pushed
   * rollback) or someone committed in the checkout. Not merged; reported (/readyz git_diverged) unless
   * `git.onDiverged: reset` moved the checkout to the remote.
   */
  diverged: boolean;
  /** The last fetch moved the remote-tracking branch to a commit that does not descend from where it was (force push). */
  remoteRewritten?: boolean;
  /** git could not be started (not on PATH): nothing is fetched. */
  gitMissing?: boolean;
  /** The last reset done because of `git.onDiverged: reset`. */
  lastReset?: { at: string; from: string | null; to: string } | null;
  ahead: number;
  behind: number;
  lastFetchAt: string | null;
  lastError: string | null;
  polling: boolean;
  intervalSeconds: number;
  /** The upstream commit last fetched (what a fast-forward would move HEAD to). */
  upstreamHead?: string | null;
  /** When HEAD last moved by a fast-forward of this process. */
  lastUpdateAt?: string | null;
  /** Why the last refresh did not move HEAD (up to date, dirty, diverged, wrong branch), null after a move. */
  lastReason?: string | null;
}

export interface RefreshResult {
  updated: boolean;
  head: string | null;
  reason?: string;
}

/**
 * Keeps the checkout up to date with its remote (README "Git sync while running"): `git fetch` + `git merge --ff-only`
 * every `git.pollSeconds`, or at once on `refresh()` (the push webhook). A dirty checkout is reported in `status()` and
 * the log and left exactly as it is; a diverged one too, unless `git.onDiverged: reset` (then only when it is clean).
 */
export class GitPoller {
  private readonly station: Station;
  private readonly git: GitRunner;
  private readonly onUpdated: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private current: Promise<RefreshResult> | undefined;
  private queued: Promise<RefreshResult> | undefined;
  private readonly state: GitStatus;
  /** HEAD and remote head of the divergence last logged (logged once until it changes). */
  private lastDiverged: string | undefined;

  constructor(opts: { station: Station; onUpdated?: () => void }) {
    this.station = opts.station;
    this.git = new GitRunner(opts.station.config.repo);
    this.onUpdated = opts.onUpdated;
    this.state = {
      branch: null,
      head: null,
      upstream: null,
      dirty: false,
      diverged: false,
      ahead: 0,
      behind: 0,
      lastFetchAt: null,
      lastError: null,
      polling: false,
      intervalSeconds: opts.station.config.git.pollSeconds,
      upstreamHead: null,
      lastUpdateAt: null,
      lastReason: null,
      remoteRewritten: false,
      gitMissing: false,
      lastReset: null,
    };
  }

  /** Starts polling; a no-op when `git.pollSeconds` is 0 or the checkout has no such remote. */
  start(): void {
    const seconds = this.station.config.git.pollSeconds;
    if (seconds <= 0 || this.polling) return;
    this.polling = true;
    void this.hasRemote().then((ok) => {
      if (!this.polling) return;
      if (this.state.gitMissing) {
        this.polling = false;
        this.station.logger.error({ error_type: 'STN_E_GIT_MISSING' }, 'git polling off: git is not on PATH');
        return;
      }
      if (!ok) {
        this.polling = false;
        this.station.logger.info({ remote: this.station.config.git.remote }, 'git polling off: the checkout has no such remote');
        return;
      }
      this.state.polling = true;
      this.station.logger.info({ remote: this.station.config.git.remote, interval_seconds: seconds }, 'git polling started');
      this.loop(0);
    });
  }

  stop(): void {
    this.polling = false;
    this.state.polling = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  status(): GitStatus {
    return { ...this.state };
  }

  /**
   * `status()` with the checkout read now: branch, HEAD and local changes to tracked files (no fetch). So
   * `GET /sync/status` tells the truth without polling too, e.g. for a checkout edited by hand that has no remote.
   * What the poller learned about the remote (ahead, behind, diverged, last fetch) stays as last seen.
   */
  async checkout(): Promise<GitStatus> {
    if (this.station.git.isRepo) {
      try {
        const [branch, head, changes] = await Promise.all([
          this.git.line('symbolic-ref', '--quiet', '--short', 'HEAD').catch(() => ''),
          this.station.git.head(),
          this.git.line('status', '--porcelain', '--untracked-files=no'),
        ]);
        this.state.branch = branch || null;
        this.state.head = head;
        this.state.dirty = changes !== '';
      } catch (err) {
        this.station.logger.warn({ error: gitErrorText(err) }, 'could not read the git checkout for the sync status');
      }
    }
    return this.status();
  }

  /**
   * Fetches and fast-forwards now. Calls made while one runs wait for it and then run once more (together): a push
   * that arrives during a fetch is never missed, and a burst of pushes costs two fetches, not one per push.
   */
  refresh(): Promise<RefreshResult> {
    if (!this.current) {
      this.current = this.refreshNow().finally(() => {
        this.current = undefined;
      });
      return this.current;
    }
    this.queued ??= this.current
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.refresh();
      });
    return this.queued;
  }

  private loop(delayMs: number): void {
    if (!this.polling) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh()
        .catch(() => undefined)
        .finally(() => this.loop(this.station.config.git.pollSeconds * 1000));
    }, delayMs);
    this.timer.unref();
  }

  private async refreshNow(): Promise<RefreshResult> {
    const { remote } = this.station.config.git;
    const log = this.station.logger;
    try {
      if (!(await this.hasRemote())) {
        if (this.state.gitMissing) throw Object.assign(new Error('spawn git ENOENT'), { code: 'ENOENT' });
        return this.done(false, null, `the checkout has no remote "${remote}"`);
      }
      const branch = (await this.git.line('symbolic-ref', '--quiet', '--short', 'HEAD').catch(() => '')) || null;
      this.state.branch = branch;
      const wanted = this.station.config.git.branch ?? branch;
      if (!branch || !wanted) return this.done(false, await this.station.git.head(), 'HEAD is detached: not following a branch');
      if (branch !== wanted) {
        return this.done(false, await this.station.git.head(), `the checkout is on branch "${branch}", not "${wanted}" (git.branch): not merging`);
      }
      const upstream = `${remote}/${wanted}`;
      const tracking = `refs/remotes/${upstream}`;
      this.state.upstream = upstream;
      const before = await this.git.line('rev-parse', '--verify', '--quiet', tracking).catch(() => '');
      await this.git.line('fetch', '--quiet', '--no-tags', remote, `+refs/heads/${wanted}:${tracking}`);
      this.state.lastFetchAt = new Date().toISOString();
      const upstreamHead = await this.git.line('rev-parse', '--verify', '--quiet', tracking);
      this.state.upstreamHead = upstreamHead;
      if (before !== '' && before !== upstreamHead) this.state.remoteRewritten = !(await this.isAncestor(before, upstreamHead));
      const [ahead, behind] = (await this.git.line('rev-list', '--left-right', '--count', `HEAD...${tracking}`))
        .split(/\s+/)
        .map(Number) as [number, number];
      this.state.ahead = ahead;
      this.state.behind = behind;
      this.state.diverged = ahead > 0;
      if (ahead === 0) this.state.remoteRewritten = false;
      this.state.dirty = (await this.git.line('status', '--porcelain', '--untracked-files=no')) !== '';
      const head = await this.station.git.head();
      if (ahead > 0) return this.diverged(upstream, upstreamHead, head, ahead, behind);
      this.lastDiverged = undefined;
      if (behind === 0) return this.done(false, head, 'up to date');
      if (this.state.dirty) {
        log.warn({ upstream, behind, head }, 'git checkout has local changes to tracked files: not fast-forwarding (never reset)');
        return this.done(false, head, `local changes to tracked files: not fast-forwarding ${behind} commit(s) from ${upstream}`);
      }
      await this.git.line('merge', '--ff-only', '--quiet', tracking);
      const moved = await this.station.git.head();
      this.state.behind = 0;
      this.state.lastUpdateAt = new Date().toISOString();
      log.info({ upstream, from: head, to: moved, commits: behind }, 'git checkout fast-forwarded');
      this.done(true, moved);
      this.onUpdated?.();
      return { updated: true, head: moved };
    } catch (err) {
      const message = isSpawnFailure(err) ? 'git is not on PATH' : gitErrorText(err);
      if (isSpawnFailure(err)) this.state.gitMissing = true;
      this.state.lastError = message;
      log.error({ remote, error: message, error_type: isSpawnFailure(err) ? 'STN_E_GIT_MISSING' : 'STN_E_GIT' }, 'git refresh failed');
      return { updated: false, head: await this.station.git.head(), reason: message };
    }
  }

  /**
   * HEAD has `ahead` commits the remote lacks. In a checkout only Station moves, that means the remote's history was
   * rewritten (a force-pushed rollback); it could also be a commit made in the checkout by hand. Reported (one log
   * line per new situation, /readyz git_diverged, station_git_diverged, the sync status), or with
   * `git.onDiverged: reset` and no local changes to tracked files, the checkout is reset to the remote and synced.
   */
  private async diverged(upstream: string, upstreamHead: string, head: string | null, ahead: number, behind: number): Promise<RefreshResult> {
    const log = this.station.logger;
    const rewritten = this.state.remoteRewritten === true;
    const what = rewritten ? 'the remote history was rewritten (force push)' : 'the checkout has commits the remote does not';
    const reset = this.station.config.git.onDiverged === 'reset';
    if (reset && !this.state.dirty) {
      await this.git.line('reset', '--hard', '--quiet', upstreamHead);
      const moved = await this.station.git.head();
      const at = new Date().toISOString();
      this.state.lastReset = { at, from: head, to: upstreamHead };
      this.state.diverged = false;
      this.state.remoteRewritten = false;
      this.state.ahead = 0;
      this.state.behind = 0;
      this.state.lastUpdateAt = at;
      this.lastDiverged = undefined;
      log.warn(
        { upstream, from: head, to: moved, dropped_commits: ahead, error_type: 'STN_E_GIT_DIVERGED' },
        `git checkout reset to ${upstream} (git.onDiverged: reset): ${what}; the dropped commits stay reachable from the reflog (git reflog)`,
      );
      this.done(true, moved);
      this.onUpdated?.();
      return { updated: true, head: moved };
    }
    const key = `${head ?? ''}:${upstreamHead}`;
    const why = reset ? 'tracked files have local changes, so git.onDiverged: reset does not apply' : 'fix it by hand (docs/reliability.md "Git") or set git.onDiverged: reset';
    if (this.lastDiverged !== key) {
      this.lastDiverged = key;
      log.warn(
        { upstream, ahead, behind, head, upstream_head: upstreamHead, remote_rewritten: rewritten, error_type: 'STN_E_GIT_DIVERGED' },
        `git checkout diverged from ${upstream}: ${what}; not merging: ${why}`,
      );
    }
    return this.done(false, head, `diverged from ${upstream}: ${ahead} local and ${behind} remote commit(s); ${what}: ${why}`);
  }

  private async isAncestor(ancestor: string, of: string): Promise<boolean> {
    try {
      await this.git.line('merge-base', '--is-ancestor', ancestor, of);
      return true;
    } catch {
      return false;
    }
  }

  private done(updated: boolean, head: string | null, reason?: string): RefreshResult {
    this.state.head = head;
    this.state.lastError = null;
    this.state.lastReason = reason ?? null;
    return { updated, head, ...(reason !== undefined ? { reason } : {}) };
  }

  private async hasRemote(): Promise<boolean> {
    if (!this.station.git.isRepo) return false;
    try {
      await this.git.line('remote', 'get-url', this.station.config.git.remote);
      this.state.gitMissing = false;
      return true;
    } catch (err) {
      if (isSpawnFailure(err)) this.state.gitMissing = true;
      return false;
    }
  }
}
