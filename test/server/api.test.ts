import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForRunEnd } from '../../src/client/run-tail.js';
import { GATED_WORKFLOW, startTestDaemon, THREE_STEPS, TYPED_WORKFLOW, type TestDaemon } from '../helpers/server-harness.js';
import { workflowPath, workflowYaml } from '../helpers/workflow.js';

let t: TestDaemon;

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
interface ErrorJson {
  error: { code: string; message: string; details: Record<string, unknown> | null };
}
interface RunJson {
  id: string;
  status: string;
  workflowId: string;
  environment: string;
  version: number;
  initiator: string | null;
  trigger: { type: string; via?: string };
  output: unknown;
  steps: Array<{ state: string; status: string; output: unknown }>;
}

beforeAll(async () => {
  const files: Record<string, string> = {
    [workflowPath('default', 'gated')]: GATED_WORKFLOW,
    [workflowPath('default', 'typed')]: TYPED_WORKFLOW,
    [workflowPath('default', 'three')]: THREE_STEPS,
    [workflowPath('staging', 'three')]: THREE_STEPS,
    [workflowPath('default', 'broken')]: 'id: broken\nversion: "1"\nname: Broken\nstates: nope\n',
  };
  for (let i = 0; i < 5; i++) files[workflowPath('bulk', `w${i}`)] = workflowYaml(`w${i}`);
  t = await startTestDaemon({ files });
});
afterAll(async () => {
  await t?.close();
});

const json = <T>(r: { body: string }) => JSON.parse(r.body) as T;

/** Every error answer has exactly the documented shape and no stack trace. */
function expectError(r: { statusCode: number; body: string }, status: number, code: string): ErrorJson {
  expect(r.statusCode, r.body).toBe(status);
  const body = json<ErrorJson>(r);
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'details', 'message']);
  expect(body.error.code).toBe(code);
  expect(r.body).not.toMatch(/\n\s+at /);
  return body;
}

