import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { spawnServe, until, type ServeProcess } from '../helpers/daemon-proc.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { expectHealthy } from '../helpers/security.js';

/*
 * The CEL cost budget (docs/security.md, "Expressions (CEL) cost budget") against a real `stn serve`: the attacks of
 * the audit (a nested `all` that blocked /healthz for 39 s, a cron workflow whose 4-deep comprehension hung the daemon
 * and, after kill -9, hung the restart before it listened, string doubling to 67 M characters) now fail their step
 * with STN_E_EXPR_BUDGET, are refused at validation, and leave the daemon answering.
 */

const ITEMS = Array.from({ length: 400 }, (_, i) => i);

/** A run's input list of 400 items goes through a nested `all` in an operation's input template. */
const NESTED = `
id: nested
version: "1"
name: Nested all
states:
  - name: check
    type: operation
    action: noop
    input:
      ok: "{{ input.items.all(x, input.items.all(y, x >= 0 && y >= 0)) }}"
    end: true
`;

/** A webhook whose input template loops over the (untrusted) request body. */
const HOOKED = `
id: hooked
version: "1"
name: Hooked
triggers:
  - type: webhook
    name: alert
    input: {ok: "{{ body.items.all(x, body.items.all(y, x >= 0 && y >= 0)) }}"}
  - type: webhook
    name: text
    input: {shouting: "{{ body.text.matches('(a+)+$') }}"}
states:
  - {name: go, type: operation, action: noop, end: true}
`;

/** String doubling with cel.bind over a value of the run input (so validation cannot size it). */
function doubling(times: number): string {
  let body = `size(s${times})`;
  for (let i = times; i >= 1; i--) body = `cel.bind(s${i}, s${i - 1} + s${i - 1}, ${body})`;
  return `cel.bind(s0, input.seed, ${body})`;
}

const DOUBLING = `
id: doubling
version: "1"
name: String doubling
states:
  - name: grow
    type: inject
    data: {size: "{{ ${doubling(25)} }}"}
    resultPath: grown
    end: true
`;

/** 4-deep: refused when the file is synced, so its cron trigger never fires. */
const CRON4 = `
id: cron-deep
version: "1"
name: Four deep
triggers:
  - {type: cron, name: tick, schedule: "* * * * * *", concurrency: allow}
states:
  - name: data
    type: inject
    data: {items: [${ITEMS.join(', ')}]}
    next: route
  - name: route
    type: switch
    conditions:
      - if: items.all(a, items.all(b, items.all(c, items.all(d, a + b + c + d >= 0))))
        next: done
    defaultNext: done
  - {name: done, type: operation, action: noop, end: true}
`;

/**
 * 3-deep is within the nesting limit (validation warns from which list length on it stops): every second a run
 * sleeps a moment, then its switch goes over the budget at run time. The daemon is killed while runs are mid-way.
 */
const CRON3 = `
id: cron-bomb
version: "1"
name: Three deep every second
triggers:
  - {type: cron, name: tick, schedule: "* * * * * *", concurrency: allow}
states:
  - name: data
    type: inject
    data: {items: [${ITEMS.join(', ')}]}
    next: nap
  - {name: nap, type: operation, action: sleep, input: {seconds: 2}, next: route}
  - name: route
    type: switch
    conditions:
      - if: items.all(a, items.all(b, items.all(c, a + b + c >= 0)))
        next: done
    defaultNext: done
  - {name: done, type: operation, action: noop, end: true}
`;

interface StepJson {
  state: string;
  status: string;
  error: { code: string; message: string } | null;
}
interface RunJson {
  id: string;
  status: string;
  error: { code: string; message: string } | null;
  steps: StepJson[];
}

async function api<T>(d: ServeProcess, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${d.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, json: (await res.json()) as T };
}

async function runs(d: ServeProcess, workflowId: string): Promise<Array<{ id: string; status: string }>> {
  const page = await api<{ items: Array<{ id: string; status: string }> }>(d, 'GET', `/api/v1/workflow-runs?workflowId=${workflowId}&limit=200`);
  return page.json.items;
}

