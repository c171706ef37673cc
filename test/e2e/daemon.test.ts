import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SHELL_KILL_GRACE_MS } from '../../src/executors/shell-exec.js';
import { ensureBuilt, stn } from '../helpers/cli.js';
import { spawnServe, until, type ServeProcess } from '../helpers/daemon-proc.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { openSse } from '../helpers/sse-client.js';
import { workflowPath, workflowYaml } from '../helpers/workflow.js';

let repo: GitRepo | undefined;
const daemons: ServeProcess[] = [];

beforeAll(() => {
  ensureBuilt();
});
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
  repo?.cleanup();
  repo = undefined;
});

function freshRepo(files: Record<string, string>): GitRepo {
  repo = createGitRepo('stn-daemon-');
  repo.write('.gitignore', '.station/\n');
  for (const [f, c] of Object.entries(files)) repo.write(f, c);
  repo.commit('fixtures');
  return repo;
}

async function serve(r: GitRepo, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const d = await spawnServe(r.dir, args, env);
  daemons.push(d);
  return d;
}

const api = async <T>(d: ServeProcess, method: string, url: string, body?: unknown, token?: string): Promise<{ status: number; json: T }> => {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${d.url}${url}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : null) as T };
};

interface RunJson {
  id: string;
  status: string;
  steps: Array<{ state: string; status: string; deliveries: number; output: unknown }>;
}

const THREE = `id: three
version: "1"
name: Three
states:
  - {name: a, type: operation, action: noop, next: b}
  - {name: b, type: operation, action: shell.exec, input: {command: [sh, -c, "echo hi"]}, next: c}
  - {name: c, type: operation, action: noop, end: true}
`;

describe('stn serve', () => {
  it('prints where it listens, is healthy and ready, and lists a newly committed workflow within 1 s', async () => {
    const r = freshRepo({ [workflowPath('default', 'first')]: workflowYaml('first') });
    const d = await serve(r);
    expect(d.stdout()).toMatch(/^Station API listening on http:\/\/127\.0\.0\.1:\d+\/api\/v1 /);
    expect((await api(d, 'GET', '/healthz')).json).toEqual({ status: 'ok' });
    expect((await api<{ status: string }>(d, 'GET', '/readyz')).json.status).toBe('ready');
    expect(d.logs().some((l) => /no API tokens configured/.test(String(l.msg)))).toBe(true);

    const written = Date.now();
    r.write(workflowPath('default', 'second'), workflowYaml('second'));
    r.commit('add second');
    const seen = await until('the new workflow in the API', async () => {
      const res = await api<{ version: { commit: string } | null }>(d, 'GET', '/api/v1/workflows/second');
      return res.status === 200 ? res.json : undefined;
    }, 5000, 10);
    const elapsed = Date.now() - written;
    expect(elapsed).toBeLessThan(1000);
    expect(seen.version).not.toBeNull();
  });

  it('streams every step event of a run in order over SSE and closes; logs one line per step transition', async () => {
    const r = freshRepo({ [workflowPath('default', 'three')]: THREE });
    const d = await serve(r);
    const started = await api<RunJson>(d, 'POST', '/api/v1/workflow-runs', { workflowId: 'three' });
    expect(started.status).toBe(201);
    const stream = await openSse(`${d.url}/api/v1/workflow-runs/${started.json.id}/stream`);
    await stream.ended;
    const events = stream.events.map((e) => JSON.parse(e.data) as { seq: number; type: string; data: { path?: string } });
    const log = await api<{ items: Array<{ seq: number; type: string }> }>(d, 'GET', `/api/v1/workflow-runs/${started.json.id}/events?limit=500`);
    expect(events.map((e) => [e.seq, e.type])).toEqual(log.json.items.map((e) => [e.seq, e.type]));
    expect(events.filter((e) => e.type === 'step:succeeded').map((e) => e.data.path)).toEqual(['a', 'b', 'c']);
    expect(events.at(-1)?.type).toBe('run:completed');

    const lines = await until('step log lines', async () => {
      const l = d.logs().filter((x) => x.run_id === started.json.id && x.event === 'step:succeeded');
      return l.length === 3 ? l : undefined;
    });
    for (const l of lines) {
      expect(l).toMatchObject({ level: 30, step_id: expect.any(String), attempt: 1, duration_ms: expect.any(Number) });
    }
    expect(d.logs().some((x) => x.run_id === started.json.id && x.msg === 'run:completed')).toBe(true);
  });

  it('refuses a non-loopback bind without tokens (exit 2), and serves one with tokens', async () => {
    const r = freshRepo({ [workflowPath('default', 'first')]: workflowYaml('first') });
    const refused = stn(['--repo', r.dir, 'serve', '--host', '0.0.0.0', '--port', '0'], r.dir);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/STN_E_CONFIG: refusing to listen on 0\.0\.0\.0 without API tokens/);
    expect(refused.stdout).toBe('');

    const sha = createHash('sha256').update('viewer-token').digest('hex');
    r.write('station.yaml', `server:\n  tokens:\n    - {name: dash, role: viewer, sha256: ${sha}}\n    - {name: ci, role: operator, env: CI_TOKEN}\n`);
    const d = await serve(r, ['--host', '0.0.0.0'], { CI_TOKEN: 'ci-token' });
    expect((await api(d, 'GET', '/api/v1/workflows')).status).toBe(401);
    expect((await api(d, 'GET', '/api/v1/workflows', undefined, 'viewer-token')).status).toBe(200);
    expect((await api(d, 'POST', '/api/v1/workflow-runs', { workflowId: 'first' }, 'viewer-token')).status).toBe(403);
    expect((await api(d, 'POST', '/api/v1/workflow-runs', { workflowId: 'first' }, 'ci-token')).status).toBe(201);
    expect((await api(d, 'GET', '/healthz')).status).toBe(200);
  });

  it('refuses to start when a token variable is unset, naming it', () => {
    const r = freshRepo({ 'station.yaml': 'server:\n  tokens:\n    - {name: ci, role: operator, env: CI_TOKEN}\n' });
    const res = stn(['--repo', r.dir, 'serve', '--port', '0'], r.dir);
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/STN_E_CONFIG: server\.tokens: token "ci" reads environment variable CI_TOKEN, which is not set/);
  });
});

