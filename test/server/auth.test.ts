import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStation } from '../../src/context.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { StationError } from '../../src/errors.js';
import { createGitRepo } from '../helpers/git-repo.js';
import { GATED_WORKFLOW, startTestDaemon, type TestDaemon } from '../helpers/server-harness.js';
import { workflowPath } from '../helpers/workflow.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const TOKENS = { viewer: 'tok-viewer-1', operator: 'tok-operator-2', approver: 'tok-approver-3', admin: 'tok-admin-4' } as const;
type Role = keyof typeof TOKENS;
const ROLES: Role[] = ['viewer', 'operator', 'approver', 'admin'];
const RANK: Record<Role, number> = { viewer: 0, operator: 1, approver: 2, admin: 3 };

const STATION_YAML = `server:
  tokens:
    - {name: dash, role: viewer, sha256: ${sha(TOKENS.viewer)}}
    - {name: ci, role: operator, env: TEST_OPERATOR_TOKEN}
    - {name: oncall, role: approver, sha256: ${sha(TOKENS.approver)}}
    - {name: root, role: admin, env: TEST_ADMIN_TOKEN}
`;

let t: TestDaemon;

beforeAll(async () => {
  t = await startTestDaemon({
    files: { 'station.yaml': STATION_YAML, [workflowPath('default', 'gated')]: GATED_WORKFLOW },
    env: { TEST_OPERATOR_TOKEN: TOKENS.operator, TEST_ADMIN_TOKEN: TOKENS.admin },
  });
});
afterAll(async () => {
  await t?.close();
});

/** A fresh run waiting for its signal, started by the admin. */
async function gatedRun(): Promise<string> {
  const r = await t.request('POST', '/api/v1/workflow-runs', { token: TOKENS.admin, body: { workflowId: 'gated' } });
  expect(r.statusCode, r.body).toBe(201);
  return (JSON.parse(r.body) as { id: string }).id;
}

interface Case {
  name: string;
  needs: Role;
  /** The route's own minimum when the request asks for more (allowEmpty): a weaker token is told the route's. */
  route?: Role;
  /** Builds the request (fresh run ids where the action changes the run). */
  make(): Promise<{ method: string; url: string; body?: unknown }>;
  ok: number;
}

const CASES: Case[] = [
  { name: 'list workflows', needs: 'viewer', ok: 200, make: async () => ({ method: 'GET', url: '/api/v1/workflows' }) },
  { name: 'show a workflow', needs: 'viewer', ok: 200, make: async () => ({ method: 'GET', url: '/api/v1/workflows/gated' }) },
  { name: "list a workflow's versions", needs: 'viewer', ok: 200, make: async () => ({ method: 'GET', url: '/api/v1/workflows/gated/versions' }) },
  { name: 'show a version', needs: 'viewer', ok: 200, make: async () => ({ method: 'GET', url: '/api/v1/workflows/gated/versions/1' }) },
  { name: 'validate a definition', needs: 'viewer', ok: 200, make: async () => ({ method: 'POST', url: '/api/v1/workflows/validate', body: { content: GATED_WORKFLOW } }) },
  { name: 'list runs', needs: 'viewer', ok: 200, make: async () => ({ method: 'GET', url: '/api/v1/workflow-runs' }) },
  { name: 'show a run', needs: 'viewer', ok: 200, make: async () => ({ method: 'GET', url: `/api/v1/workflow-runs/${await gatedRun()}` }) },
  { name: "read a run's events", needs: 'viewer', ok: 200, make: async () => ({ method: 'GET', url: `/api/v1/workflow-runs/${await gatedRun()}/events` }) },
  { name: 'sync status', needs: 'viewer', ok: 200, make: async () => ({ method: 'GET', url: '/api/v1/sync/status' }) },
  { name: 'metrics', needs: 'viewer', ok: 200, make: async () => ({ method: 'GET', url: '/metrics' }) },
  { name: 'start a run', needs: 'operator', ok: 201, make: async () => ({ method: 'POST', url: '/api/v1/workflow-runs', body: { workflowId: 'gated' } }) },
  { name: 'pause a run', needs: 'operator', ok: 200, make: async () => ({ method: 'POST', url: `/api/v1/workflow-runs/${await gatedRun()}/pause` }) },
  { name: 'resume a run', needs: 'operator', ok: 200, make: async () => ({ method: 'POST', url: `/api/v1/workflow-runs/${await gatedRun()}/resume` }) },
  { name: 'cancel a run', needs: 'operator', ok: 202, make: async () => ({ method: 'POST', url: `/api/v1/workflow-runs/${await gatedRun()}/cancel` }) },
  { name: 'signal a run', needs: 'operator', ok: 202, make: async () => ({ method: 'POST', url: `/api/v1/workflow-runs/${await gatedRun()}/signals`, body: { name: 'go' } }) },
  { name: 'sync', needs: 'operator', ok: 200, make: async () => ({ method: 'POST', url: '/api/v1/sync', body: { dryRun: true } }) },
  { name: 'sync with allowEmpty', needs: 'admin', route: 'operator', ok: 200, make: async () => ({ method: 'POST', url: '/api/v1/sync', body: { dryRun: true, allowEmpty: true } }) },
];

