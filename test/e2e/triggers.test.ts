import { randomUUID } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '../../src/triggers/signature.js';
import { ensureBuilt } from '../helpers/cli.js';
import { dedent } from '../helpers/engine-harness.js';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createGitRepo, createTempDir, GIT_ENV, type GitRepo } from '../helpers/git-repo.js';
import { startServe, until, type ServeProc } from '../helpers/serve-proc.js';

/**
 * End to end: the built `stn serve` on a temp Git repository, driven over HTTP on loopback, its SQLite file read
 * directly for what the API does not show (trigger_fires).
 */

const SECRET = 'e2e-hook-secret-5d1c';

const DEPLOY = dedent(`
  id: deploy
  version: "1"
  name: Deploy
  inputSchema:
    type: object
    required: [service, replicas]
    additionalProperties: false
    properties:
      service: {type: string}
      replicas: {type: integer, minimum: 1}
  triggers:
    - type: webhook
      name: github
      secretEnv: HOOK_SECRET
      input: {service: "{{ body.repository.name }}", replicas: "{{ body.replicas }}"}
  states:
    - {name: go, type: operation, action: shell.exec, input: {command: [echo, "{{ service }}"]}, end: true}
`);

function perSecond(id: string, extra = ''): string {
  return dedent(`
    id: ${id}
    version: "1"
    name: ${id}
    triggers:
      - {type: cron, name: tick, schedule: "* * * * * *", concurrency: allow${extra}}
    states:
      - {name: go, type: operation, action: noop, end: true}
  `);
}

interface FireRow {
  workflow_id: string;
  scheduled_at: number;
  fired_at: string;
  outcome: string;
  run_id: string | null;
}

const repos: GitRepo[] = [];
const daemons: ServeProc[] = [];

function repo(files: Record<string, string>): GitRepo {
  const r = createGitRepo('stn-e2e-triggers-');
  repos.push(r);
  r.write('.gitignore', '.station/\n');
  for (const [p, text] of Object.entries(files)) r.write(p, text);
  r.commit('initial');
  return r;
}

async function serve(r: GitRepo, env: NodeJS.ProcessEnv = {}): Promise<ServeProc> {
  const d = await startServe(r.dir, { HOOK_SECRET: SECRET, ...env });
  daemons.push(d);
  return d;
}

function fires(r: GitRepo, workflowId: string): FireRow[] {
  const db = new Database(path.join(r.dir, '.station', 'station.db'), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare('SELECT workflow_id, scheduled_at, fired_at, outcome, run_id FROM trigger_fires WHERE workflow_id = ? ORDER BY scheduled_at')
      .all(workflowId) as FireRow[];
  } finally {
    db.close();
  }
}

function runCount(r: GitRepo, workflowId: string): number {
  const db = new Database(path.join(r.dir, '.station', 'station.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT COUNT(*) FROM workflow_runs WHERE workflow_id = ?').pluck().get(workflowId) as number;
  } finally {
    db.close();
  }
}

/** When the daemon's cron scheduler started (its own clock reading, from the log). */
function cronStartedAt(d: ServeProc): number {
  const line = d.logs().find((l) => l.msg === 'cron scheduler started');
  if (!line) throw new Error('no "cron scheduler started" log line');
  return Date.parse(line.started_at as string);
}

async function post(url: string, body: string | Buffer, headers: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(url);
  return (await res.json()) as Record<string, unknown>;
}

beforeAll(() => ensureBuilt());

afterAll(async () => {
  for (const d of daemons.splice(0)) await d.stop();
  for (const r of repos.splice(0)) r.cleanup();
});

