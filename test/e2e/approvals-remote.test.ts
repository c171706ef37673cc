import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, stn } from '../helpers/cli.js';
import { spawnServe, until, type ServeProcess } from '../helpers/daemon-proc.js';
import { createGitRepo, createTempDir, type GitRepo } from '../helpers/git-repo.js';
import { workflowPath } from '../helpers/workflow.js';

/**
 * `stn approvals list`, `stn approve` and `stn reject` with `--server`: the built `stn serve` on a temp Git repo with
 * viewer and approver tokens, no Slack. Decisions go through the API, so the decider is the token's name.
 */

const DEPLOY = `id: deploy
version: "1"
name: Deploy
states:
  - {name: prepare, type: operation, action: noop, input: {ready: true}, compensation: {action: noop, input: {undo: true}}, next: gate}
  - {name: gate, type: operation, action: human.approval, input: {message: "Ship {{ input.version }}?"}, next: done}
  - {name: done, type: operation, action: noop, input: {shipped: true}, end: true}
`;

const VIEWER = 'viewer-token-approvals';
const APPROVER = 'approver-token-approvals';

interface Approval {
  id: string;
  runId: string;
  status: string;
  message: string;
  votes: Array<{ source: string; id: string; vote: string; comment: string | null }>;
  decision: { approved: boolean; by: { source: string; id: string; name: string }; comment: string | null } | null;
}
interface RunDetail {
  status: string;
  compensated: boolean | null;
  steps: Array<{ path: string; type: string; status: string; output: unknown }>;
}

let repo: GitRepo;
let daemon: ServeProcess;
/** The remote CLI runs from an empty folder: it must not need (or create) a database. */
let elsewhere: string;

beforeAll(async () => {
  ensureBuilt();
  repo = createGitRepo('stn-approvals-remote-');
  repo.write('.gitignore', '.station/\n');
  repo.write(
    'station.yaml',
    'server:\n  tokens:\n    - {name: dashboards, role: viewer, env: VIEWER_TOKEN}\n    - {name: oncall, role: approver, env: APPROVER_TOKEN}\n',
  );
  repo.write(workflowPath('default', 'deploy'), DEPLOY);
  repo.commit('fixtures');
  daemon = await spawnServe(repo.dir, ['--no-watch'], { VIEWER_TOKEN: VIEWER, APPROVER_TOKEN: APPROVER });
  elsewhere = createTempDir('stn-approvals-remote-cwd-');
});
afterAll(async () => {
  await daemon?.stop();
  repo?.cleanup();
  if (elsewhere) fs.rmSync(elsewhere, { recursive: true, force: true });
});