describe('graceful shutdown', () => {
  const LONG = (seconds: number) => `id: long
version: "1"
name: Long
states:
  - {name: work, type: operation, action: shell.exec, input: {command: [sh, -c, "sleep ${seconds}; echo finished"]}, next: after}
  - {name: after, type: operation, action: noop, end: true}
`;

  async function startedLongStep(d: ServeProcess): Promise<string> {
    const run = await api<RunJson>(d, 'POST', '/api/v1/workflow-runs', { workflowId: 'long' });
    expect(run.status).toBe(201);
    await until('the long step to start', async () => {
      const r = await api<RunJson>(d, 'GET', `/api/v1/workflow-runs/${run.json.id}`);
      return r.json.steps.some((s) => s.state === 'work' && s.status === 'RUNNING') ? true : undefined;
    });
    return run.json.id;
  }

  async function completes(d: ServeProcess, runId: string): Promise<RunJson> {
    return until('the run to complete after the restart', async () => {
      const r = await api<RunJson>(d, 'GET', `/api/v1/workflow-runs/${runId}`);
      return r.json.status === 'COMPLETED' ? r.json : undefined;
    }, 30_000, 50);
  }

  it('SIGTERM during a long shell.exec step past the grace period: exit 0, leases released, the restart redelivers it and the run completes', async () => {
    const r = freshRepo({ [workflowPath('default', 'long')]: LONG(6) });
    const env = { STN_SHUTDOWN_GRACE_SECONDS: '1' };
    const d = await serve(r, [], env);
    const runId = await startedLongStep(d);
    const t0 = Date.now();
    expect(await d.stop('SIGTERM')).toBe(0);
    // The 1 s grace, then the step's process group gets SIGTERM and, while any member is left, SIGKILL after
    // SHELL_KILL_GRACE_MS (2 s): a killed grandchild stays a zombie until init reaps it, which some hosts do late.
    // Far less than the 6 s the step would take.
    expect(Date.now() - t0).toBeLessThan(1000 + SHELL_KILL_GRACE_MS + 1500);
    expect(d.logs().some((l) => l.msg === 'stopped; leases released')).toBe(true);

    const again = await serve(r, [], env);
    const done = await completes(again, runId);
    const work = done.steps.find((s) => s.state === 'work');
    expect(work).toMatchObject({ status: 'SUCCEEDED', deliveries: 2 });
    expect((work?.output as { stdout: string }).stdout).toBe('finished\n');
    expect(done.steps.find((s) => s.state === 'after')?.status).toBe('SUCCEEDED');
  });

  it('SIGINT during a step shorter than the grace period: the step finishes before exit 0, and the restart runs the rest', async () => {
    const r = freshRepo({ [workflowPath('default', 'long')]: LONG(1) });
    const d = await serve(r);
    const runId = await startedLongStep(d);
    expect(await d.stop('SIGINT')).toBe(0);
    const db = path.join(r.dir, '.station', 'station.db');
    const shown = stn(['--repo', r.dir, '--db', db, '--json', 'runs', 'show', runId], r.dir);
    const afterStop = JSON.parse(shown.stdout) as RunJson;
    expect(afterStop.steps.find((s) => s.state === 'work')).toMatchObject({ status: 'SUCCEEDED', deliveries: 1 });
    expect(afterStop.status).not.toBe('COMPLETED');

    const again = await serve(r);
    const done = await completes(again, runId);
    expect(done.steps.map((s) => `${s.state}:${s.status}`)).toEqual(['work:SUCCEEDED', 'after:SUCCEEDED']);
  });
});
