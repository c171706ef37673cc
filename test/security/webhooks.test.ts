import { randomUUID } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody, signTimestamped } from '../../src/triggers/signature.js';
import { ensureBuilt } from '../helpers/cli.js';
import { dedent } from '../helpers/engine-harness.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { expectHealthy } from '../helpers/security.js';
import { startServe, type ServeProc } from '../helpers/serve-proc.js';

/**
 * Webhook replay and forgery (issue "Hardening", item 8 and part of 12) against the built `stn serve`: every attack is
 * refused, starts no run, and the daemon stays healthy.
 */

const SECRET = 'current-hook-secret-7f3a';
const OLD_SECRET = 'previous-hook-secret-19cc';

const HOOK = dedent(`
  id: hook
  version: "1"
  name: Hook
  triggers:
    - {type: webhook, name: stamped, secretEnv: HOOK_SECRET, previousSecretEnv: HOOK_SECRET_OLD, requireTimestamp: true}
    - {type: webhook, name: github, secretEnv: HOOK_SECRET, requireDeliveryId: true}
    - {type: webhook, name: open}
  states:
    - {name: go, type: operation, action: noop, end: true}
`);

// Another workflow whose trigger shares the secret: a request signed for hook/stamped must not start it.
const OTHER = dedent(`
  id: other
  version: "1"
  name: Other
  triggers:
    - {type: webhook, name: shared, secretEnv: HOOK_SECRET}
  states:
    - {name: go, type: operation, action: noop, end: true}
`);

let repo: GitRepo;
let daemon: ServeProc;

beforeAll(async () => {
  ensureBuilt();
  repo = createGitRepo('stn-sec-hooks-');
  repo.write('.gitignore', '.station/\n');
  repo.write('environments/default/workflows/hook.workflow.yaml', HOOK);
  repo.write('environments/default/workflows/other.workflow.yaml', OTHER);
  repo.commit('hooks');
  daemon = await startServe(repo.dir, { HOOK_SECRET: SECRET, HOOK_SECRET_OLD: OLD_SECRET }, ['--no-watch']);
});

afterAll(async () => {
  await daemon.stop();
  repo.cleanup();
});

const pathOf = (workflow: string, trigger: string) => `/api/v1/hooks/default/${workflow}/${trigger}`;
const now = () => Math.floor(Date.now() / 1000);