async function run(d: ServeProcess, id: string): Promise<RunJson> {
  return (await api<RunJson>(d, 'GET', `/api/v1/workflow-runs/${id}`)).json;
}

const repos: GitRepo[] = [];
const daemons: ServeProcess[] = [];

function repo(files: Record<string, string>): GitRepo {
  const r = createGitRepo('stn-sec-cel-');
  repos.push(r);
  r.write('.gitignore', '.station/\n');
  for (const [p, text] of Object.entries(files)) r.write(p, text);
  r.commit('workflows');
  return r;
}

async function serve(r: GitRepo): Promise<ServeProcess> {
  const d = await spawnServe(r.dir);
  daemons.push(d);
  return d;
}

beforeAll(() => ensureBuilt());

afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
});

afterAll(() => {
  for (const r of repos.splice(0)) r.cleanup();
});

describe('CEL cost budget against a running daemon', () => {
  it('a nested all over a 400-item list fails its step with STN_E_EXPR_BUDGET; /healthz answers at once', async () => {
    const d = await serve(
      repo({ 'environments/default/workflows/nested.workflow.yaml': NESTED, 'environments/default/workflows/hooked.workflow.yaml': HOOKED }),
    );
    const started = await api<RunJson>(d, 'POST', '/api/v1/workflow-runs?wait=60', { workflowId: 'nested', input: { items: ITEMS } });
    expect(started.status).toBe(201);
    const done = started.json.status === 'FAILED' ? started.json : await until('run failed', async () => {
      const r = await run(d, started.json.id);
      return r.status === 'FAILED' ? r : undefined;
    });
    const step = done.steps.find((s) => s.state === 'check');
    expect(step?.status).toBe('FAILED');
    expect(step?.error?.code).toBe('STN_E_EXPR_BUDGET');
    expect(step?.error?.message).toContain('cost budget of 100,000 units');
    expect(done.error?.code).toBe('STN_E_EXPR_BUDGET');
    await expectHealthy(d.url);

    // A burst of them at once: each stops within its budget, the daemon keeps answering.
    const burst = await Promise.all(
      Array.from({ length: 5 }, () => api<RunJson>(d, 'POST', '/api/v1/workflow-runs', { workflowId: 'nested', input: { items: ITEMS } })),
    );
    await expectHealthy(d.url);
    for (const b of burst) {
      const r = await until(`run ${b.json.id} failed`, async () => {
        const x = await run(d, b.json.id);
        return x.status === 'FAILED' ? x : undefined;
      });
      expect(r.error?.code).toBe('STN_E_EXPR_BUDGET');
    }
    await expectHealthy(d.url);

    // The same loop over a webhook's body (data from outside): refused with 422, no run started.
    const hook = await fetch(`${d.url}/api/v1/hooks/default/hooked/alert`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items: ITEMS }),
    });
    expect(hook.status).toBe(422);
    expect(((await hook.json()) as { error: { code: string } }).error.code).toBe('STN_E_EXPR_BUDGET');
    expect(await runs(d, 'hooked')).toEqual([]);
    await expectHealthy(d.url);

    // A backtracking regular expression over a webhook's text: answered at once (linear-time fallback), not in minutes.
    const t0 = performance.now();
    const text = await fetch(`${d.url}/api/v1/hooks/default/hooked/text`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: `${'a'.repeat(40)}!` }),
    });
    expect(text.status).toBe(202);
    expect(performance.now() - t0).toBeLessThan(5_000);
    await expectHealthy(d.url);
  });

  it('station.yaml expressions.maxCost raises the budget for the daemon', async () => {
    const d = await serve(
      repo({
        'station.yaml': 'expressions:\n  maxCost: 5000000\n  maxMillis: 30000\n',
        'environments/default/workflows/nested.workflow.yaml': NESTED,
      }),
    );
    const started = await api<RunJson>(d, 'POST', '/api/v1/workflow-runs?wait=60', { workflowId: 'nested', input: { items: ITEMS } });
    const done = started.json.status === 'COMPLETED' ? started.json : await until('run ended', async () => {
      const r = await run(d, started.json.id);
      return r.status === 'RUNNING' ? undefined : r;
    });
    expect(done.status).toBe('COMPLETED');
    await expectHealthy(d.url);
  });

  it('string doubling is stopped by the size it builds, not after 67 million characters', async () => {
    const d = await serve(repo({ 'environments/default/workflows/doubling.workflow.yaml': DOUBLING }));
    const started = await api<RunJson>(d, 'POST', '/api/v1/workflow-runs?wait=60', { workflowId: 'doubling', input: { seed: 'ab' } });
    const done = started.json.status === 'FAILED' ? started.json : await until('run failed', async () => {
      const r = await run(d, started.json.id);
      return r.status === 'FAILED' ? r : undefined;
    });
    const step = done.steps.find((s) => s.state === 'grow');
    expect(step?.error?.code).toBe('STN_E_EXPR_BUDGET');
    expect(step?.error?.message).toContain('while building a string of 524,288 characters');
    await expectHealthy(d.url);
  });

  it('a cron workflow nesting comprehensions 4 deep is refused at sync and never fires', async () => {
    const d = await serve(repo({ 'environments/default/workflows/deep.workflow.yaml': CRON4 }));
    const list = await api<{ items: Array<{ id: string; status: string; error?: unknown; firstError?: unknown }> }>(d, 'GET', '/api/v1/workflows?env=default');
    const wf = list.json.items.find((w) => w.id === 'cron-deep');
    expect(wf?.status).toBe('invalid');
    expect(JSON.stringify(wf)).toContain('STN_E_CEL_COST');
    expect(JSON.stringify(wf)).toContain('nested 4 deep, over the limit of 3');
    // Slots go by; nothing runs.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await runs(d, 'cron-deep')).toEqual([]);
    await expectHealthy(d.url);
  });

  it('a cron workflow going over the budget at run time: kill -9 mid-way, the restart listens and fails those runs', async () => {
    const r = repo({ 'environments/default/workflows/bomb.workflow.yaml': CRON3 });
    const first = await serve(r);
    // Wait for runs that already failed on the budget and for runs asleep before their switch.
    const seen = await until(
      'a failed run and a sleeping one',
      async () => {
        const all = await runs(first, 'cron-bomb');
        return all.some((x) => x.status === 'FAILED') && all.some((x) => x.status === 'RUNNING') ? all : undefined;
      },
      30_000,
    );
    await expectHealthy(first.url);
    const failedBefore = (await runs(first, 'cron-bomb')).filter((x) => x.status === 'FAILED');
    for (const f of failedBefore) {
      const detail = await run(first, f.id);
      expect(detail.steps.find((s) => s.state === 'route')?.error?.code).toBe('STN_E_EXPR_BUDGET');
    }
    // Runs that were asleep before their switch when the daemon was killed (their naps may be over by the time the
    // restarted daemon answers, so they are taken from before the kill).
    const midway = seen.filter((x) => x.status === 'RUNNING').map((x) => x.id);
    expect(midway.length).toBeGreaterThan(0);
    first.proc.kill('SIGKILL');
    await first.exited;
    daemons.splice(daemons.indexOf(first), 1);

    // The old daemon hung here: recovery re-evaluated the expression before listening.
    const second = await serve(r);
    await expectHealthy(second.url);
    for (const id of midway) {
      const done = await until(`run ${id} ended`, async () => {
        const x = await run(second, id);
        return x.status === 'RUNNING' ? undefined : x;
      }, 30_000);
      expect(done.status).toBe('FAILED');
      expect(done.steps.find((s) => s.state === 'route')).toMatchObject({ status: 'FAILED', error: { code: 'STN_E_EXPR_BUDGET' } });
    }
    await expectHealthy(second.url);

    // And a second kill -9 / restart does not evaluate those failed runs again: their failure is recorded.
    second.proc.kill('SIGKILL');
    await second.exited;
    daemons.splice(daemons.indexOf(second), 1);
    const third = await serve(r);
    await expectHealthy(third.url);
    for (const id of midway) expect((await run(third, id)).status).toBe('FAILED');
  });
});
