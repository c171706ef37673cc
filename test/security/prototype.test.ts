import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { spawnServe, until, type ServeProcess } from '../helpers/daemon-proc.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { expectHealthy } from '../helpers/security.js';
import { workflowPath } from '../helpers/workflow.js';

// docs/security.md, "Context paths and prototype pollution": the audit's attacks replayed against a real `stn serve`.

const VIEWER = 'viewer-token-proto';
const OPERATOR = 'operator-token-proto';

const POLLUTER = `id: polluter
version: "1"
name: Polluter
states:
  - name: a
    type: operation
    action: noop
    input: {yes: true}
    resultPath: __proto__.polluted
    end: true
`;

/** Its approval's summaryPath comes from the run input: a path made by a template. */
const GATE = `id: gate
version: "1"
name: Gate
states:
  - name: ask
    type: operation
    action: human.approval
    input:
      message: go?
      summaryPath: "{{ input.where }}"
    end: true
`;

/** A webhook whose template reads a body key named constructor, and vars with such a key. */
const HOOKED = `id: hooked
version: "1"
name: Hooked
triggers:
  - type: webhook
    name: alert
    input:
      who: "{{ body.constructor.name }}"
      count: "{{ body.count + 1 }}"
      raw: "{{ body }}"
states:
  - name: keep
    type: inject
    data: {body: "{{ input.raw }}"}
    next: echo
  - name: echo
    type: operation
    action: noop
    input: {who: "{{ input.who }}", count: "{{ input.count }}", region: "{{ vars.region }}", ctor: "{{ vars.constructor }}", proto: "{{ body.__proto__.polluted }}"}
    end: true
`;

const PLAIN = `id: plain
version: "1"
name: Plain
states:
  - {name: a, type: operation, action: noop, input: {n: "{{ input.n + 1 }}"}, end: true}
`;

let repo: GitRepo;
let daemon: ServeProcess;

const api = (path: string, init: RequestInit & { token?: string } = {}) =>
  fetch(`${daemon.url}/api/v1${path}`, {
    ...init,
    headers: { authorization: `Bearer ${init.token ?? OPERATOR}`, 'content-type': 'application/json' },
    signal: AbortSignal.timeout(20_000),
  });

async function json(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  expect(text).not.toMatch(/\n\s+at |RangeError|TypeError/);
  return JSON.parse(text) as Record<string, unknown>;
}

interface RunView {
  id: string;
  status: string;
  steps: Array<{ state: string; status: string; output: unknown; error: { code: string; message: string } | null }>;
}

async function run(workflowId: string, input: unknown): Promise<RunView> {
  const res = await api('/workflow-runs?wait=20', { method: 'POST', body: JSON.stringify({ workflowId, input }) });
  expect(res.status).toBe(201);
  return (await json(res)) as unknown as RunView;
}

beforeAll(async () => {
  ensureBuilt();
  repo = createGitRepo('stn-sec-proto-');
  repo.write('.gitignore', '.station/\n');
  repo.write(
    'station.yaml',
    `server:\n  tokens:\n    - {name: ops, role: operator, env: OP_TOKEN}\n    - {name: dash, role: viewer, sha256: ${createHash('sha256').update(VIEWER).digest('hex')}}\n`,
  );
  repo.write('environments/default/environment.yaml', 'vars:\n  region: eu-west\n  constructor: builder\n');
  repo.write(workflowPath('default', 'polluter'), POLLUTER);
  repo.write(workflowPath('default', 'gate'), GATE);
  repo.write(workflowPath('default', 'hooked'), HOOKED);
  repo.write(workflowPath('default', 'plain'), PLAIN);
  repo.commit('fixtures');
  daemon = await spawnServe(repo.dir, [], { OP_TOKEN: OPERATOR });
}, 60_000);

afterAll(async () => {
  await daemon?.stop();
  repo?.cleanup();
});

/** The JSON POSTs that failed while Object.prototype was polluted: validate, and a run that completes. */
async function expectJsonPostsWork(): Promise<void> {
  const res = await api('/workflows/validate', { method: 'POST', token: VIEWER, body: JSON.stringify({ content: HOOKED }) });
  expect(res.status).toBe(200);
  expect((await json(res)).valid).toBe(true);
  const r = await run('plain', { n: 1 });
  expect(r.status).toBe('COMPLETED');
  expect(r.steps[0]?.output).toEqual({ n: 2 });
}

