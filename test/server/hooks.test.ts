import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '../../src/triggers/signature.js';
import { GIT_ENV } from '../helpers/git-repo.js';
import { startTestDaemon, type TestDaemon } from '../helpers/server-harness.js';
import { workflowPath, workflowYaml } from '../helpers/workflow.js';

const HOOK_SECRET = 'hook-secret-1';
const GIT_SECRET = 'git-secret-2';

const HOOKED = `id: hooked
version: "1"
name: Hooked
triggers:
  - {type: webhook, name: alert, secretEnv: HOOK_SECRET, input: {raw: "{{ body }}"}}
states:
  - {name: only, type: operation, action: noop, input: {got: "{{ input.raw }}"}, end: true}
`;

let t: TestDaemon;

beforeAll(async () => {
  t = await startTestDaemon({
    files: {
      'station.yaml': 'server:\n  maxBodyBytes: 2048\ngit:\n  webhookSecretEnv: GIT_HOOK_SECRET\n',
      [workflowPath('default', 'hooked')]: HOOKED,
    },
    env: { HOOK_SECRET, GIT_HOOK_SECRET: GIT_SECRET },
  });
});
afterAll(async () => {
  await t?.close();
});

const hook = (payload: string | Buffer, headers: Record<string, string>) =>
  t.app.inject({ method: 'POST', url: '/api/v1/hooks/default/hooked/alert', payload, headers });

const metric = async (outcome: string) => {
  const text = (await t.request('GET', '/metrics')).body;
  return Number(new RegExp(`^station_webhook_deliveries_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 'NaN');
};

describe('webhook route', () => {
  it('hands the exact received bytes to the signature check, whatever the content type', async () => {
    for (const [payload, type] of [
      ['{ "a" :1,\n  "b": [1, 2] }', 'application/json'],
      ['plain text, not json', 'text/plain'],
      ['{"x":1}', 'application/vnd.custom+json; charset=utf-8'],
    ] as const) {
      const r = await hook(payload, { 'content-type': type, 'x-hub-signature-256': `sha256=${signBody(payload, HOOK_SECRET)}` });
      expect(r.statusCode, `${type}: ${r.body}`).not.toBe(401);
      expect(r.statusCode, `${type}: ${r.body}`).not.toBe(413);
    }
    const accepted = await hook('{"ok":true}', { 'content-type': 'application/json', 'x-signature': signBody('{"ok":true}', HOOK_SECRET) });
    expect(accepted.statusCode, accepted.body).toBe(202);
    expect((JSON.parse(accepted.body) as { runId: string }).runId).toMatch(/\S/);
    expect(await metric('accepted')).toBeGreaterThanOrEqual(1);
  });

  it('refuses a bad signature with the unknown-trigger answer (404) and counts it as unauthorized', async () => {
    const before = await metric('unauthorized');
    const r = await hook('{"ok":true}', { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${signBody('{"ok":false}', HOOK_SECRET)}` });
    expect(r.statusCode).toBe(404);
    expect((JSON.parse(r.body) as { error: { code: string } }).error.code).toBe('STN_E_NOT_FOUND');
    expect(await metric('unauthorized')).toBe(before + 1);
  });

  it('refuses a body over server.maxBodyBytes with 413 before the handler, creating no run', async () => {
    const runs = async () => (JSON.parse((await t.request('GET', '/api/v1/workflow-runs?limit=500')).body) as { items: unknown[] }).items.length;
    const before = await runs();
    const tooLarge = await metric('too_large');
    const big = JSON.stringify({ pad: 'x'.repeat(3000) });
    const r = await hook(big, { 'content-type': 'application/json', 'x-signature': signBody(big, HOOK_SECRET) });
    expect(r.statusCode).toBe(413);
    expect(JSON.parse(r.body)).toEqual({ error: { code: 'STN_E_BODY_TOO_LARGE', message: expect.stringMatching(/maxBodyBytes/), details: null } });
    expect(await metric('too_large')).toBe(tooLarge + 1);
    expect(await runs()).toBe(before);
    // The limit holds for the JSON API too.
    const api = await t.request('POST', '/api/v1/workflows/validate', { body: { content: 'x'.repeat(3000) } });
    expect(api.statusCode).toBe(413);
  });
});

describe('git push webhook', () => {
  let remote: string;
  let other: string;
  const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, encoding: 'utf8' }).trim();

  beforeAll(() => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-remote-'));
    remote = path.join(root, 'origin.git');
    other = path.join(root, 'other');
    git(root, 'init', '-q', '--bare', '-b', 'main', remote);
    t.repo.git('remote', 'add', 'origin', remote);
    t.repo.git('push', '-q', '-u', 'origin', 'main');
    git(root, 'clone', '-q', remote, other);
  });
  afterAll(() => {
    fs.rmSync(path.dirname(remote), { recursive: true, force: true });
  });

  const push = (payload: string, headers: Record<string, string>) =>
    t.app.inject({ method: 'POST', url: '/api/v1/git/webhook', payload, headers: { 'content-type': 'application/json', ...headers } });

  it('refuses a wrong signature with 401 and changes nothing', async () => {
    const r = await push('{"ref":"refs/heads/main"}', { 'x-hub-signature-256': `sha256=${signBody('{}', GIT_SECRET)}` });
    expect(r.statusCode).toBe(401);
    expect((JSON.parse(r.body) as { error: { code: string } }).error.code).toBe('STN_E_WEBHOOK_SIGNATURE');
  });

  it("answers GitHub's ping without fetching", async () => {
    const r = await push('{"zen":"hi"}', { 'x-github-event': 'ping', 'x-hub-signature-256': `sha256=${signBody('{"zen":"hi"}', GIT_SECRET)}` });
    expect(r.statusCode).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ updated: false, reason: 'ping' });
  });

  it('fast-forwards the checkout on a signed push and syncs the new commit at once', async () => {
    fs.mkdirSync(path.join(other, 'environments', 'default', 'workflows'), { recursive: true });
    fs.writeFileSync(path.join(other, ...workflowPath('default', 'pushed').split('/')), workflowYaml('pushed'));
    git(other, 'add', '-A');
    git(other, 'commit', '-q', '-m', 'add pushed');
    git(other, 'push', '-q', 'origin', 'main');
    const sha = git(other, 'rev-parse', 'HEAD');

    const body = JSON.stringify({ ref: 'refs/heads/main', after: sha });
    const r = await push(body, { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${signBody(body, GIT_SECRET)}` });
    expect(r.statusCode, r.body).toBe(200);
    const answer = JSON.parse(r.body) as { updated: boolean; head: string; sync: { totals: { added: number } } };
    expect(answer).toMatchObject({ updated: true, head: sha });
    expect(answer.sync.totals.added).toBe(1);
    const d = JSON.parse((await t.request('GET', '/api/v1/workflows/pushed')).body) as { version: { commit: string } };
    expect(d.version.commit).toBe(sha);
    const status = JSON.parse((await t.request('GET', '/api/v1/sync/status')).body) as { git: { head: string; upstream: string }; syncs: Array<{ source: string }> };
    expect(status.git).toMatchObject({ head: sha, upstream: 'origin/main' });
    expect(status.syncs[0]?.source).toBe('webhook');
  });
});
