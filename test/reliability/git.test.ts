import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, stn } from '../helpers/cli.js';
import { spawnServe, until, type ServeProcess } from '../helpers/daemon-proc.js';
import { createGitRepo, createTempDir, GIT_ENV } from '../helpers/git-repo.js';
import { defaultDb, readStore } from '../helpers/station-db.js';
import { workflowPath, workflowYaml } from '../helpers/workflow.js';

const cleanups: Array<() => Promise<unknown> | void> = [];

beforeAll(() => ensureBuilt());
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const BASE = workflowPath('default', 'base');

function run(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

async function serve(dir: string, env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const d = await spawnServe(dir, [], { ...GIT_ENV, STN_LOG_LEVEL: 'info', ...env });
  cleanups.push(() => d.stop('SIGKILL'));
  return d;
}

async function getJson<T>(d: ServeProcess, url: string): Promise<{ status: number; json: T }> {
  const res = await fetch(`${d.url}${url}`);
  return { status: res.status, json: (await res.json()) as T };
}

interface Ready {
  status: string;
  reasons: string[];
}

const readyz = (d: ServeProcess) => getJson<Ready>(d, '/readyz');
const noteOf = (raw: string | undefined) => /note: "([^"]*)"/.exec(raw ?? '')?.[1];

/** A bare remote, an author clone pushing to it, and the checkout the daemon runs on (a clone polling every second). */
function remoteSetup(onDiverged?: 'report' | 'reset') {
  const root = createTempDir('stn-rel-git-');
  cleanups.push(() => fs.rmSync(root, { recursive: true, force: true }));
  const remote = path.join(root, 'remote.git');
  run(root, '-c', 'init.defaultBranch=main', 'init', '-q', '--bare', remote);
  const author = createGitRepo('stn-rel-git-author-');
  cleanups.push(() => author.cleanup());
  author.write(BASE, workflowYaml('base', { note: 'one' }));
  author.write('.gitignore', '.station/\n');
  author.write('station.yaml', `git:\n  pollSeconds: 1\n${onDiverged ? `  onDiverged: ${onDiverged}\n` : ''}`);
  const first = author.commit('one');
  author.git('remote', 'add', 'origin', remote);
  author.git('push', '-q', '-u', 'origin', 'main');
  const checkout = path.join(root, 'checkout');
  run(root, 'clone', '-q', remote, checkout);
  return { author, checkout, first, db: defaultDb(checkout), head: () => run(checkout, 'rev-parse', 'HEAD') };
}

type Setup = ReturnType<typeof remoteSetup>;

/** Pushes a second commit, waits for the daemon to fast-forward and sync it, then force-pushes the remote back. */
async function pushThenRollBack(s: Setup): Promise<string> {
  s.author.write(BASE, workflowYaml('base', { note: 'two' }));
  const second = s.author.commit('two');
  s.author.git('push', '-q', 'origin', 'main');
  await until('the checkout to fast-forward and sync', async () => {
    const v = readStore(s.db, (st) => st.definition('default', 'base'));
    return s.head() === second && v?.active_version === 2 ? true : undefined;
  }, 20_000, 100);
  s.author.git('reset', '-q', '--hard', s.first);
  s.author.git('push', '-q', '--force', 'origin', 'main');
  return second;
}