/** `stn --server <daemon> ...` with STN_TOKEN set to `token` ('' for none). */
const remote = (args: string[], token: string) => stn(['--server', daemon.url, ...args], elsewhere, token ? { STN_TOKEN: token } : {});
/** The same command on the daemon's database directly (the local mode), for comparison. */
const local = (args: string[]) => stn(['--repo', repo.dir, ...args], repo.dir);

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${daemon.url}${path}`, { headers: { authorization: `Bearer ${VIEWER}` } });
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}

/** Starts a run through the daemon and waits until its approval is pending; returns both ids. */
async function waitingRun(version: string): Promise<{ runId: string; approvalId: string }> {
  const started = remote(['run', 'deploy', '--detach', '--input', JSON.stringify({ version })], APPROVER);
  expect(started.status, started.stderr).toBe(0);
  const runId = started.stdout.trim();
  const approvalId = await until(`a pending approval of run ${runId}`, async () => {
    const { items } = await api<{ items: Approval[] }>(`/api/v1/workflow-runs/${runId}/approvals`);
    return items.find((a) => a.status === 'PENDING')?.id;
  });
  return { runId, approvalId };
}

const runEnded = (runId: string) =>
  until(`run ${runId} to end`, async () => {
    const run = await api<RunDetail>(`/api/v1/workflow-runs/${runId}`);
    return ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT'].includes(run.status) ? run : undefined;
  });

describe('approvals from the CLI against a running daemon (--server, STN_TOKEN)', () => {
  it('lists, refuses a viewer, approves as the token name (the run completes), and refuses a second decision', async () => {
    const { runId, approvalId } = await waitingRun('3.1');

    const list = remote(['approvals', 'list', '--status', 'pending'], VIEWER);
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+RUN\s+WORKFLOW\s+STATE\s+STATUS\s+VOTES/);
    expect(list.stdout).toMatch(new RegExp(`^${approvalId}\\s+${runId}\\s+default/deploy\\s+gate\\s+PENDING\\s+0/1\\s+.*Ship 3\\.1\\?$`, 'm'));
    // The same --json as the local command on the daemon's database.
    const remoteJson = JSON.parse(remote(['--json', 'approvals', 'list', '--status', 'pending'], VIEWER).stdout) as Approval[];
    const localJson = JSON.parse(local(['--json', 'approvals', 'list', '--status', 'pending']).stdout) as Approval[];
    expect(remoteJson).toEqual(localJson);
    expect(remoteJson.map((a) => a.id)).toEqual([approvalId]);

    // A viewer may list but not decide: STN_E_FORBIDDEN, exit 2, nothing changes.
    const refused = remote(['approve', approvalId, '--comment', 'not mine to give'], VIEWER);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^stn: STN_E_FORBIDDEN: token "dashboards" has role viewer; this needs approver or higher/);
    const refusedJson = remote(['--json', 'approve', approvalId], VIEWER);
    expect(refusedJson.status).toBe(2);
    expect(JSON.parse(refusedJson.stdout)).toMatchObject({ error: { code: 'STN_E_FORBIDDEN', details: { role: 'viewer', required: 'approver' } } });
    const noToken = remote(['approve', approvalId], '');
    expect(noToken.status).toBe(2);
    expect(noToken.stderr).toContain('STN_E_UNAUTHENTICATED');
    expect((await api<Approval>(`/api/v1/workflow-approvals/${approvalId}`)).status).toBe('PENDING');

    const approved = remote(['approve', approvalId, '--comment', 'checked the diff'], APPROVER);
    expect(approved.status, approved.stderr).toBe(0);
    expect(approved.stdout.trim()).toBe(`approved ${approvalId} as oncall: run ${runId} (deploy) continues`);

    const run = await runEnded(runId);
    expect(run.status).toBe('COMPLETED');
    const gate = run.steps.find((s) => s.path === 'gate');
    expect(gate?.output).toMatchObject({ approved: true, decision: 'approved', by: { source: 'api', id: 'oncall', name: 'oncall' }, comment: 'checked the diff' });
    expect(run.steps.find((s) => s.path === 'done')?.status).toBe('SUCCEEDED');

    // The first decision stands: a second one (either way) is STN_E_APPROVAL_DECIDED, exit 2, naming who decided.
    const again = remote(['reject', approvalId, '--comment', 'too late'], APPROVER);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(new RegExp(`^stn: STN_E_APPROVAL_DECIDED: approval ${approvalId} is already approved by oncall \\(api\\)`));
    const againJson = remote(['--json', 'approve', approvalId], APPROVER);
    expect(againJson.status).toBe(2);
    expect(JSON.parse(againJson.stdout)).toMatchObject({ error: { code: 'STN_E_APPROVAL_DECIDED', details: { status: 'APPROVED', decision: { by: { id: 'oncall' } } } } });

    const none = remote(['approvals', 'list', '--status', 'pending'], VIEWER);
    expect(none.status).toBe(0);
    expect(none.stdout.trim()).toBe('no pending approvals');
    expect(fs.readdirSync(elsewhere)).toEqual([]);
  });

  it('rejects with --json (the run fails and compensates); unknown ids and bad options exit 2 as locally', async () => {
    const { runId, approvalId } = await waitingRun('3.2');
    const rejected = remote(['--json', 'reject', approvalId, '--comment', 'not during the freeze'], APPROVER);
    expect(rejected.status, rejected.stderr).toBe(0);
    const body = JSON.parse(rejected.stdout) as { outcome: string; remaining: number; by: unknown; approval: Approval };
    expect(body).toMatchObject({
      outcome: 'decided',
      remaining: 0,
      by: { source: 'api', id: 'oncall', name: 'oncall' },
      approval: { id: approvalId, runId, status: 'REJECTED', decision: { approved: false, by: { id: 'oncall' }, comment: 'not during the freeze' } },
    });
    expect(body.approval.votes).toEqual([expect.objectContaining({ source: 'api', id: 'oncall', vote: 'reject', comment: 'not during the freeze' })]);

    const run = await runEnded(runId);
    expect(run.status).toBe('FAILED');
    expect(run.compensated).toBe(true);
    expect(run.steps.some((s) => s.type === 'compensation' && s.status === 'SUCCEEDED')).toBe(true);

    // The approval as the daemon shows it is the approval as the database holds it.
    const remoteAll = JSON.parse(remote(['--json', 'approvals', 'list'], VIEWER).stdout) as Approval[];
    const localAll = JSON.parse(local(['--json', 'approvals', 'list']).stdout) as Approval[];
    expect(remoteAll).toEqual(localAll);
    expect(remoteAll.find((a) => a.id === approvalId)).toEqual(body.approval);

    const unknown = remote(['approve', 'a-nope'], APPROVER);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('STN_E_NOT_FOUND: no approval "a-nope"');
    const badStatus = remote(['approvals', 'list', '--status', 'maybe'], VIEWER);
    expect(badStatus.status).toBe(2);
    expect(badStatus.stderr).toContain('STN_E_USAGE: --status must be one of PENDING, APPROVED, REJECTED, TIMED_OUT, CANCELLED');
    expect(local(['approvals', 'list', '--status', 'maybe']).stderr).toBe(badStatus.stderr);
  });
});
