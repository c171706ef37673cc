import { afterEach, describe, expect, it } from 'vitest';
import { approvalJson } from '../../src/approvals/types.js';
import { startTestDaemon, type TestDaemon } from '../helpers/server-harness.js';

/** The approvals API (docs/api.md "Approvals") on the in-process daemon, with bearer-token roles. */

const STATION_YAML = `
server:
  tokens:
    - {name: dashboards, role: viewer, env: VIEWER_TOKEN}
    - {name: deploy-bot, role: operator, env: OPERATOR_TOKEN}
    - {name: release-manager, role: approver, env: APPROVER_TOKEN}
    - {name: second-pair, role: approver, env: APPROVER2_TOKEN}
`;
const ENV = { VIEWER_TOKEN: 'viewer-secret-1', OPERATOR_TOKEN: 'operator-secret-1', APPROVER_TOKEN: 'approver-secret-1', APPROVER2_TOKEN: 'approver-secret-2' };

const WORKFLOW = `id: deploy
version: "1"
name: Deploy
states:
  - name: prepare
    type: operation
    action: noop
    compensation: {action: noop, input: {undo: true}}
    next: gate
  - name: gate
    type: operation
    action: human.approval
    input: {message: "Ship {{ input.version }}?", requiredApprovals: 2, allowSelfApproval: false}
    end: true
`;

let t: TestDaemon;
afterEach(async () => {
  await t.close();
});

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 15 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitingRun(): Promise<{ runId: string; approvalId: string }> {
  const started = await t.request('POST', '/api/v1/workflow-runs', { token: ENV.APPROVER_TOKEN, body: { workflowId: 'deploy', input: { version: '3.1' } } });
  expect(started.statusCode).toBe(201);
  const runId = (started.json() as { id: string }).id;
  await until(() => t.station.runStore.run(runId)?.status === 'WAITING_APPROVAL', 'run waits for approval');
  const list = await t.request('GET', `/api/v1/workflow-runs/${runId}/approvals`, { token: ENV.VIEWER_TOKEN });
  expect(list.statusCode).toBe(200);
  const items = (list.json() as { items: Array<{ id: string; status: string; message: string }> }).items;
  expect(items).toHaveLength(1);
  expect(items[0]).toMatchObject({ status: 'PENDING', message: 'Ship 3.1?' });
  return { runId, approvalId: items[0]?.id as string };
}