describe('webhook triggers through stn serve', () => {
  let r: GitRepo;
  let d: ServeProc;
  let hook: string;

  beforeAll(async () => {
    r = repo({ 'station.yaml': 'server:\n  maxBodyBytes: 4096\n', 'environments/default/workflows/deploy.workflow.yaml': DEPLOY });
    d = await serve(r);
    hook = `${d.url}/api/v1/hooks/default/deploy/github`;
  });

  const sign = (body: string) => ({ 'x-hub-signature-256': `sha256=${signBody(body, SECRET)}` });

  it('a signed webhook creates a run that completes', async () => {
    const body = JSON.stringify({ repository: { name: 'api' }, replicas: 2 });
    const res = await post(hook, body, { ...sign(body), 'x-github-delivery': randomUUID() });
    expect(res.status).toBe(202);
    const runId = res.json.runId as string;
    const run = await until(
      async () => {
        const j = await getJson(`${d.url}/api/v1/workflow-runs/${runId}`);
        return j.status === 'COMPLETED' || j.status === 'FAILED' ? j : undefined;
      },
      20_000,
      'the run ends',
    );
    expect(run).toMatchObject({ status: 'COMPLETED', trigger: { type: 'webhook', name: 'github' }, initiator: 'webhook:github' });
  });

  it('a bad signature gets the unknown-trigger answer (404) and starts nothing', async () => {
    const before = runCount(r, 'deploy');
    const body = JSON.stringify({ repository: { name: 'api' }, replicas: 2 });
    const res = await post(hook, body, { 'x-hub-signature-256': `sha256=${signBody(body, 'wrong')}` });
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({ error: { code: 'STN_E_NOT_FOUND' } });
    expect(runCount(r, 'deploy')).toBe(before);
  });

  it('a duplicate delivery returns the first run', async () => {
    const body = JSON.stringify({ repository: { name: 'web' }, replicas: 1 });
    const id = randomUUID();
    const first = await post(hook, body, { ...sign(body), 'x-github-delivery': id });
    const again = await post(hook, body, { ...sign(body), 'x-github-delivery': id });
    expect(first.status).toBe(202);
    expect(again).toEqual({ status: 200, json: { runId: first.json.runId, duplicate: true } });
  });

  it('an oversized body gets 413', async () => {
    const body = JSON.stringify({ repository: { name: 'x'.repeat(8000) }, replicas: 1 });
    const res = await post(hook, body, sign(body));
    expect(res.status).toBe(413);
  });

  it('invalid input gets 422 listing every violation', async () => {
    const body = JSON.stringify({ repository: { name: 'api' }, replicas: 0 });
    const res = await post(hook, body, sign(body));
    expect(res.status).toBe(422);
    expect(res.json).toMatchObject({ error: { code: 'STN_E_INPUT_INVALID', details: { errors: [{ path: '/replicas' }] } } });
  });

  it('an unknown trigger gets 404', async () => {
    const res = await post(`${d.url}/api/v1/hooks/default/deploy/nope`, '{}', {});
    expect(res.status).toBe(404);
  });

  it('a workflow committed while running is listed within 1 s and its webhook answers', async () => {
    const t0 = Date.now();
    r.write('environments/default/workflows/later.workflow.yaml', dedent(`
      id: later
      version: "1"
      name: Later
      triggers: [{type: webhook, name: open}]
      states: [{name: go, type: operation, action: noop, end: true}]
    `));
    r.commit('add later');
    await until(
      async () => {
        const page = await getJson(`${d.url}/api/v1/workflows`);
        const items = page.items as Array<{ id: string }>;
        return items.some((w) => w.id === 'later') ? true : undefined;
      },
      5000,
      'the new workflow is listed',
    );
    expect(Date.now() - t0).toBeLessThan(1000);
    const res = await post(`${d.url}/api/v1/hooks/default/later/open`, '{"a":1}', {});
    expect(res.status).toBe(202);
  });
});