async function post(p: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; json: Record<string, unknown> }> {
  const res = await fetch(`${daemon.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as Record<string, unknown> };
}

function runCount(workflowId?: string): number {
  const db = new Database(path.join(repo.dir, '.station', 'station.db'), { readonly: true, fileMustExist: true });
  try {
    const row = workflowId
      ? db.prepare('SELECT count(*) AS n FROM workflow_runs WHERE workflow_id = ?').get(workflowId)
      : db.prepare('SELECT count(*) AS n FROM workflow_runs').get();
    return (row as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('webhook signatures, timestamps and replay', () => {
  it('a replayed timestamped delivery is the first delivery, with the same, no, a changed or a case-changed delivery id', async () => {
    const body = JSON.stringify({ alert: 'disk full', id: randomUUID() });
    const p = pathOf('hook', 'stamped');
    const signature = signTimestamped(body, p, SECRET, now());
    const first = await post(p, body, { 'x-station-signature': signature, 'idempotency-key': 'Delivery-A' });
    expect(first.status).toBe(202);
    const runId = first.json.runId as string;
    const before = runCount();

    const replays: Array<Record<string, string>> = [{ 'idempotency-key': 'Delivery-A' }, {}, { 'idempotency-key': 'delivery-a' }, { 'idempotency-key': randomUUID() }];
    for (const extra of replays) {
      const again = await post(p, body, { 'x-station-signature': signature, ...extra });
      expect(again.status, JSON.stringify(extra)).toBe(200);
      expect(again.json).toEqual({ runId, duplicate: true });
    }
    expect(runCount()).toBe(before);
    await expectHealthy(daemon.url);
  });

  it('refuses a stale or future timestamp (more than 5 minutes), a tampered body and another path, starting nothing', async () => {
    const body = JSON.stringify({ alert: 'cpu' });
    const p = pathOf('hook', 'stamped');
    const before = runCount();

    const stale = await post(p, body, { 'x-station-signature': signTimestamped(body, p, SECRET, now() - 301) });
    expect(stale.status).toBe(401);
    expect((stale.json.error as { code: string }).code).toBe('STN_E_WEBHOOK_STALE');
    const future = await post(p, body, { 'x-station-signature': signTimestamped(body, p, SECRET, now() + 400) });
    expect(future.status).toBe(401);

    // The signature covers t, the path and the body: changing any one of them breaks it.
    const good = signTimestamped(body, p, SECRET, now());
    expect((await post(p, JSON.stringify({ alert: 'cpu', extra: 1 }), { 'x-station-signature': good })).status).toBe(404);
    const shifted = good.replace(/^t=(\d+)/, (_m, t: string) => `t=${Number(t) + 1}`);
    expect((await post(p, body, { 'x-station-signature': shifted })).status).toBe(404);
    // A body signed for hook/stamped, sent to another trigger (of another workflow) that shares the secret.
    const cross = await post(pathOf('other', 'shared'), body, { 'x-station-signature': good });
    expect(cross.status).toBe(404);
    // The query string is signed too.
    expect((await post(`${p}?env=prod`, body, { 'x-station-signature': good })).status).toBe(404);
    expect(runCount()).toBe(before);
    await expectHealthy(daemon.url);
  });

  it('requireTimestamp refuses body-only signatures; requireDeliveryId refuses requests without a delivery id', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const before = runCount();
    const bodyOnly = await post(pathOf('hook', 'stamped'), body, { 'x-hub-signature-256': `sha256=${signBody(body, SECRET)}` });
    expect(bodyOnly.status).toBe(404);

    const noId = await post(pathOf('hook', 'github'), body, { 'x-hub-signature-256': `sha256=${signBody(body, SECRET)}` });
    expect(noId.status).toBe(400);
    expect((noId.json.error as { code: string }).code).toBe('STN_E_WEBHOOK_DELIVERY_ID');
    expect(runCount()).toBe(before);

    // GitHub's scheme keeps working, with its delivery id; delivery ids are compared exactly as sent.
    const id = randomUUID();
    const gh = await post(pathOf('hook', 'github'), body, { 'x-hub-signature-256': `sha256=${signBody(body, SECRET)}`, 'x-github-delivery': id });
    expect(gh.status).toBe(202);
    const redelivered = await post(pathOf('hook', 'github'), body, { 'x-hub-signature-256': `sha256=${signBody(body, SECRET)}`, 'x-github-delivery': id });
    expect(redelivered.json).toEqual({ runId: gh.json.runId, duplicate: true });
    expect(runCount()).toBe(before + 1);
    await expectHealthy(daemon.url);
  });

  it('accepts the previous secret during a rotation, and nothing else', async () => {
    const p = pathOf('hook', 'stamped');
    const before = runCount('hook');
    const body = JSON.stringify({ rotated: randomUUID() });
    expect((await post(p, body, { 'x-station-signature': signTimestamped(body, p, OLD_SECRET, now()) })).status).toBe(202);
    const guessed = await post(p, body, { 'x-station-signature': signTimestamped(body, p, 'a-guess', now()) });
    expect(guessed.status).toBe(404);
    expect(runCount('hook')).toBe(before + 1);
  });

  it('answers an unsigned or badly signed request to an existing trigger exactly like one to a trigger that does not exist', async () => {
    const body = '{"probe":true}';
    const before = runCount();
    const answers = await Promise.all([
      post(pathOf('hook', 'stamped'), body),
      post(pathOf('hook', 'github'), body, { 'x-hub-signature-256': `sha256=${signBody(body, 'wrong')}`, 'x-github-delivery': 'x' }),
      post(pathOf('other', 'shared'), body, { 'x-signature': 'not-hex' }),
      post(pathOf('hook', 'no-such-trigger'), body),
      post(pathOf('no-such-workflow', 'stamped'), body),
      post('/api/v1/hooks/no-such-env/hook/stamped', body, { 'x-station-signature': signTimestamped(body, '/api/v1/hooks/no-such-env/hook/stamped', SECRET, now()) }),
    ]);
    for (const a of answers) {
      expect(a.status).toBe(404);
      expect(a.text).toBe(answers[0]?.text);
    }
    expect((answers[0]?.json.error as { code: string }).code).toBe('STN_E_NOT_FOUND');
    expect(runCount()).toBe(before);
    // A trigger without a secret accepts unsigned requests, as documented.
    expect((await post(pathOf('hook', 'open'), body)).status).toBe(202);
    // The log tells the operator what happened; the answer did not.
    const refusals = daemon.logs().filter((l) => l.msg === 'webhook delivery' && l.status === 404).map((l) => l.outcome);
    expect(refusals).toContain('unauthorized');
    expect(refusals).toContain('not_found');
    expect(JSON.stringify(daemon.logs())).not.toContain(SECRET);
    await expectHealthy(daemon.url);
  });
});