describe('prototype pollution against a running daemon', () => {
  it('resultPath: __proto__.polluted is refused at validation, with its line (sync and /workflows/validate)', async () => {
    await expectHealthy(daemon.url);
    const line = POLLUTER.split('\n').findIndex((l) => l.includes('resultPath')) + 1;
    const d = await json(await api('/workflows/polluter', { token: VIEWER }));
    expect(d.status).toBe('invalid');
    expect(d.version).toBeNull();
    const listed = await json(await api('/workflows?status=invalid', { token: VIEWER }));
    expect(listed.items).toEqual([
      expect.objectContaining({ id: 'polluter', error: expect.stringMatching(new RegExp(`^environments/default/workflows/polluter\\.workflow\\.yaml:${line}:17: STN_E_PATH_RESERVED: `)) }),
    ]);
    const res = await api('/workflows/validate', { method: 'POST', token: VIEWER, body: JSON.stringify({ content: POLLUTER }) });
    expect(res.status).toBe(200);
    const verdict = await json(res);
    expect(verdict.valid).toBe(false);
    expect(verdict.errors).toEqual([expect.objectContaining({ code: 'STN_E_PATH_RESERVED', line, col: 17 })]);
    const refused = await api('/workflow-runs', { method: 'POST', body: JSON.stringify({ workflowId: 'polluter' }) });
    expect(refused.status).toBe(409);
    expect(((await json(refused)).error as { code: string }).code).toBe('STN_E_WORKFLOW_UNAVAILABLE');
    await expectJsonPostsWork();
  });

  it('a summaryPath made by a template that names __proto__ fails its step with STN_E_CONTEXT_PATH', async () => {
    for (const where of ['__proto__.polluted', 'steps.constructor.prototype.polluted']) {
      const r = await run('gate', { where });
      expect(r.status).toBe('FAILED');
      expect(r.steps).toEqual([expect.objectContaining({ state: 'ask', status: 'FAILED', error: expect.objectContaining({ code: 'STN_E_CONTEXT_PATH' }) })]);
    }
    await expectHealthy(daemon.url);
    await expectJsonPostsWork();
  });

  it('a webhook body with keys constructor and __proto__: templates read them as data, nothing is polluted', async () => {
    const body = '{"constructor": {"name": "alice"}, "__proto__": {"polluted": "yes"}, "count": 1}';
    const res = await fetch(`${daemon.url}/api/v1/hooks/default/hooked/alert`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(20_000),
    });
    expect(res.status, await res.clone().text()).toBe(202);
    const { runId } = (await json(res)) as { runId: string };
    const r = await until('the webhook run to end', async () => {
      const v = (await json(await api(`/workflow-runs/${runId}`, { token: VIEWER }))) as unknown as RunView;
      return v.status === 'COMPLETED' || v.status === 'FAILED' ? v : undefined;
    });
    expect(r.status).toBe('COMPLETED');
    expect(r.steps.find((s) => s.state === 'echo')?.output).toEqual({ who: 'alice', count: 2, region: 'eu-west', ctor: 'builder', proto: 'yes' });
    await expectHealthy(daemon.url);
    await expectJsonPostsWork();
  });

  it('an API body with a __proto__ key is refused (400), and nothing changes', async () => {
    const res = await api('/workflow-runs', { method: 'POST', body: '{"workflowId": "hooked", "input": {"__proto__": {"polluted": true}}}' });
    expect(res.status).toBe(400);
    expect(((await json(res)).error as { code: string }).code).toBe('STN_E_USAGE');
    await expectJsonPostsWork();
  });

  it('after a restart, which replays every stored context, JSON POSTs still work', async () => {
    expect(await daemon.stop()).toBe(0);
    daemon = await spawnServe(repo.dir, [], { OP_TOKEN: OPERATOR });
    await expectHealthy(daemon.url);
    await expectJsonPostsWork();
    await expectHealthy(daemon.url);
  }, 60_000);
});
