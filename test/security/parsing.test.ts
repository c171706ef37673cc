import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { spawnServe, until, type ServeProcess } from '../helpers/daemon-proc.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { expectHealthy } from '../helpers/security.js';
import { workflowPath } from '../helpers/workflow.js';

// docs/security.md, "Bounded parsing": every attack of the audit replayed against a real `stn serve`.

const VIEWER = 'viewer-token-parse';
const OPERATOR = 'operator-token-parse';

const HOOKED = `id: hooked
version: "1"
name: Hooked
triggers:
  - {type: webhook, name: alert}
states:
  - {name: a, type: operation, action: noop, end: true}
`;

const arrays = (n: number) => '['.repeat(n) + ']'.repeat(n);

/** A workflow file in JSON whose `input` nests `levels` arrays deep, about 2 bytes a level. */
function deepJsonWorkflow(id: string, levels: number): string {
  return `{\n  "id": "${id}",\n  "version": "1",\n  "name": "Deep",\n  "states": [\n    {"name": "a", "type": "operation", "action": "noop", "end": true,\n     "input": {"x": ${arrays(levels)}}}\n  ]\n}\n`;
}

let repo: GitRepo;
let daemon: ServeProcess;

const api = (path: string, init: RequestInit & { token?: string } = {}) =>
  fetch(`${daemon.url}/api/v1${path}`, {
    ...init,
    headers: { authorization: `Bearer ${init.token ?? OPERATOR}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
    signal: AbortSignal.timeout(20_000),
  });

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

/** The run ids the daemon has (to show an attack started nothing). */
async function runIds(): Promise<string[]> {
  const body = await json(await api('/workflow-runs?limit=200', { token: VIEWER }));
  return (body.items as Array<{ id: string }>).map((r) => r.id);
}

beforeAll(async () => {
  ensureBuilt();
  repo = createGitRepo('stn-sec-parse-');
  repo.write('.gitignore', '.station/\n');
  repo.write(
    'station.yaml',
    `server:\n  tokens:\n    - {name: ops, role: operator, env: OP_TOKEN}\n    - {name: dash, role: viewer, sha256: ${createHash('sha256').update(VIEWER).digest('hex')}}\n`,
  );
  repo.write(workflowPath('default', 'hooked'), HOOKED);
  // Two committed files of 100 KB of nesting: each used to abort the daemon on every start.
  repo.write('environments/default/workflows/deep-a.workflow.json', deepJsonWorkflow('deep-a', 50_000));
  repo.write('environments/default/workflows/deep-b.workflow.json', deepJsonWorkflow('deep-b', 50_000));
  repo.commit('fixtures, two of them hostile');
  daemon = await spawnServe(repo.dir, [], { OP_TOKEN: OPERATOR });
}, 60_000);

afterAll(async () => {
  await daemon?.stop();
  repo?.cleanup();
});

/** Asserts an API error answer: the status, the code, and no stack trace anywhere in it. */
async function expectRefused(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  expect(res.status, text.slice(0, 500)).toBe(status);
  expect(text).not.toMatch(/\n\s+at |\.js:\d+|RangeError|Maximum call stack/);
  const body = JSON.parse(text) as { error: { code: string; message: string; details: Record<string, unknown> | null } };
  expect(body.error.code).toBe(code);
  return body.error as unknown as Record<string, unknown>;
}

describe('deeply nested input against a running daemon', () => {
  it('starts with two committed 100 KB deep .workflow.json files and reports each invalid with file and line', async () => {
    for (let start = 0; start < 2; start++) {
      if (start === 1) {
        // The crash loop was "every start": a second start, on the same database, fares the same.
        expect(await daemon.stop()).toBe(0);
        daemon = await spawnServe(repo.dir, [], { OP_TOKEN: OPERATOR });
      }
      await expectHealthy(daemon.url);
      const list = await json(await api('/workflows?status=invalid', { token: VIEWER }));
      const items = list.items as Array<{ id: string; error: string }>;
      expect(items.map((d) => d.id)).toEqual(['deep-a', 'deep-b']);
      for (const d of items) {
        expect(d.error).toMatch(new RegExp(`^environments/default/workflows/${d.id}\\.workflow\\.json:7:\\d+: STN_E_NESTING_TOO_DEEP: .*deeper than 64 levels`));
      }
      const hooked = await json(await api('/workflows/hooked', { token: VIEWER }));
      expect(hooked.status).toBe('active');
    }
  }, 90_000);

  it('a viewer posting 20,000-deep arrays to /workflows/validate, three times, gets a clear verdict each time', async () => {
    const content = arrays(20_000);
    expect(content.length).toBe(40_000);
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const res = await api('/workflows/validate', { method: 'POST', token: VIEWER, body: JSON.stringify({ content, path: 'deep.workflow.json' }) });
      expect(res.status).toBe(200);
      const verdict = await json(res);
      expect(performance.now() - t0).toBeLessThan(2_000);
      expect(verdict.valid).toBe(false);
      expect(verdict.errors).toEqual([expect.objectContaining({ code: 'STN_E_NESTING_TOO_DEEP', line: 1 })]);
      await expectHealthy(daemon.url);
    }
    expect(daemon.proc.exitCode).toBeNull();
  });

  it('the same nesting as the JSON body itself is 400 STN_E_BODY_TOO_DEEP with its line and column, never a 500', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await api('/workflows/validate', { method: 'POST', token: VIEWER, body: `{"content": ${arrays(20_000)}}` });
      const error = await expectRefused(res, 400, 'STN_E_BODY_TOO_DEEP');
      expect(error.details).toEqual({ limit: 64, line: 1, col: 76 });
      expect(error.message).toMatch(/deeper than 64 levels \(line 1, column 76\)/);
    }
    await expectHealthy(daemon.url);
  });

  it('deep JSON in a run body is 400 STN_E_BODY_TOO_DEEP: no stack trace, no run', async () => {
    const before = await runIds();
    const res = await api('/workflow-runs', { method: 'POST', body: `{"workflowId": "hooked", "input": {"x": ${arrays(20_000)}}}` });
    await expectRefused(res, 400, 'STN_E_BODY_TOO_DEEP');
    // 64 levels are fine: the limit is not a stricter shape rule.
    const ok = await api('/workflow-runs', { method: 'POST', body: `{"workflowId": "hooked", "input": {"x": ${arrays(62)}}}` });
    expect(ok.status, await ok.clone().text()).toBe(201);
    const created = (await json(ok)).id as string;
    expect(await runIds()).toEqual(expect.arrayContaining([...before, created]));
    expect((await runIds()).length).toBe(before.length + 1);
    await expectHealthy(daemon.url);
  });

  it('deep JSON in a webhook body is 400 STN_E_BODY_TOO_DEEP, with or without a JSON content type; no run', async () => {
    const before = await runIds();
    // As bytes: fetch would label a string body text/plain, and text bodies are not parsed.
    const hook = (body: string, contentType?: string) =>
      fetch(`${daemon.url}/api/v1/hooks/default/hooked/alert`, {
        method: 'POST',
        body: new TextEncoder().encode(body),
        headers: contentType ? { 'content-type': contentType } : {},
        signal: AbortSignal.timeout(20_000),
      });
    await expectRefused(await hook(`{"alerts": ${arrays(20_000)}}`, 'application/json'), 400, 'STN_E_BODY_TOO_DEEP');
    await expectRefused(await hook(arrays(20_000)), 400, 'STN_E_BODY_TOO_DEEP');
    await expectRefused(await hook(`{"a": ${arrays(100)}}`, 'application/vnd.alert+json'), 400, 'STN_E_BODY_TOO_DEEP');
    expect(await runIds()).toEqual(before);
    const accepted = await hook('{"alerts": [{"labels": {"severity": "page"}}]}', 'application/json');
    expect(accepted.status).toBe(202);
    await expectHealthy(daemon.url);
  });

  it('a committed 600 KB nested file does not stall the sync, and /healthz answers while it runs', async () => {
    const levels = 100_000;
    const text = `{"id": "huge", "version": "1", "name": "Huge", "states": ${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}}\n`;
    expect(text.length).toBeGreaterThan(600_000);
    repo.write('environments/default/workflows/huge.workflow.json', text);
    repo.commit('a huge nested file');
    const t0 = performance.now();
    const syncing = api('/sync', { method: 'POST', body: '{}' });
    await expectHealthy(daemon.url);
    const res = await syncing;
    const ms = performance.now() - t0;
    expect(res.status).toBe(200);
    // It took 5.6 s before the fix; a sync of this repo is well under a second on an idle machine.
    expect(ms).toBeLessThan(3_000);
    const huge = await until('the huge file listed invalid', async () => {
      const list = await json(await api('/workflows?status=invalid', { token: VIEWER }));
      return (list.items as Array<{ id: string; error: string }>).find((d) => d.id === 'huge');
    });
    expect(huge.error).toMatch(/^environments\/default\/workflows\/huge\.workflow\.json:1:\d+: STN_E_NESTING_TOO_DEEP/);
    await expectHealthy(daemon.url);
  });
});