describe('approvals API', () => {
  it('lists, refuses viewers and self-approval, counts distinct approvers, and answers 409 once decided', async () => {
    t = await startTestDaemon({ files: { 'station.yaml': STATION_YAML, 'environments/default/workflows/deploy.workflow.yaml': WORKFLOW }, env: ENV });
    const { runId, approvalId } = await waitingRun();
    const base = `/api/v1/workflow-runs/${runId}/approvals/${approvalId}`;

    const pending = await t.request('GET', '/api/v1/workflow-approvals?status=pending', { token: ENV.VIEWER_TOKEN });
    expect((pending.json() as { items: Array<{ id: string }> }).items.map((a) => a.id)).toEqual([approvalId]);

    expect((await t.request('POST', `${base}/approve`, { token: ENV.VIEWER_TOKEN, body: {} })).statusCode).toBe(403);
    expect((await t.request('POST', `${base}/approve`, { token: ENV.OPERATOR_TOKEN, body: {} })).statusCode).toBe(403);
    expect((await t.request('POST', `${base}/approve`, { body: {} })).statusCode).toBe(401);

    // release-manager started the run: its own approval is refused (allowSelfApproval: false).
    const self = await t.request('POST', `${base}/approve`, { token: ENV.APPROVER_TOKEN, body: { comment: 'mine' } });
    expect(self.statusCode).toBe(403);
    expect(self.json()).toMatchObject({ error: { code: 'STN_E_APPROVAL_FORBIDDEN', details: { reason: 'self-approval' } } });

    const first = await t.request('POST', `${base}/approve`, { token: ENV.APPROVER2_TOKEN, body: { comment: 'lgtm' } });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({
      outcome: 'recorded',
      remaining: 1,
      by: { source: 'api', id: 'second-pair', name: 'second-pair' },
      approval: { status: 'PENDING', votes: [{ source: 'api', id: 'second-pair', comment: 'lgtm' }] },
    });
    const twice = await t.request('POST', `${base}/approve`, { token: ENV.APPROVER2_TOKEN, body: {} });
    expect(twice.statusCode).toBe(403);
    expect(twice.json()).toMatchObject({ error: { code: 'STN_E_APPROVAL_FORBIDDEN', details: { reason: 'already-voted' } } });

    const reject = await t.request('POST', `${base}/reject`, { token: ENV.APPROVER_TOKEN, body: { comment: 'changed my mind' } });
    expect(reject.statusCode).toBe(200);
    expect(reject.json()).toMatchObject({ outcome: 'decided', approval: { status: 'REJECTED', decision: { approved: false, by: { source: 'api', id: 'release-manager' }, comment: 'changed my mind' } } });
    await until(() => t.station.runStore.run(runId)?.status === 'FAILED', 'run failed');
    expect(t.station.runStore.run(runId)?.compensated).toBe(true);

    // The response schemas keep every field of the approval (votes, decision, slack), as the CLI's --json shows it.
    const one = await t.request('GET', `/api/v1/workflow-approvals/${approvalId}`, { token: ENV.VIEWER_TOKEN });
    expect(one.statusCode).toBe(200);
    const stored = approvalJson(t.station.approvals.get(approvalId), t.station.approvals.votes(approvalId));
    expect(one.json()).toEqual(JSON.parse(JSON.stringify(stored)));
    expect(stored.votes).toHaveLength(2);
    expect((reject.json() as { approval: unknown }).approval).toEqual(JSON.parse(JSON.stringify(stored)));

    const late = await t.request('POST', `${base}/approve`, { token: ENV.APPROVER2_TOKEN, body: {} });
    expect(late.statusCode).toBe(409);
    expect(late.json()).toMatchObject({ error: { code: 'STN_E_APPROVAL_DECIDED', details: { status: 'REJECTED' } } });
  });

  it('answers 404 for an unknown approval or run, 400 for a bad status or body', async () => {
    t = await startTestDaemon({ files: { 'station.yaml': STATION_YAML, 'environments/default/workflows/deploy.workflow.yaml': WORKFLOW }, env: ENV });
    const { runId, approvalId } = await waitingRun();
    expect((await t.request('POST', `/api/v1/workflow-runs/${runId}/approvals/nope/approve`, { token: ENV.APPROVER_TOKEN, body: {} })).statusCode).toBe(404);
    expect((await t.request('POST', `/api/v1/workflow-runs/rnope/approvals/${approvalId}/approve`, { token: ENV.APPROVER_TOKEN, body: {} })).statusCode).toBe(404);
    expect((await t.request('GET', '/api/v1/workflow-runs/rnope/approvals', { token: ENV.VIEWER_TOKEN })).statusCode).toBe(404);
    const unknown = await t.request('GET', '/api/v1/workflow-approvals/nope', { token: ENV.VIEWER_TOKEN });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error: { code: 'STN_E_NOT_FOUND', message: 'no approval "nope"' } });
    expect((await t.request('GET', '/api/v1/workflow-approvals?status=maybe', { token: ENV.VIEWER_TOKEN })).statusCode).toBe(400);
    const bad = await t.request('POST', `/api/v1/workflow-runs/${runId}/approvals/${approvalId}/approve`, { token: ENV.APPROVER_TOKEN, body: { reason: 'unknown field' } });
    expect(bad.statusCode).toBe(400);
    expect(t.station.approvals.get(approvalId).status).toBe('PENDING');
  });
});
