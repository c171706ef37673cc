import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, stn } from '../helpers/cli.js';
import { dedent } from '../helpers/engine-harness.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { expectHealthy } from '../helpers/security.js';
import { startServe, until, type ServeProc } from '../helpers/serve-proc.js';

/**
 * Runs only of runnable versions (issue "Hardening", item 4) against the built `stn serve`: an operator cannot run a
 * version from before an approval gate was added, an admin can (audited), and a disabled workflow never starts, from
 * the API, the CLI, a webhook, a cron trigger or a workflow.run child.
 */

const OPS = 'ops-token-5b2d0c';
const ADMIN = 'admin-token-e81f44';
const ENV = { OPS_TOKEN: OPS, ADMIN_TOKEN: ADMIN };

const DEPLOY_V1 = dedent(`
  id: deploy
  version: "1"
  name: Deploy
  triggers:
    - {type: webhook, name: go}
  states:
    - {name: ship, type: operation, action: noop, end: true}
`);

// The same workflow after review: shipping now needs an approval.
const DEPLOY_V2 = dedent(`
  id: deploy
  version: "2"
  name: Deploy
  triggers:
    - {type: webhook, name: go}
  states:
    - {name: gate, type: operation, action: human.approval, input: {message: Ship?}, next: ship}
    - {name: ship, type: operation, action: noop, end: true}
`);

const PARENT = dedent(`
  id: parent
  version: "1"
  name: Parent
  states:
    - {name: child, type: operation, action: workflow.run, input: {workflow: deploy, wait: true}, end: true}
`);

const TICKER = dedent(`
  id: ticker
  version: "1"
  name: Ticker
  triggers:
    - {type: cron, name: tick, schedule: "* * * * * *", concurrency: allow}
  states:
    - {name: go, type: operation, action: noop, end: true}
`);

let repo: GitRepo;
let daemon: ServeProc;

beforeAll(async () => {
  ensureBuilt();
  repo = createGitRepo('stn-sec-versions-');
  repo.write('.gitignore', '.station/\n');
  repo.write('station.yaml', dedent(`
    server:
      tokens:
        - {name: ops, role: operator, env: OPS_TOKEN}
        - {name: root, role: admin, env: ADMIN_TOKEN}
  `));
  repo.write('environments/default/workflows/deploy.workflow.yaml', DEPLOY_V1);
  repo.write('environments/default/workflows/parent.workflow.yaml', PARENT);
  repo.write('environments/default/workflows/ticker.workflow.yaml', TICKER);
  repo.commit('v1');
  daemon = await startServe(repo.dir, ENV, ['--no-watch']);
});

afterAll(async () => {
  await daemon.stop();
  repo.cleanup();
});

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