describe('workflows', () => {
  it('lists definitions with status, version and the first error of an invalid file', async () => {
    const r = await t.request('GET', '/api/v1/workflows?env=default');
    expect(r.statusCode).toBe(200);
    const page = json<Page<{ id: string; status: string; version: number | null; error: string | null; commit: string | null }>>(r);
    expect(page.items.map((d) => d.id)).toEqual(['broken', 'gated', 'three', 'typed']);
    expect(page.nextCursor).toBeNull();
    const broken = page.items.find((d) => d.id === 'broken');
    expect(broken?.status).toBe('invalid');
    expect(broken?.version).toBeNull();
    expect(broken?.error).toMatch(/^environments\/default\/workflows\/broken\.workflow\.yaml:\d+:\d+: STN_E_SCHEMA_TYPE/);
    expect(page.items.find((d) => d.id === 'three')?.commit).toMatch(/^[0-9a-f]{40}$/);
  });

  it('pages through every definition with limit and cursor, without repeats or gaps', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/api/v1/workflows?limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const page: Page<{ environment: string; id: string }> = json(await t.request('GET', url));
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((d) => `${d.environment}/${d.id}`));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    const all = json<Page<{ environment: string; id: string }>>(await t.request('GET', '/api/v1/workflows?limit=500'));
    expect(seen).toEqual(all.items.map((d) => `${d.environment}/${d.id}`));
    expect(seen).toHaveLength(10);
    expect(pages).toBe(4);
  });

  it('refuses a malformed cursor and an out-of-range limit with 400 naming the parameter', async () => {
    const bad = expectError(await t.request('GET', '/api/v1/workflows?cursor=%%%'), 400, 'STN_E_USAGE');
    expect(bad.error.message).toMatch(/cursor/);
    const big = expectError(await t.request('GET', '/api/v1/workflows?limit=100000'), 400, 'STN_E_USAGE');
    expect(big.error.message).toMatch(/limit/);
    expectError(await t.request('GET', '/api/v1/workflows?status=gone'), 400, 'STN_E_USAGE');
  });

  it('shows a definition with its spec and raw text; an id in two environments needs ?env=', async () => {
    const r = await t.request('GET', '/api/v1/workflows/gated');
    expect(r.statusCode).toBe(200);
    const d = json<{ environment: string; activeVersion: number; version: { version: number; raw: string; spec: { states: unknown[] } } }>(r);
    expect(d.environment).toBe('default');
    expect(d.version.version).toBe(1);
    expect(d.version.raw).toBe(GATED_WORKFLOW);
    expect(d.version.spec.states).toHaveLength(3);

    const ambiguous = expectError(await t.request('GET', '/api/v1/workflows/three'), 400, 'STN_E_USAGE');
    expect(ambiguous.error.message).toMatch(/default, staging.*\?env=/);
    expect((await t.request('GET', '/api/v1/workflows/three?env=staging')).statusCode).toBe(200);
    expectError(await t.request('GET', '/api/v1/workflows/nothing'), 404, 'STN_E_NOT_FOUND');
    expectError(await t.request('GET', '/api/v1/workflows/gated?version=9'), 404, 'STN_E_NOT_FOUND');
  });

  it('lists versions and shows one', async () => {
    const versions = json<Page<{ version: number; active: boolean; contentHash: string }>>(await t.request('GET', '/api/v1/workflows/gated/versions'));
    expect(versions.items).toEqual([expect.objectContaining({ version: 1, active: true })]);
    const v1 = json<{ version: number; raw: string }>(await t.request('GET', '/api/v1/workflows/gated/versions/1'));
    expect(v1.raw).toBe(GATED_WORKFLOW);
    expectError(await t.request('GET', '/api/v1/workflows/gated/versions/2'), 404, 'STN_E_NOT_FOUND');
    expectError(await t.request('GET', '/api/v1/workflows/gated/versions/x'), 400, 'STN_E_USAGE');
  });

  it('validates a definition sent in the body, with file:line:col diagnostics', async () => {
    const ok = json<{ valid: boolean; id: string }>(await t.request('POST', '/api/v1/workflows/validate', { body: { content: THREE_STEPS } }));
    expect(ok).toMatchObject({ valid: true, id: 'three' });
    const bad = json<{ valid: boolean; path: string; errors: Array<{ line: number; code: string }> }>(
      await t.request('POST', '/api/v1/workflows/validate', { body: { content: 'id: x\nversion: "1"\nname: X\nstates:\n  - {name: a, type: operation, action: nope, end: true}\n', path: 'x.workflow.yaml' } }),
    );
    expect(bad.valid).toBe(false);
    expect(bad.path).toBe('x.workflow.yaml');
    expect(bad.errors[0]).toMatchObject({ line: 5, code: 'STN_E_UNKNOWN_ACTION' });
    const missing = expectError(await t.request('POST', '/api/v1/workflows/validate', { body: {} }), 400, 'STN_E_USAGE');
    expect(missing.error.message).toMatch(/content/);
  });
});