describe('git: force-pushed remotes, missing git, failing syncs', () => {
  it('a force-pushed rollback of the remote is reported: readyz degraded, status, metric, one log line, stn sync', async () => {
    const s = remoteSetup();
    const d = await serve(s.checkout);
    const second = await pushThenRollBack(s);

    const ready = await until('readyz to report git_diverged', async () => {
      const r = await readyz(d);
      return r.json.reasons.includes('git_diverged') ? r : undefined;
    }, 20_000, 100);
    expect(ready, JSON.stringify(ready)).toEqual({ status: 200, json: expect.objectContaining({ status: 'degraded', reasons: ['git_diverged'] }) });
    const status = await getJson<{ git: Record<string, unknown> }>(d, '/api/v1/sync/status');
    expect(status.json.git, JSON.stringify(status.json.git)).toMatchObject({ diverged: true, remoteRewritten: true, ahead: 1, behind: 0, upstream: 'origin/main', upstreamHead: s.first, head: second });
    expect(String(status.json.git.lastReason)).toMatch(/the remote history was rewritten \(force push\)/);
    const metrics = await (await fetch(`${d.url}/metrics`)).text();
    expect(metrics).toMatch(/^station_git_diverged 1$/m);
    expect(metrics).toMatch(/^station_degraded\{reason="git_diverged"\} 1$/m);
    // Never reset without the opt-in: the checkout and the definitions stay where they were.
    expect(s.head()).toBe(second);
    expect(readStore(s.db, (st) => st.definition('default', 'base'))?.active_version).toBe(2);

    // More polls do not repeat the log line.
    await new Promise((r) => setTimeout(r, 2500));
    const lines = d.logs().filter((l) => String(l.msg).startsWith('git checkout diverged'));
    expect(lines, JSON.stringify(lines)).toHaveLength(1);
    expect(lines[0]).toMatchObject({ error_type: 'STN_E_GIT_DIVERGED', remote_rewritten: true, ahead: 1 });

    const cli = stn(['sync'], s.checkout, GIT_ENV);
    expect(cli.status, cli.stdout + cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/git: DIVERGED \(STN_E_GIT_DIVERGED\): the checkout has 1 commit\(s\) that origin\/main does not/);

    // The operator procedure (docs/reliability.md): reset the checkout to the remote by hand; the daemon follows.
    run(s.checkout, 'reset', '-q', '--hard', 'origin/main');
    await until('ready again with the rolled-back content active', async () => {
      const r = await readyz(d);
      const v = readStore(s.db, (st) => {
        const def = st.definition('default', 'base');
        return def?.active_version ? st.version('default', 'base', def.active_version) : undefined;
      });
      return r.json.status === 'ready' && noteOf(v?.raw) === 'one' ? true : undefined;
    }, 20_000, 100);
  }, 90_000);

  it('with git.onDiverged: reset the checkout follows the rewritten remote and syncs it', async () => {
    const s = remoteSetup('reset');
    const d = await serve(s.checkout);
    await pushThenRollBack(s);
    await until('the checkout to be reset to the remote and synced', async () => {
      const v = readStore(s.db, (st) => {
        const def = st.definition('default', 'base');
        return def?.active_version ? st.version('default', 'base', def.active_version) : undefined;
      });
      return s.head() === s.first && v?.version === 3 && noteOf(v.raw) === 'one' ? true : undefined;
    }, 20_000, 100);
    expect((await readyz(d)).json).toMatchObject({ status: 'ready', reasons: [] });
    const status = await getJson<{ git: Record<string, unknown> }>(d, '/api/v1/sync/status');
    expect(status.json.git).toMatchObject({ diverged: false, head: s.first, lastReset: expect.objectContaining({ to: s.first }) });
    expect(d.logs().some((l) => String(l.msg).startsWith('git checkout reset to origin/main'))).toBe(true);
  }, 90_000);

  it('without git on PATH the daemon starts degraded (git_missing) and still syncs files; stn sync says so', async () => {
    const r = createGitRepo('stn-rel-nogit-');
    cleanups.push(() => r.cleanup());
    r.write('.gitignore', '.station/\n');
    r.write(BASE, workflowYaml('base'));
    const head = r.commit('one');
    const emptyBin = createTempDir('stn-rel-nobin-');
    cleanups.push(() => fs.rmSync(emptyBin, { recursive: true, force: true }));
    const d = await serve(r.dir, { PATH: emptyBin });

    const startLine = d.logs().find((l) => l.error_type === 'STN_E_GIT_MISSING');
    expect(String(startLine?.msg)).toMatch(/^git is not on PATH: starting degraded/);
    expect(d.stderr()).not.toMatch(/at .*\.js:\d+/); // no stack trace
    expect(await readyz(d)).toEqual({ status: 200, json: expect.objectContaining({ status: 'degraded', reasons: ['git_missing'] }) });

    r.write(workflowPath('default', 'added'), workflowYaml('added'));
    const v = await until('the new file to sync without git', async () => readStore(defaultDb(r.dir), (st) => st.version('default', 'added', 1)), 20_000, 100);
    expect(v).toMatchObject({ git_commit: head, git_dirty: null, git_untracked: null });
    expect((await readyz(d)).json.reasons).toEqual(['git_missing']);

    const cli = stn(['sync'], r.dir, { PATH: emptyBin });
    expect(cli.status).toBe(0);
    expect(cli.stdout).toMatch(/git: not on PATH \(STN_E_GIT_MISSING\)/);
    expect(cli.stderr).not.toMatch(/ENOENT/);
  }, 60_000);

  it('a sync that fails makes /readyz degraded (sync_failed) until a sync succeeds again', async () => {
    const r = createGitRepo('stn-rel-syncfail-');
    cleanups.push(() => r.cleanup());
    r.write('.gitignore', '.station/\n');
    r.write(BASE, workflowYaml('base'));
    const head = r.commit('one');
    const d = await serve(r.dir);
    expect((await readyz(d)).json).toMatchObject({ status: 'ready', reasons: [] });

    // A damaged checkout: the branch points at a commit that does not exist, so git cannot list it.
    const ref = path.join(r.dir, '.git', 'refs', 'heads', 'main');
    fs.writeFileSync(ref, `${'0123456789'.repeat(4)}\n`);
    r.write(workflowPath('default', 'added'), workflowYaml('added'));
    const bad = await until('readyz to report sync_failed', async () => {
      const x = await readyz(d);
      return x.json.reasons.includes('sync_failed') ? x : undefined;
    }, 20_000, 100);
    expect(bad).toEqual({ status: 200, json: expect.objectContaining({ status: 'degraded', reasons: ['sync_failed'] }) });
    const failed = d.logs().find((l) => l.msg === 'watch sync failed');
    expect((failed?.err as { code?: string } | undefined)?.code).toBe('STN_E_GIT');
    const status = await getJson<{ syncs: Array<{ status: string; error: string | null }> }>(d, '/api/v1/sync/status');
    expect(status.json.syncs[0]).toMatchObject({ status: 'error', error: expect.stringMatching(/git ls-tree 012345678901 failed/) });

    fs.writeFileSync(ref, `${head}\n`);
    r.write(workflowPath('default', 'added'), workflowYaml('added', { note: 'again' }));
    await until('ready again', async () => ((await readyz(d)).json.status === 'ready' ? true : undefined), 20_000, 100);
    expect(readStore(defaultDb(r.dir), (st) => st.definition('default', 'added'))).toMatchObject({ status: 'active', active_version: 1 });
  }, 60_000);
});
