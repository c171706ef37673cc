import { execFile } from 'node:child_process';
import type { Station } from '../context.js';

export interface GitStatus {
  branch: string | null;
  head: string | null;
  /** The remote-tracking ref followed, e.g. `origin/main`. */
  upstream: string | null;
  /** Tracked files have local changes: the checkout is not fast-forwarded (never reset). */
  dirty: boolean;
  /** Local commits and remote commits both exist: the checkout is not fast-forwarded (never reset). */
  diverged: boolean;
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

/** A fetch or merge that takes longer than this is abandoned (a hung remote must not stall the poller forever). */
const GIT_TIMEOUT_MS = 60_000;

/**
 * Keeps the checkout up to date with its remote (DESIGN §4): `git fetch` + `git merge --ff-only` every
 * `git.pollSeconds`, or at once on `refresh()` (the push webhook). A dirty or diverged checkout is reported in
 * `status()` and the log, and left exactly as it is: Station never resets, stashes or force-moves anything.
 */
export class GitPoller {
  private readonly station: Station;
  private readonly onUpdated: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private current: Promise<RefreshResult> | undefined;
  private queued: Promise<RefreshResult> | undefined;
  private readonly state: GitStatus;

  constructor(opts: { station: Station; onUpdated?: () => void }) {
    this.station = opts.station;
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
    };
  }

  /** Starts polling; a no-op when `git.pollSeconds` is 0 or the checkout has no such remote. */
  start(): void {
    const seconds = this.station.config.git.pollSeconds;
    if (seconds <= 0 || this.polling) return;
    this.polling = true;
    void this.hasRemote().then((ok) => {
      if (!this.polling) return;
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
          this.git('symbolic-ref', '--quiet', '--short', 'HEAD').catch(() => ''),
          this.station.git.head(),
          this.git('status', '--porcelain', '--untracked-files=no'),
        ]);
        this.state.branch = branch || null;
        this.state.head = head;
        this.state.dirty = changes !== '';
      } catch (err) {
        this.station.logger.warn({ error: gitMessage(err) }, 'could not read the git checkout for the sync status');
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
      if (!(await this.hasRemote())) return this.done(false, null, `the checkout has no remote "${remote}"`);
      const branch = (await this.git('symbolic-ref', '--quiet', '--short', 'HEAD').catch(() => '')) || null;
      this.state.branch = branch;
      const wanted = this.station.config.git.branch ?? branch;
      if (!branch || !wanted) return this.done(false, await this.station.git.head(), 'HEAD is detached: not following a branch');
      if (branch !== wanted) {
        return this.done(false, await this.station.git.head(), `the checkout is on branch "${branch}", not "${wanted}" (git.branch): not merging`);
      }
      const upstream = `${remote}/${wanted}`;
      this.state.upstream = upstream;
      await this.git('fetch', '--quiet', '--no-tags', remote, `+refs/heads/${wanted}:refs/remotes/${remote}/${wanted}`);
      this.state.lastFetchAt = new Date().toISOString();
      const upstreamHead = await this.git('rev-parse', '--verify', '--quiet', `refs/remotes/${upstream}`);
      this.state.upstreamHead = upstreamHead;
      const [ahead, behind] = (await this.git('rev-list', '--left-right', '--count', `HEAD...refs/remotes/${upstream}`))
        .split(/\s+/)
        .map(Number) as [number, number];
      this.state.ahead = ahead;
      this.state.behind = behind;
      this.state.diverged = ahead > 0 && behind > 0;
      this.state.dirty = (await this.git('status', '--porcelain', '--untracked-files=no')) !== '';
      const head = await this.station.git.head();
      if (behind === 0) return this.done(false, head, ahead > 0 ? `the checkout is ${ahead} commit(s) ahead of ${upstream}` : 'up to date');
      if (this.state.diverged) {
        log.warn({ upstream, ahead, behind, head, upstream_head: upstreamHead }, 'git checkout has diverged from its remote: not merging (never reset)');
        return this.done(false, head, `diverged from ${upstream}: ${ahead} local and ${behind} remote commit(s); resolve by hand`);
      }
      if (this.state.dirty) {
        log.warn({ upstream, behind, head }, 'git checkout has local changes to tracked files: not fast-forwarding (never reset)');
        return this.done(false, head, `local changes to tracked files: not fast-forwarding ${behind} commit(s) from ${upstream}`);
      }
      await this.git('merge', '--ff-only', '--quiet', `refs/remotes/${upstream}`);
      const moved = await this.station.git.head();
      this.state.behind = 0;
      this.state.lastUpdateAt = new Date().toISOString();
      log.info({ upstream, from: head, to: moved, commits: behind }, 'git checkout fast-forwarded');
      this.done(true, moved);
      this.onUpdated?.();
      return { updated: true, head: moved };
    } catch (err) {
      const message = gitMessage(err);
      this.state.lastError = message;
      log.error({ remote, error: message }, 'git refresh failed');
      return { updated: false, head: await this.station.git.head(), reason: message };
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
      await this.git('remote', 'get-url', this.station.config.git.remote);
      return true;
    } catch {
      return false;
    }
  }

  private git(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        'git',
        args,
        {
          cwd: this.station.config.repo,
          timeout: GIT_TIMEOUT_MS,
          maxBuffer: 16 * 1024 * 1024,
          // Never wait for a password prompt in a daemon.
          env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'echo', LC_ALL: 'C' },
        },
        (err, stdout, stderr) => {
          if (err) reject(Object.assign(err, { stderr: String(stderr) }));
          else resolve(String(stdout).trim());
        },
      );
    });
  }
}

/** git's own explanation (its stderr), without the command line. */
function gitMessage(err: unknown): string {
  const e = err as { stderr?: string; message?: string; killed?: boolean };
  if (e.killed) return `git timed out after ${GIT_TIMEOUT_MS / 1000} s`;
  const stderr = e.stderr?.trim();
  if (stderr === undefined || stderr === '') return e.message ?? String(err);
  const text = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ');
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