describe('runs', () => {
  it('starts a run (201) that records the API as trigger and waits for its end with ?wait=', async () => {
    const r = await t.request('POST', '/api/v1/workflow-runs?wait=10', { body: { workflowId: 'three', environment: 'default' } });
    expect(r.statusCode, r.body).toBe(201);
    const run = json<RunJson>(r);
    expect(run.status).toBe('COMPLETED');
    expect(run.trigger).toEqual({ type: 'manual', via: 'api' });
    expect(run.initiator).toBe('api');
    expect(run.steps.map((s) => `${s.state}:${s.status}`)).toEqual(['a:SUCCEEDED', 'b:SUCCEEDED', 'c:SUCCEEDED']);
  });

  it('answers ?wait= when the wait runs out, with the run still going', async () => {
    const started = Date.now();
    const r = await t.request('POST', '/api/v1/workflow-runs?wait=0.3', { body: { workflowId: 'gated' } });
    expect(r.statusCode).toBe(201);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    const run = json<RunJson>(r);
    expect(run.status).not.toMatch(/COMPLETED|FAILED|CANCELLED|TIMED_OUT/);
    expect(run.steps.find((s) => s.state === 'gate')?.status).toBe('WAITING_SIGNAL');
    await t.request('POST', `/api/v1/workflow-runs/${run.id}/cancel`);
  });

  it('returns the first run (200) for a repeated idempotency key', async () => {
    const body = { workflowId: 'typed', input: { host: 'db1' }, idempotencyKey: 'deploy-42' };
    const first = await t.request('POST', '/api/v1/workflow-runs', { body });
    const second = await t.request('POST', '/api/v1/workflow-runs', { body });
    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(200);
    expect(json<RunJson>(second).id).toBe(json<RunJson>(first).id);
  });

  it('refuses bad input: 422 with every inputSchema violation, 400 for unknown fields, 404 unknown workflow, 409 invalid-only workflow', async () => {
    const invalid = expectError(await t.request('POST', '/api/v1/workflow-runs', { body: { workflowId: 'typed', input: { count: 0, extra: 1 } } }), 422, 'STN_E_INPUT_INVALID');
    const errors = (invalid.error.details as { errors: Array<{ missing?: string; field?: string; path: string }> }).errors;
    expect(errors).toEqual(expect.arrayContaining([expect.objectContaining({ missing: 'host' }), expect.objectContaining({ field: 'extra' }), expect.objectContaining({ path: '/count' })]));

    const unknown = expectError(await t.request('POST', '/api/v1/workflow-runs', { body: { workflowId: 'three', environment: 'default', inputs: {} } }), 400, 'STN_E_USAGE');
    expect(unknown.error.details).toMatchObject({ in: 'body', errors: [expect.objectContaining({ field: 'inputs' })] });
    expectError(await t.request('POST', '/api/v1/workflow-runs', { body: { environment: 'default' } }), 400, 'STN_E_USAGE');
    expectError(await t.request('POST', '/api/v1/workflow-runs', { body: { workflowId: 'ghost', environment: 'default' } }), 404, 'STN_E_NOT_FOUND');
    expectError(await t.request('POST', '/api/v1/workflow-runs', { body: { workflowId: 'broken', environment: 'default' } }), 409, 'STN_E_WORKFLOW_UNAVAILABLE');
    expectError(await t.request('POST', '/api/v1/workflow-runs?wait=601', { body: { workflowId: 'gated' } }), 400, 'STN_E_USAGE');
    // Malformed JSON is the client's mistake too.
    const malformed = await t.app.inject({ method: 'POST', url: '/api/v1/workflow-runs', payload: '{"workflowId":', headers: { 'content-type': 'application/json' } });
    expectError(malformed, 400, 'STN_E_USAGE');
    const before = json<Page<RunJson>>(await t.request('GET', '/api/v1/workflow-runs?workflowId=ghost'));
    expect(before.items).toEqual([]);
  });

  it('refuses JSON body fields of the wrong type naming them (never coerced), while query strings are read as numbers', async () => {
    const runsBefore = json<Page<RunJson>>(await t.request('GET', '/api/v1/workflow-runs?limit=500')).items.length;
    const cases: Array<[string, unknown, string]> = [
      ['/api/v1/workflow-runs', { workflowId: 3 }, '/workflowId'],
      ['/api/v1/workflow-runs', { workflowId: 'three', environment: 'default', version: '1' }, '/version'],
      ['/api/v1/workflow-runs', { workflowId: 'three', environment: 'default', idempotencyKey: 42 }, '/idempotencyKey'],
      ['/api/v1/sync', { dryRun: 'true' }, '/dryRun'],
      ['/api/v1/workflows/validate', { content: 7 }, '/content'],
    ];
    for (const [url, body, field] of cases) {
      const e = expectError(await t.request('POST', url, { body }), 400, 'STN_E_USAGE');
      expect(e.error.details, JSON.stringify(body)).toMatchObject({ in: 'body', errors: [expect.objectContaining({ path: field })] });
    }
    expect(json<Page<RunJson>>(await t.request('GET', '/api/v1/workflow-runs?limit=500')).items.length).toBe(runsBefore);
    const page = await t.request('GET', '/api/v1/workflow-runs?limit=1');
    expect(page.statusCode, page.body).toBe(200);
    expect(json<Page<RunJson>>(page).items).toHaveLength(1);
  });

  it('pauses, resumes, signals and cancels a run; acting on an ended run is 409', async () => {
    const run = json<RunJson>(await t.request('POST', '/api/v1/workflow-runs?wait=0.2', { body: { workflowId: 'gated' } }));
    const paused = await t.request('POST', `/api/v1/workflow-runs/${run.id}/pause`);
    expect(paused.statusCode).toBe(200);
    expect(json<{ status: string; paused: boolean }>(paused)).toMatchObject({ status: 'PAUSED', paused: true });
    const resumed = json<{ status: string; paused: boolean }>(await t.request('POST', `/api/v1/workflow-runs/${run.id}/resume`));
    expect(resumed).toMatchObject({ status: 'WAITING_SIGNAL', paused: false });

    const signal = await t.request('POST', `/api/v1/workflow-runs/${run.id}/signals`, { body: { name: 'go', payload: { ok: 1 } } });
    expect(signal.statusCode).toBe(202);
    expect(json<{ signalId: number }>(signal).signalId).toBeGreaterThan(0);
    expect(await waitForRunEnd(t.station, run.id, 10_000)).toBe(true);
    const done = json<RunJson>(await t.request('GET', `/api/v1/workflow-runs/${run.id}`));
    expect(done.status).toBe('COMPLETED');
    expect(done.steps.find((s) => s.state === 'gate')?.output).toEqual({ ok: 1 });

    expectError(await t.request('POST', `/api/v1/workflow-runs/${run.id}/pause`), 409, 'STN_E_RUN_FINISHED');
    expectError(await t.request('POST', `/api/v1/workflow-runs/${run.id}/signals`, { body: { name: 'go' } }), 409, 'STN_E_RUN_FINISHED');

    const other = json<RunJson>(await t.request('POST', '/api/v1/workflow-runs?wait=0.2', { body: { workflowId: 'gated' } }));
    const cancel = await t.request('POST', `/api/v1/workflow-runs/${other.id}/cancel`, { body: { compensate: false } });
    expect(cancel.statusCode).toBe(202);
    expect(json<{ cancelRequested: boolean }>(cancel).cancelRequested).toBe(true);
    expect(await waitForRunEnd(t.station, other.id, 10_000)).toBe(true);
    expect(json<RunJson>(await t.request('GET', `/api/v1/workflow-runs/${other.id}`)).status).toBe('CANCELLED');
    expectError(await t.request('POST', '/api/v1/workflow-runs/nope/cancel'), 404, 'STN_E_NOT_FOUND');
    expectError(await t.request('POST', `/api/v1/workflow-runs/${other.id}/cancel`, { body: { compensate: 'yes' } }), 400, 'STN_E_USAGE');
  });

  it('lists runs newest first with filters and cursor pagination', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(json<RunJson>(await t.request('POST', '/api/v1/workflow-runs?wait=5', { body: { workflowId: 'w1', environment: 'bulk' } })).id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<{ id: string; workflowId: string; status: string }> = json(
        await t.request('GET', `/api/v1/workflow-runs?workflowId=w1&environment=bulk&limit=2${cursor ? `&cursor=${cursor}` : ''}`),
      );
      for (const r of page.items) expect(r).toMatchObject({ workflowId: 'w1', status: 'COMPLETED' });
      seen.push(...page.items.map((r) => r.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const completed = json<Page<{ status: string }>>(await t.request('GET', '/api/v1/workflow-runs?status=COMPLETED&limit=500'));
    expect(completed.items.every((r) => r.status === 'COMPLETED')).toBe(true);
    expectError(await t.request('GET', '/api/v1/workflow-runs?status=DONE'), 400, 'STN_E_USAGE');
  });

  it('filters runs by trigger and by creation time, and pages through the filtered list', async () => {
    const start = (trigger?: { type: string; name: string }) =>
      t.station.runs.start({ workflowId: 'w1', environment: 'bulk', input: {}, ...(trigger ? { trigger } : {}) }).run.id;
    const pause = () => new Promise((r) => setTimeout(r, 5));
    const manual = start();
    await pause();
    const mid = new Date().toISOString();
    await pause();
    const crons = [start({ type: 'cron', name: 'nightly' }), start({ type: 'cron', name: 'nightly' }), start({ type: 'cron', name: 'nightly' })];
    const hook = start({ type: 'webhook', name: 'alert' });
    await pause();
    const end = new Date().toISOString();
    const list = async (query: string): Promise<string[]> => {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const page: Page<{ id: string }> = json(
          await t.request('GET', `/api/v1/workflow-runs?workflowId=w1&environment=bulk&limit=2&${query}${cursor ? `&cursor=${cursor}` : ''}`),
        );
        ids.push(...page.items.map((r) => r.id));
        cursor = page.nextCursor;
      } while (cursor);
      return ids;
    };
    // Runs started within one millisecond have no order among themselves (ids sort by time, then at random).
    const sorted = (ids: string[]) => [...ids].sort();
    expect(sorted(await list('trigger=cron'))).toEqual(sorted(crons));
    expect(await list('trigger=webhook')).toEqual([hook]);
    expect(await list(`trigger=manual&since=${mid}`)).toEqual([]);
    expect(sorted(await list(`since=${mid}&until=${end}`))).toEqual(sorted([...crons, hook]));
    expect(await list(`until=${mid}`)).toContain(manual);
    expect(await list(`until=${mid}`)).not.toContain(hook);
    expectError(await t.request('GET', '/api/v1/workflow-runs?trigger=slack'), 400, 'STN_E_USAGE');
    expectError(await t.request('GET', '/api/v1/workflow-runs?since=yesterday'), 400, 'STN_E_USAGE');
  });

  it("pages through a run's events in sequence order", async () => {
    const run = json<RunJson>(await t.request('POST', '/api/v1/workflow-runs?wait=5', { body: { workflowId: 'three', environment: 'default' } }));
    const all = json<Page<{ seq: number; type: string }>>(await t.request('GET', `/api/v1/workflow-runs/${run.id}/events?limit=500`));
    expect(all.items[0]?.type).toBe('run:created');
    expect(all.items.at(-1)?.type).toBe('run:completed');
    expect(all.items.map((e) => e.seq)).toEqual(all.items.map((_e, i) => i + 1));
    const seqs: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<{ seq: number }> = json(await t.request('GET', `/api/v1/workflow-runs/${run.id}/events?limit=4${cursor ? `&cursor=${cursor}` : ''}`));
      seqs.push(...page.items.map((e) => e.seq));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seqs).toEqual(all.items.map((e) => e.seq));
    expectError(await t.request('GET', '/api/v1/workflow-runs/nope/events'), 404, 'STN_E_NOT_FOUND');
  });
});