async function api(method: string, p: string, token: string | undefined, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${daemon.url}${p}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const codeOf = (a: Answer) => (a.json.error as { code?: string } | undefined)?.code;

function runs(workflowId: string): Array<{ id: string; version: number; status: string }> {
  const db = new Database(path.join(repo.dir, '.station', 'station.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT id, version, status FROM workflow_runs WHERE workflow_id = ? ORDER BY created_at').all(workflowId) as Array<{
      id: string;
      version: number;
      status: string;
    }>;
  } finally {
    db.close();
  }
}

async function sync(): Promise<void> {
  const res = await api('POST', '/api/v1/sync', ADMIN, {});
  expect(res.status, JSON.stringify(res.json)).toBe(200);
}

describe('runs only of runnable versions', () => {
  it('an operator cannot pin the version from before the approval gate; an admin can, and it is audited', async () => {
    repo.write('environments/default/workflows/deploy.workflow.yaml', DEPLOY_V2);
    await sync();
    const shown = await api('GET', '/api/v1/workflows/deploy', OPS);
    expect(shown.json).toMatchObject({ activeVersion: 2 });
    const before = runs('deploy').length;

    const pinned = await api('POST', '/api/v1/workflow-runs', OPS, { workflowId: 'deploy', version: 1 });
    expect(pinned.status).toBe(403);
    expect(codeOf(pinned)).toBe('STN_E_VERSION_PIN_FORBIDDEN');
    // The same through the CLI pointed at the daemon with the operator's token.
    const cli = stn(['run', 'deploy', '--version', '1', '--detach'], repo.dir, { STN_SERVER: daemon.url, STN_TOKEN: OPS });
    expect(cli.status).toBe(2);
    expect(cli.stderr).toContain('STN_E_VERSION_PIN_FORBIDDEN');
    expect(runs('deploy')).toHaveLength(before);

    // Naming the active version is not a pin.
    expect((await api('POST', '/api/v1/workflow-runs', OPS, { workflowId: 'deploy', version: 2 })).status).toBe(201);

    const admin = await api('POST', '/api/v1/workflow-runs', ADMIN, { workflowId: 'deploy', version: 1 });
    expect(admin.status).toBe(201);
    const runId = admin.json.id as string;
    expect(admin.json).toMatchObject({ version: 1 });
    const events = await api('GET', `/api/v1/workflow-runs/${runId}/events`, OPS);
    const audit = (events.json.items as Array<{ type: string; data: unknown }>).find((e) => e.type === 'run:version_pinned');
    expect(audit?.data).toEqual({ version: 1, activeVersion: 2, by: 'api:root' });
    const logged = await until(() => daemon.logs().find((l) => l.msg === 'run pinned to a version that is not the active one'), 5_000, 'the audit log line');
    expect(logged).toMatchObject({ run_id: runId, version: 1, by: 'api:root' });
    await expectHealthy(daemon.url);
  });

  it('a disabled workflow never starts: API (any version, any role), CLI, webhook, cron and workflow.run', async () => {
    // The ticker fires while it is enabled.
    await until(() => (runs('ticker').length > 0 ? true : undefined), 15_000, 'a cron run of ticker');
    repo.remove('environments/default/workflows/deploy.workflow.yaml');
    repo.remove('environments/default/workflows/ticker.workflow.yaml');
    await sync();
    expect((await api('GET', '/api/v1/workflows/deploy', OPS)).json).toMatchObject({ status: 'disabled' });
    const deployRuns = runs('deploy').length;
    const tickerRuns = runs('ticker').length;

    for (const [token, body] of [
      [OPS, { workflowId: 'deploy' }],
      [OPS, { workflowId: 'deploy', version: 1 }],
      [ADMIN, { workflowId: 'deploy', version: 1 }],
      [ADMIN, { workflowId: 'deploy', version: 2 }],
    ] as const) {
      const res = await api('POST', '/api/v1/workflow-runs', token, body);
      expect(res.status, JSON.stringify(body)).toBe(409);
      expect(codeOf(res)).toBe('STN_E_WORKFLOW_UNAVAILABLE');
    }
    const local = stn(['run', 'deploy', '--version', '1', '--detach'], repo.dir, ENV);
    expect(local.status).toBe(2);
    expect(local.stderr).toContain('STN_E_WORKFLOW_UNAVAILABLE');
    const hook = await fetch(`${daemon.url}/api/v1/hooks/default/deploy/go`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(hook.status).toBe(404);

    // A parent that starts it as a child fails instead.
    const parent = await api('POST', '/api/v1/workflow-runs?wait=30', OPS, { workflowId: 'parent' });
    expect(parent.json).toMatchObject({ status: 'FAILED' });
    expect(parent.json.error).toMatchObject({ code: 'STN_E_WORKFLOW_UNAVAILABLE', action: 'workflow.run' });

    // The cron trigger is gone from the scheduler, and (a second-by-second schedule) no slot fires any more.
    const status = await api('GET', '/api/v1/sync/status', OPS);
    expect((status.json.cron as Array<{ workflowId: string }>).map((c) => c.workflowId)).not.toContain('ticker');
    await new Promise((r) => setTimeout(r, 2_200));
    expect(runs('ticker')).toHaveLength(tickerRuns);
    expect(runs('deploy')).toHaveLength(deployRuns);
    await expectHealthy(daemon.url);
  });
});
