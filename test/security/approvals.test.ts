import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, stn } from '../helpers/cli.js';
import { dedent } from '../helpers/engine-harness.js';
import { buttonClick, FakeSlack, interactionBody, slackSignature } from '../helpers/fake-slack.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { expectHealthy } from '../helpers/security.js';
import { startServe, until, type ServeProc } from '../helpers/serve-proc.js';

/**
 * Approvals count people (issue "Hardening", item 9 and part of 12) against the built `stn serve`, with Slack as a fake
 * Web API on loopback: one person's Slack click, API token and CLI vote count once; `approvers` applies to the API and
 * the CLI; a button carrying another message's approval id decides nothing.
 */

const SIGNING_SECRET = 'sec-test-signing-secret';
const CHANNEL = 'C0SECURITY';
const TOKENS = { ALICE_TOKEN: 'alice-token-1f0e', BOB_TOKEN: 'bob-token-77aa', CAROL_TOKEN: 'carol-token-3c9d', CI_TOKEN: 'ci-token-d41d' };
const ENV = { SLACK_BOT_TOKEN: 'xoxb-security', SLACK_SIGNING_SECRET: SIGNING_SECRET, ...TOKENS };
const alice = { id: 'UALICE', name: 'alice' };
const bob = { id: 'UBOB', name: 'bob' };

let repo: GitRepo;
let fake: FakeSlack;
let daemon: ServeProc;

beforeAll(async () => {
  ensureBuilt();
  fake = new FakeSlack();
  await fake.start();
  fake.users = [
    { id: 'UALICE', name: 'alice', email: 'alice@example.com' },
    { id: 'UBOB', name: 'bob', email: 'bob@example.com' },
    { id: 'UCAROL', name: 'carol', email: 'carol@example.com' },
  ];
  repo = createGitRepo('stn-sec-approvals-');
  repo.write('.gitignore', '.station/\n');
  // Alice's token names her by email (in another case than Slack's), Bob's by his Slack user id; CI's names nobody.
  repo.write('station.yaml', dedent(`
    server:
      tokens:
        - {name: alice, role: approver, env: ALICE_TOKEN, email: Alice@Example.com}
        - {name: bob, role: approver, env: BOB_TOKEN, user: UBOB}
        - {name: carol, role: approver, env: CAROL_TOKEN, email: carol@example.com}
        - {name: ci, role: admin, env: CI_TOKEN}
    slack:
      mode: http
      defaultChannel: ${CHANNEL}
      apiUrl: ${fake.url}
  `));
  repo.write('environments/default/workflows/deploy.workflow.yaml', dedent(`
    id: deploy
    version: "1"
    name: Deploy
    states:
      - name: gate
        type: operation
        action: human.approval
        input: {message: Ship?, approvers: [alice@example.com, UBOB], requiredApprovals: 2}
        next: ship
      - {name: ship, type: operation, action: noop, end: true}
  `));
  repo.commit('deploy');
  daemon = await startServe(repo.dir, ENV, ['--no-watch']);
});

afterAll(async () => {
  await daemon.stop();
  await fake.stop();
  repo.cleanup();
});

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

async function api(method: string, p: string, token: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${daemon.url}${p}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

interface ApprovalView {
  id: string;
  runId: string;
  status: string;
  votes: Array<{ source: string; id: string; vote: string }>;
  slack: { channel: string; ts: string | null } | null;
}

async function startRun(): Promise<{ runId: string; approval: ApprovalView & { slack: { channel: string; ts: string } } }> {
  const started = await api('POST', '/api/v1/workflow-runs', TOKENS.CI_TOKEN, { workflowId: 'deploy' });
  expect(started.status).toBe(201);
  const runId = started.json.id as string;
  const approval = await until(async () => {
    const list = await api('GET', `/api/v1/workflow-runs/${runId}/approvals`, TOKENS.CI_TOKEN);
    const a = (list.json.items as ApprovalView[])[0];
    return a?.slack?.ts ? (a as ApprovalView & { slack: { channel: string; ts: string } }) : undefined;
  }, 15_000, `the approval of ${runId} posted to Slack`);
  return { runId, approval };
}

const approvalOf = async (id: string) => (await api('GET', `/api/v1/workflow-approvals/${id}`, TOKENS.CI_TOKEN)).json as unknown as ApprovalView;
const vote = (a: ApprovalView, token: string) => api('POST', `/api/v1/workflow-runs/${a.runId}/approvals/${a.id}/approve`, token, {});

async function events(runId: string): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
  return (await api('GET', `/api/v1/workflow-runs/${runId}/events`, TOKENS.CI_TOKEN)).json.items as Array<{ type: string; data: Record<string, unknown> }>;
}