describe('errors, health and documents', () => {
  it('answers unknown routes with the error shape', async () => {
    const r = expectError(await t.request('GET', '/api/v1/nothing-here'), 404, 'STN_E_NOT_FOUND');
    expect(r.error.message).toBe('no route GET /api/v1/nothing-here');
  });

  it('reports liveness and readiness with the last sync', async () => {
    expect(json(await t.request('GET', '/healthz'))).toEqual({ status: 'ok' });
    const ready = await t.request('GET', '/readyz');
    expect(ready.statusCode).toBe(200);
    expect(json(ready)).toMatchObject({ status: 'ready', checks: { database: 'ok', initialSync: 'done', lastSync: { source: 'start', status: 'invalid' } } });
  });

  it('reports the variables a sync pinned (the response schema keeps them)', async () => {
    t.repo.write('environments/default/environment.yaml', 'vars: {team: api-sre}\n');
    const r = await t.request('POST', '/api/v1/sync', { body: { environment: 'default' } });
    expect(r.statusCode, r.body).toBe(200);
    const report = json<{ environments: Array<{ variables: { revision: number; changed: boolean; changes: unknown[] } | null }> }>(r);
    expect(report.environments[0]?.variables).toMatchObject({ changed: true });
    expect(report.environments[0]?.variables?.changes).toContainEqual({ scope: null, name: 'team', change: 'added', to: 'api-sre' });
  });

  it('syncs on request and reports sync status per environment', async () => {
    t.repo.write(workflowPath('default', 'late'), workflowYaml('late'));
    const r = await t.request('POST', '/api/v1/sync', { body: { environment: 'default' } });
    expect(r.statusCode, r.body).toBe(200);
    const report = json<{ environments: Array<{ name: string; added: string[]; invalid: Array<{ path: string }> }> }>(r);
    expect(report.environments).toHaveLength(1);
    expect(report.environments[0]).toMatchObject({ name: 'default', added: ['late'] });
    expect(report.environments[0]?.invalid.map((i) => i.path)).toEqual(['environments/default/workflows/broken.workflow.yaml']);
    expect((await t.request('GET', '/api/v1/workflows/late')).statusCode).toBe(200);
    expectError(await t.request('POST', '/api/v1/sync', { body: { environment: 'nowhere' } }), 404, 'STN_E_NOT_FOUND');
    expectError(await t.request('POST', '/api/v1/sync', { body: { environment: '../x' } }), 404, 'STN_E_NOT_FOUND');

    const status = json<{ environments: Array<{ name: string; lastSyncedCommit: string | null }>; syncs: Array<{ source: string }>; git: unknown; watching: boolean }>(
      await t.request('GET', '/api/v1/sync/status'),
    );
    expect(status.environments.map((e) => e.name)).toEqual(['bulk', 'default', 'staging']);
    expect(status.environments[0]?.lastSyncedCommit).toBe(t.repo.git('rev-parse', 'HEAD'));
    expect(status.syncs[0]?.source).toBe('api');
    // Without polling the checkout is still read as it is now (branch, HEAD, local changes).
    expect(status.git).toMatchObject({ branch: 'main', head: t.repo.git('rev-parse', 'HEAD'), dirty: expect.any(Boolean), polling: false });
    expect(status.watching).toBe(false);
  });

  it('serves an OpenAPI 3.1 document with every API route and its schemas', async () => {
    const r = await t.request('GET', '/api/v1/openapi.json');
    expect(r.statusCode).toBe(200);
    const doc = json<{ openapi: string; paths: Record<string, Record<string, { requestBody?: unknown; parameters?: unknown[]; responses: Record<string, unknown> }>> }>(r);
    expect(doc.openapi).toBe('3.1.0');
    const routes = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(routes).toEqual(
      expect.arrayContaining([
        'GET /api/v1/workflows',
        'GET /api/v1/workflows/{id}',
        'GET /api/v1/workflows/{id}/versions',
        'GET /api/v1/workflows/{id}/versions/{n}',
        'POST /api/v1/workflows/validate',
        'POST /api/v1/workflow-runs',
        'GET /api/v1/workflow-runs',
        'GET /api/v1/workflow-runs/{id}',
        'GET /api/v1/workflow-runs/{id}/events',
        'GET /api/v1/workflow-runs/{id}/stream',
        'POST /api/v1/workflow-runs/{id}/pause',
        'POST /api/v1/workflow-runs/{id}/resume',
        'POST /api/v1/workflow-runs/{id}/cancel',
        'POST /api/v1/workflow-runs/{id}/signals',
        'GET /api/v1/workflow-approvals',
        'GET /api/v1/workflow-approvals/{aid}',
        'GET /api/v1/workflow-runs/{id}/approvals',
        'POST /api/v1/workflow-runs/{id}/approvals/{aid}/approve',
        'POST /api/v1/workflow-runs/{id}/approvals/{aid}/reject',
        'POST /slack/events',
        'POST /api/v1/hooks/{env}/{workflowId}/{trigger}',
        'POST /api/v1/git/webhook',
        'POST /api/v1/sync',
        'GET /api/v1/sync/status',
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
      ]),
    );
    expect(doc.paths['/api/v1/workflow-runs']?.post?.requestBody).toBeDefined();
    expect(Object.keys(doc.paths['/api/v1/workflow-runs']?.post?.responses ?? {})).toEqual(expect.arrayContaining(['200', '201', '400', '401', '403', '404', '409', '422']));
    // Webhook triggers: every answer a webhook gives (README "Webhooks") is listed.
    expect(Object.keys(doc.paths['/api/v1/hooks/{env}/{workflowId}/{trigger}']?.post?.responses ?? {}).sort()).toEqual(['200', '202', '400', '401', '404', '409', '413', '422', '500']);
    // Approvals: the answers are described (an approval's fields, the decision), not left as "any".
    const approve = doc.paths['/api/v1/workflow-runs/{id}/approvals/{aid}/approve']?.post;
    expect(approve?.requestBody).toBeDefined();
    expect(Object.keys(approve?.responses ?? {})).toEqual(expect.arrayContaining(['200', '401', '403', '404', '409']));
    const decided = JSON.stringify(approve?.responses['200']);
    for (const field of ['outcome', 'remaining', 'by', 'approval', 'runId', 'votes', 'decision', 'requiredApprovals']) expect(decided).toContain(`"${field}"`);
    const listed = JSON.stringify(doc.paths['/api/v1/workflow-approvals']?.get?.responses['200']);
    for (const field of ['items', 'nextCursor', 'status', 'timeoutAt']) expect(listed).toContain(`"${field}"`);
  });

  it('exports Prometheus metrics: runs by status, step durations, queue depth, syncs and webhooks', async () => {
    // A sync of another environment leaves the invalid file of default counted.
    expect((await t.request('POST', '/api/v1/sync', { body: { environment: 'bulk' } })).statusCode).toBe(200);
    const r = await t.request('GET', '/metrics');
    expect(r.body).toMatch(/^station_sync_invalid_files 1$/m);
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.body).toMatch(/^station_runs\{status="COMPLETED"\} [1-9]\d*$/m);
    expect(r.body).toMatch(/^station_runs\{status="CANCELLED"\} [1-9]\d*$/m);
    expect(r.body).toMatch(/^station_step_duration_seconds_count\{outcome="succeeded"\} [1-9]\d*$/m);
    expect(r.body).toMatch(/^station_queue_depth \d+$/m);
    expect(r.body).toMatch(/^station_sync_duration_seconds_count\{source="start"\} 1$/m);
    expect(r.body).toMatch(/^station_webhook_deliveries_total\{outcome="accepted"\} \d+$/m);
    expect(r.body).toMatch(/^station_sync_errors_total\{source="watch"\} 0$/m);
    // Node's process metrics under the station_ prefix, without a doubled process_.
    expect(r.body).toMatch(/^station_process_cpu_seconds_total [\d.]+$/m);
    expect(r.body).toMatch(/^station_nodejs_eventloop_lag_seconds [\d.e-]+$/m);
    expect(r.body).not.toMatch(/station_process_process_|station_process_nodejs_/);
  });
});
