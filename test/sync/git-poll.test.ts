import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStation, type Station } from '../../src/context.js';
import { GitPoller } from '../../src/sync/git-poll.js';
import { eventually } from '../helpers/engine-harness.js';
import { createGitRepo, createTempDir, GIT_ENV, type GitRepo } from '../helpers/git-repo.js';
import { workflowPath, workflowYaml } from '../helpers/workflow.js';

/**
 * A real bare "remote", an author clone that pushes to it, and the checkout Station runs on (a clone of the remote).
 */
interface Setup {
  remote: string;
  author: GitRepo;
  checkout: string;
  station: Station;
  git(...args: string[]): string;
  /** Commits a workflow file in the author clone and pushes it; returns the new commit. */
  push(id: string, note?: string): string;
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function run(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function setup(env: NodeJS.ProcessEnv = {}, stationYaml?: string): Setup {
  const root = createTempDir('stn-gitpoll-');
  cleanups.push(() => fs.rmSync(root, { recursive: true, force: true }));
  const remote = path.join(root, 'remote.git');
  run(root, '-c', 'init.defaultBranch=main', 'init', '-q', '--bare', remote);
  const author = createGitRepo('stn-gitpoll-author-');
  cleanups.push(() => author.cleanup());
  author.write(workflowPath('default', 'base'), workflowYaml('base'));
  if (stationYaml !== undefined) author.write('station.yaml', stationYaml);
  author.write('.gitignore', '.station/\n');
  author.commit('first');
  author.git('remote', 'add', 'origin', remote);
  author.git('push', '-q', '-u', 'origin', 'main');
  const checkout = path.join(root, 'checkout');
  run(root, 'clone', '-q', remote, checkout);
  const station = openStation({ repo: checkout, logLevel: 'silent' }, env);
  cleanups.push(() => station.close());
  return {
    remote,
    author,
    checkout,
    station,
    git: (...args) => run(checkout, ...args),
    push(id, note) {
      author.write(workflowPath('default', id), workflowYaml(id, note !== undefined ? { note } : {}));
      const sha = author.commit(`add ${id}`);
      author.git('push', '-q', 'origin', 'main');
      return sha;
    },
  };
}

function poller(s: Setup, onUpdated?: () => void): GitPoller {
  const p = new GitPoller({ station: s.station, ...(onUpdated ? { onUpdated } : {}) });
  cleanups.push(() => p.stop());
  return p;
}

describe('GitPoller', () => {
  it('refresh() fast-forwards to a commit pushed to the remote, and the sync records it per environment', async () => {
    const s = setup();
    await s.station.syncer.sync();
    let updates = 0;
    const p = poller(s, () => updates++);
    const before = s.git('rev-parse', 'HEAD');
    const pushed = s.push('second');
    const r = await p.refresh();
    expect(r).toEqual({ updated: true, head: pushed });
    expect(updates).toBe(1);
    expect(s.git('rev-parse', 'HEAD')).toBe(pushed);
    expect(fs.existsSync(path.join(s.checkout, workflowPath('default', 'second')))).toBe(true);
    expect(p.status()).toMatchObject({ branch: 'main', head: pushed, upstream: 'origin/main', behind: 0, ahead: 0, dirty: false, diverged: false, lastError: null, upstreamHead: pushed });
    expect(p.status().lastFetchAt).not.toBeNull();

    await s.station.syncer.sync({ source: 'poll' });
    expect(s.station.definitions.environment('default')).toMatchObject({ last_synced_commit: pushed, last_attempted_commit: pushed });
    expect(s.station.definitions.versions('default', 'second')[0]?.git_commit).toBe(pushed);
    expect(before).not.toBe(pushed);
  });

  it('nothing new: no update, "up to date"', async () => {
    const s = setup();
    const p = poller(s);
    const r = await p.refresh();
    expect(r).toEqual({ updated: false, head: s.git('rev-parse', 'HEAD'), reason: 'up to date' });
  });

  it('a dirty checkout is reported and left alone (never reset)', async () => {
    const s = setup();
    const p = poller(s);
    const file = path.join(s.checkout, workflowPath('default', 'base'));
    fs.writeFileSync(file, workflowYaml('base', { note: 'edited on the server' }));
    const head = s.git('rev-parse', 'HEAD');
    s.push('second');
    const r = await p.refresh();
    expect(r.updated).toBe(false);
    expect(r.reason).toMatch(/local changes/);
    expect(p.status()).toMatchObject({ dirty: true, diverged: false, behind: 1, ahead: 0, head });
    expect(s.git('rev-parse', 'HEAD')).toBe(head);
    expect(fs.readFileSync(file, 'utf8')).toContain('edited on the server');
  });

  it('a diverged checkout is reported and left alone (never reset)', async () => {
    const s = setup();
    const p = poller(s);
    fs.mkdirSync(path.join(s.checkout, 'environments/default/workflows'), { recursive: true });
    fs.writeFileSync(path.join(s.checkout, workflowPath('default', 'local')), workflowYaml('local'));
    s.git('add', '-A');
    s.git('commit', '-q', '-m', 'local commit');
    const local = s.git('rev-parse', 'HEAD');
    s.push('second');
    const r = await p.refresh();
    expect(r.updated).toBe(false);
    expect(r.reason).toMatch(/diverged from origin\/main: 1 local and 1 remote/);
    expect(p.status()).toMatchObject({ diverged: true, ahead: 1, behind: 1, head: local });
    expect(s.git('rev-parse', 'HEAD')).toBe(local);
  });

  it('a checkout ahead of its remote is left as it is, and reported as diverged', async () => {
    const s = setup();
    const p = poller(s);
    s.git('commit', '-q', '--allow-empty', '-m', 'local only');
    const local = s.git('rev-parse', 'HEAD');
    const r = await p.refresh();
    expect(r.updated).toBe(false);
    expect(r.reason).toMatch(/^diverged from origin\/main: 1 local and 0 remote commit\(s\); the checkout has commits the remote does not/);
    expect(p.status()).toMatchObject({ diverged: true, ahead: 1, behind: 0, remoteRewritten: false });
    expect(s.git('rev-parse', 'HEAD')).toBe(local);
  });

  it('follows only the configured branch', async () => {
    const s = setup({}, 'git:\n  branch: main\n  remote: origin\n  webhookSecretEnv: GIT_HOOK_SECRET\n');
    expect(s.station.config.git).toEqual({ pollSeconds: 0, remote: 'origin', branch: 'main', webhookSecretEnv: 'GIT_HOOK_SECRET', onDiverged: 'report' });
    s.git('checkout', '-q', '-b', 'experiment');
    const p = poller(s);
    s.push('second');
    const r = await p.refresh();
    expect(r.updated).toBe(false);
    expect(r.reason).toMatch(/on branch "experiment", not "main"/);
  });

  it('without the remote, refresh() says so and start() does not poll', async () => {
    const s = setup({ STN_GIT_POLL_SECONDS: '1' });
    s.git('remote', 'remove', 'origin');
    const p = poller(s);
    expect(await p.refresh()).toMatchObject({ updated: false, reason: 'the checkout has no remote "origin"' });
    p.start();
    await new Promise((r) => setTimeout(r, 50));
    expect(p.status().polling).toBe(false);
  });

  it('checkout() reads branch, HEAD and local changes without fetching, with or without a remote', async () => {
    const s = setup();
    s.git('remote', 'remove', 'origin');
    const p = poller(s);
    expect(p.status()).toMatchObject({ branch: null, head: null, dirty: false });
    expect(await p.checkout()).toMatchObject({ branch: 'main', head: s.git('rev-parse', 'HEAD'), dirty: false, lastFetchAt: null, polling: false });
    fs.appendFileSync(path.join(s.checkout, workflowPath('default', 'base')), '# edited by hand\n');
    expect(await p.checkout()).toMatchObject({ branch: 'main', dirty: true });
    s.git('checkout', '-q', '--', '.');
    s.git('checkout', '-q', '-b', 'hotfix');
    expect(await p.checkout()).toMatchObject({ branch: 'hotfix', dirty: false });
  });

  it('a failing fetch is reported in status().lastError', async () => {
    const s = setup();
    s.git('remote', 'set-url', 'origin', path.join(s.checkout, 'no-such-remote.git'));
    const p = poller(s);
    const r = await p.refresh();
    expect(r.updated).toBe(false);
    expect(p.status().lastError).toMatch(/no-such-remote|does not appear|not a git repository/i);
  });

  it('polls on the interval (git.pollSeconds) and reports each move', async () => {
    const s = setup({ STN_GIT_POLL_SECONDS: '1' });
    let updates = 0;
    const p = poller(s, () => updates++);
    p.start();
    await eventually(() => p.status().polling && p.status().lastFetchAt !== null, 5000, 'first poll');
    const pushed = s.push('second');
    await eventually(() => updates === 1, 10_000, 'the poller fast-forwarded');
    expect(s.git('rev-parse', 'HEAD')).toBe(pushed);
    expect(p.status()).toMatchObject({ polling: true, intervalSeconds: 1 });
  });

  it('refresh() calls during a refresh are served by one more refresh that sees every push', async () => {
    const s = setup();
    const p = poller(s);
    const first = p.refresh();
    const pushed = s.push('second');
    const [a, b, c] = await Promise.all([first, p.refresh(), p.refresh()]);
    expect(b).toEqual(c);
    expect(b?.head).toBe(pushed);
    expect(s.git('rev-parse', 'HEAD')).toBe(pushed);
    expect(a).toBeDefined();
  });
});