describe('bearer tokens and roles', () => {
  for (const c of CASES) {
    it(`${c.name}: needs ${c.needs}`, async () => {
      for (const role of ROLES) {
        const req = await c.make();
        const r = await t.request(req.method, req.url, { token: TOKENS[role], body: req.body });
        if (RANK[role] >= RANK[c.needs]) {
          expect(r.statusCode, `${role}: ${r.body}`).toBe(c.ok);
        } else {
          expect(r.statusCode, `${role}: ${r.body}`).toBe(403);
          const e = JSON.parse(r.body) as { error: { code: string; details: { role: string; required: string } } };
          expect(e.error.code).toBe('STN_E_FORBIDDEN');
          const required = c.route && RANK[role] < RANK[c.route] ? c.route : c.needs;
          expect(e.error.details).toEqual({ role, required });
        }
      }
      const req = await c.make();
      for (const header of [undefined, 'Bearer not-a-token', `Basic ${TOKENS.admin}`, 'Bearer']) {
        const r = await t.app.inject({
          method: req.method as 'GET',
          url: req.url,
          headers: { ...(header ? { authorization: header } : {}), ...(req.body ? { 'content-type': 'application/json' } : {}) },
          ...(req.body ? { payload: JSON.stringify(req.body) } : {}),
        });
        expect(r.statusCode, `${header ?? 'no header'}: ${r.body}`).toBe(401);
        expect((JSON.parse(r.body) as { error: { code: string } }).error.code).toBe('STN_E_UNAUTHENTICATED');
        expect(r.headers['www-authenticate']).toBe('Bearer realm="station"');
      }
    });
  }

  it('an unauthorized request changes nothing', async () => {
    const before = (JSON.parse((await t.request('GET', '/api/v1/workflow-runs?limit=500', { token: TOKENS.viewer })).body) as { items: unknown[] }).items.length;
    const r = await t.request('POST', '/api/v1/workflow-runs', { token: TOKENS.viewer, body: { workflowId: 'gated' } });
    expect(r.statusCode).toBe(403);
    const after = (JSON.parse((await t.request('GET', '/api/v1/workflow-runs?limit=500', { token: TOKENS.viewer })).body) as { items: unknown[] }).items.length;
    expect(after).toBe(before);
  });

  it('health probes and the OpenAPI document need no token; webhooks are reached without one (HMAC decides)', async () => {
    for (const url of ['/healthz', '/readyz', '/api/v1/openapi.json']) expect((await t.request('GET', url)).statusCode, url).toBe(200);
    const hook = await t.app.inject({ method: 'POST', url: '/api/v1/hooks/default/gated/none', payload: '{}', headers: { 'content-type': 'application/json' } });
    expect(hook.statusCode).not.toBe(403);
    expect((JSON.parse(hook.body) as { error: { code: string } }).error.code).not.toBe('STN_E_UNAUTHENTICATED');
    const git = await t.app.inject({ method: 'POST', url: '/api/v1/git/webhook', payload: '{}' });
    expect(git.statusCode).toBe(404);
  });

  it('records the token name as the initiator of runs and the actor of pauses', async () => {
    const r = await t.request('POST', '/api/v1/workflow-runs', { token: TOKENS.operator, body: { workflowId: 'gated' } });
    const run = JSON.parse(r.body) as { id: string; initiator: string };
    expect(run.initiator).toBe('api:ci');
    await t.request('POST', `/api/v1/workflow-runs/${run.id}/pause`, { token: TOKENS.approver });
    const events = JSON.parse((await t.request('GET', `/api/v1/workflow-runs/${run.id}/events`, { token: TOKENS.viewer })).body) as {
      items: Array<{ type: string; data: { by?: string } }>;
    };
    expect(events.items.find((e) => e.type === 'run:paused')?.data.by).toBe('api:oncall');
  });
});

describe('configuration refusals', () => {
  const setup = (yaml: string | undefined, env: NodeJS.ProcessEnv = {}) => {
    const repo = createGitRepo('stn-auth-');
    if (yaml) repo.write('station.yaml', yaml);
    const station = openStation({ repo: repo.dir, db: `${repo.dir}/.station/station.db`, logLevel: 'silent' }, env);
    return {
      station,
      async done() {
        await station.close();
        repo.cleanup();
      },
    };
  };

  it('refuses a non-loopback bind without tokens, naming the fix', async () => {
    const s = setup(undefined);
    try {
      for (const host of ['0.0.0.0', '::', '192.168.1.10']) {
        let err: unknown;
        try {
          new Daemon(s.station, { host });
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(StationError);
        expect((err as StationError).code).toBe('STN_E_CONFIG');
        expect((err as StationError).exitCode).toBe(2);
        expect((err as StationError).message).toMatch(new RegExp(`refusing to listen on ${host.replace(/\./g, '\\.')} without API tokens.*server\\.tokens`));
      }
      for (const host of ['127.0.0.1', 'localhost', '::1', '127.0.0.2']) expect(() => new Daemon(s.station, { host })).not.toThrow();
    } finally {
      await s.done();
    }
  });

  it('allows a public bind with tokens, and refuses a token whose variable is unset', async () => {
    const ok = setup(STATION_YAML, { TEST_OPERATOR_TOKEN: 'a', TEST_ADMIN_TOKEN: 'b' });
    try {
      expect(() => new Daemon(ok.station, { host: '0.0.0.0' })).not.toThrow();
    } finally {
      await ok.done();
    }
    const unset = setup(STATION_YAML, { TEST_OPERATOR_TOKEN: 'a' });
    try {
      expect(() => new Daemon(unset.station, { host: '127.0.0.1' })).toThrow(/token "root" reads environment variable TEST_ADMIN_TOKEN, which is not set/);
    } finally {
      await unset.done();
    }
  });

  it('refuses a plain token value in station.yaml (only hashes or variable names)', () => {
    const repo = createGitRepo('stn-auth-');
    try {
      repo.write('station.yaml', 'server:\n  tokens:\n    - {name: x, role: admin, token: hunter2}\n');
      expect(() => openStation({ repo: repo.dir, db: ':memory:', logLevel: 'silent' }, {})).toThrow(/station\.yaml/);
    } finally {
      repo.cleanup();
    }
  });
});