async function click(approvalId: string, user: { id: string; name: string }, messageTs: string): Promise<number> {
  const body = interactionBody(buttonClick({ actionId: 'stn_approve', approvalId, user, channel: CHANNEL, messageTs }));
  const res = await fetch(`${daemon.url}/slack/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...slackSignature(SIGNING_SECRET, body, Math.floor(Date.now() / 1000)) },
    body,
  });
  return res.status;
}

describe('approvals count people', () => {
  it("Alice's Slack click, API token and CLI vote are one vote; others not in approvers are refused; Bob makes it two", async () => {
    const { runId, approval } = await startRun();
    expect(await click(approval.id, alice, approval.slack.ts)).toBe(200);
    await until(async () => ((await approvalOf(approval.id)).votes.length === 1 ? true : undefined), 15_000, "Alice's Slack vote");

    const api2 = await vote(approval, TOKENS.ALICE_TOKEN);
    expect(api2.status).toBe(403);
    expect(api2.json.error).toMatchObject({ code: 'STN_E_APPROVAL_FORBIDDEN', details: { reason: 'already-voted' } });
    const cli = stn(['approve', approval.id, '--as', 'ALICE@example.com'], repo.dir, ENV);
    expect(cli.status).toBe(2);
    expect(cli.stderr).toContain('STN_E_APPROVAL_FORBIDDEN');
    expect(cli.stderr).toContain('already voted');

    // Not in approvers: a token for another person, a token for nobody, a CLI user who is not listed.
    for (const token of [TOKENS.CAROL_TOKEN, TOKENS.CI_TOKEN]) {
      const res = await vote(approval, token);
      expect(res.status).toBe(403);
      expect(res.json.error).toMatchObject({ code: 'STN_E_APPROVAL_FORBIDDEN', details: { reason: 'not-approver' } });
    }
    const stranger = stn(['approve', approval.id, '--as', 'mallory'], repo.dir, ENV);
    expect(stranger.status).toBe(2);
    expect(stranger.stderr).toContain('not one of the approvers');

    const still = await approvalOf(approval.id);
    expect(still.status).toBe('PENDING');
    expect(still.votes).toEqual([expect.objectContaining({ source: 'slack', id: 'UALICE', vote: 'approve' })]);
    const refused = (await events(runId)).filter((e) => e.type === 'approval:refused').map((e) => [e.data.reason, (e.data.by as { id: string }).id]);
    expect(refused).toEqual([
      ['not-approver', 'carol'],
      ['not-approver', 'ci'],
      ['not-approver', 'mallory'],
    ]);

    const decided = await vote(approval, TOKENS.BOB_TOKEN);
    expect(decided.status).toBe(200);
    expect(decided.json).toMatchObject({ outcome: 'decided' });
    await until(async () => ((await api('GET', `/api/v1/workflow-runs/${runId}`, TOKENS.CI_TOKEN)).json.status === 'COMPLETED' ? true : undefined), 15_000, 'run completed');
    await expectHealthy(daemon.url);
  });

  it("Bob's API vote first: his Slack click afterwards is refused with an ephemeral message", async () => {
    const { approval } = await startRun();
    expect((await vote(approval, TOKENS.BOB_TOKEN)).json).toMatchObject({ outcome: 'recorded', remaining: 1 });
    const before = fake.of('chat.postEphemeral').length;
    expect(await click(approval.id, bob, approval.slack.ts)).toBe(200);
    const eph = await fake.waitFor('chat.postEphemeral', (c) => fake.of('chat.postEphemeral').indexOf(c) >= before);
    expect(eph.args).toMatchObject({ user: 'UBOB' });
    expect(String(eph.args.text)).toContain('already voted');
    expect((await approvalOf(approval.id)).votes).toHaveLength(1);
    await expectHealthy(daemon.url);
  });

  it("a click on one approval's message carrying another approval's id is refused, audited, and decides nothing", async () => {
    const first = await startRun();
    const second = await startRun();
    const before = fake.of('chat.postEphemeral').length;
    // Bob may approve the second approval, but the button he clicked is on the first one's message.
    expect(await click(second.approval.id, bob, first.approval.slack.ts)).toBe(200);
    const eph = await fake.waitFor('chat.postEphemeral', (c) => fake.of('chat.postEphemeral').indexOf(c) >= before);
    expect(eph.args).toMatchObject({ user: 'UBOB' });
    expect(String(eph.args.text)).toContain('does not belong');

    for (const a of [first.approval, second.approval]) {
      const now = await approvalOf(a.id);
      expect(now.status).toBe('PENDING');
      expect(now.votes).toEqual([]);
    }
    const audit = (await events(second.runId)).filter((e) => e.type === 'approval:refused');
    expect(audit.map((e) => e.data)).toEqual([{ approvalId: second.approval.id, by: { source: 'slack', id: 'UBOB', name: 'bob' }, vote: 'approve', reason: 'wrong-message' }]);
    expect(daemon.logs().some((l) => l.approval_id === second.approval.id && String(l.msg).includes("not on the approval's own message"))).toBe(true);
    // The same click on the second approval's own message counts.
    expect(await click(second.approval.id, bob, second.approval.slack.ts)).toBe(200);
    await until(async () => ((await approvalOf(second.approval.id)).votes.length === 1 ? true : undefined), 15_000, "Bob's vote");
    await expectHealthy(daemon.url);
  });
});