describe('cron triggers through stn serve', () => {
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.stop();
  });

  it('a schedule every second (added while running) fires once per slot, on time', async () => {
    const r = repo({ 'environments/default/workflows/base.workflow.yaml': DEPLOY });
    const d = await serve(r);
    r.write('environments/default/workflows/sec.workflow.yaml', perSecond('sec'));
    await until(() => (fires(r, 'sec').length >= 4 ? true : undefined), 15_000, 'four slots fired');
    expect(await d.stop()).toBe(0);
    const rows = fires(r, 'sec');
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.scheduled_at - rows[i - 1]!.scheduled_at).toBe(1000);
    expect(rows.every((f) => f.outcome === 'fired' && f.run_id !== null)).toBe(true);
    expect(new Set(rows.map((f) => f.run_id)).size).toBe(rows.length);
    expect(runCount(r, 'sec')).toBe(rows.length);
    for (const f of rows) expect(Date.parse(f.fired_at) - f.scheduled_at).toBeLessThan(2000);
  });

  it('after a stop of several slots, catch-up follows each trigger policy', async () => {
    const r = repo({
      'environments/default/workflows/none.workflow.yaml': perSecond('c-none', ', catchUp: none'),
      'environments/default/workflows/latest.workflow.yaml': perSecond('c-latest', ', catchUp: latest'),
      'environments/default/workflows/all.workflow.yaml': perSecond('c-all', ', catchUp: all'),
    });
    const ids = ['c-none', 'c-latest', 'c-all'];
    const first = await serve(r);
    await until(() => (ids.every((id) => fires(r, id).length >= 2) ? true : undefined), 15_000, 'slots before the stop');
    expect(await first.stop()).toBe(0);
    daemons.splice(daemons.indexOf(first), 1);
    const last = Object.fromEntries(ids.map((id) => [id, Math.max(...fires(r, id).map((f) => f.scheduled_at))])) as Record<string, number>;
    // The daemon is down for a few slots.
    await new Promise((res) => setTimeout(res, 4000));
    const second = await serve(r);
    const started = cronStartedAt(second);
    await until(() => (ids.every((id) => fires(r, id).some((f) => f.scheduled_at > started)) ? true : undefined), 15_000, 'slots after the restart');
    await second.stop();

    const newestBefore = Math.floor(started / 1000) * 1000;
    const missed = (id: string) => fires(r, id).filter((f) => f.scheduled_at > last[id]! && f.scheduled_at <= started).map((f) => f.scheduled_at);
    expect(newestBefore - last['c-none']!).toBeGreaterThanOrEqual(3000);
    expect(missed('c-none')).toEqual([]);
    expect(missed('c-latest')).toEqual([newestBefore]);
    const all: number[] = [];
    for (let t = last['c-all']! + 1000; t <= newestBefore; t += 1000) all.push(t);
    expect(missed('c-all')).toEqual(all);
    for (const id of ids) expect(runCount(r, id)).toBe(fires(r, id).length);
  });

  it('two daemons on one database fire each slot once', async () => {
    const r = repo({ 'environments/default/workflows/shared.workflow.yaml': perSecond('shared') });
    const [a, b] = await Promise.all([serve(r), serve(r)]);
    const bothUp = Math.max(cronStartedAt(a!), cronStartedAt(b!));
    await until(() => (fires(r, 'shared').filter((f) => f.scheduled_at > bothUp).length >= 4 ? true : undefined), 15_000, 'four slots with both up');
    await Promise.all([a!.stop(), b!.stop()]);
    const rows = fires(r, 'shared');
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.scheduled_at - rows[i - 1]!.scheduled_at).toBe(1000);
    expect(rows.every((f) => f.outcome === 'fired')).toBe(true);
    expect(runCount(r, 'shared')).toBe(rows.length);
    // Each slot was fired (and logged) by exactly one of the two; the other found it taken.
    const logged = [a!, b!].flatMap((d) => d.logs().filter((l) => l.msg === 'cron slot' && l.outcome === 'fired'));
    expect(logged.map((l) => l.scheduled_at).sort()).toEqual(rows.map((f) => new Date(f.scheduled_at).toISOString()));
  });
});

describe('git sync while running', () => {
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.stop();
  });

  it('a commit pushed to the remote is polled, synced and served; a dirty checkout is reported, not reset', async () => {
    const author = repo({ 'environments/default/workflows/base.workflow.yaml': perSecond('base', ', enabled: false') });
    const root = createTempDir('stn-e2e-remote-');
    const remote = path.join(root, 'remote.git');
    const git = (cwd: string, ...args: string[]) =>
      execFileSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    git(root, '-c', 'init.defaultBranch=main', 'init', '-q', '--bare', remote);
    author.git('remote', 'add', 'origin', remote);
    author.git('push', '-q', '-u', 'origin', 'main');
    const checkout = path.join(root, 'checkout');
    git(root, 'clone', '-q', remote, checkout);
    try {
      const d = await startServe(checkout, { STN_GIT_POLL_SECONDS: '1' });
      daemons.push(d);
      author.write('environments/default/workflows/pushed.workflow.yaml', perSecond('pushed', ', enabled: false'));
      const pushed = author.commit('add pushed');
      author.git('push', '-q', 'origin', 'main');
      const listed = await until(
        async () => {
          const j = await getJson(`${d.url}/api/v1/workflows/pushed?env=default`);
          return j.id === 'pushed' ? j : undefined;
        },
        15_000,
        'the pushed workflow is served',
      );
      expect(listed).toMatchObject({ status: 'active', version: { commit: pushed } });

      // A local edit on the server: the next push is not merged, and the status says why.
      fs.appendFileSync(path.join(checkout, 'environments/default/workflows/base.workflow.yaml'), '# local edit\n');
      author.write('environments/default/workflows/third.workflow.yaml', perSecond('third', ', enabled: false'));
      author.commit('add third');
      author.git('push', '-q', 'origin', 'main');
      const status = await until(
        async () => {
          const j = (await getJson(`${d.url}/api/v1/sync/status`)) as { git: { dirty: boolean; behind: number; head: string } | null };
          return j.git?.dirty && j.git.behind === 1 ? j.git : undefined;
        },
        15_000,
        'the dirty checkout is reported',
      );
      expect(status.head).toBe(pushed);
      expect(git(checkout, 'rev-parse', 'HEAD')).toBe(pushed);
      expect(fs.readFileSync(path.join(checkout, 'environments/default/workflows/base.workflow.yaml'), 'utf8')).toContain('# local edit');
    } finally {
      for (const dd of daemons.splice(0)) await dd.stop();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
