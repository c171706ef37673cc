import { afterEach, describe, expect, it } from 'vitest';
import { ApprovalDecidedError, ApprovalForbiddenError } from '../../src/approvals/service.js';
import type { Actor } from '../../src/approvals/types.js';
import type { StationError } from '../../src/errors.js';
import { EngineHarness, fakeClock, type FakeClock } from '../helpers/engine-harness.js';

/** human.approval through the engine, decided by API/CLI actors (Slack comes in test/slack). */

let h: EngineHarness;
afterEach(async () => {
  await h.close();
});

const bob: Actor = { source: 'api', id: 'bob-token', name: 'bob-token' };
const carol: Actor = { source: 'cli', id: 'carol', name: 'carol' };

const deployYaml = (approval: string) => `
  id: deploy
  version: "1"
  name: Deploy
  states:
    - name: prepare
      type: operation
      action: noop
      input: {prepared: true, hosts: ["a", "b"]}
      compensation: {action: noop, input: {undo: prepare}}
      next: gate
    - name: gate
      type: operation
      action: human.approval
      input:
${approval
  .trim()
  .split('\n')
  .map((l) => `        ${l.trim()}`)
  .join('\n')}
      next: check
    - name: check
      type: switch
      conditions:
        - {if: "steps.gate.approved == true", next: ship}
      defaultNext: skipped
    - {name: ship, type: operation, action: noop, input: {shipped: "{{ steps.gate.by.name }}"}, end: true}
    - {name: skipped, type: inject, data: {skipped: true}, end: true}
`;

async function waiting(runId: string): Promise<string> {
  const e = await h.waitFor(runId, 'approval:requested');
  expect(h.runRow(runId).status).toBe('WAITING_APPROVAL');
  return String(e.data.approvalId);
}

describe('human.approval in the engine', () => {
  it('a vote on an approval whose run already ended closes it for good (the refusal does not roll the close back)', async () => {
    h = EngineHarness.create();
    await h.define('deploy', deployYaml('message: "Deploy?"'));
    const runId = h.start('deploy');
    const approvalId = await waiting(runId);
    // The run ended without closing its approval (e.g. ended by a process that predates approvals).
    h.station.db.prepare("UPDATE workflow_runs SET status = 'COMPLETED' WHERE id = ?").run(runId);
    expect(() => h.station.approvals.decide({ approvalId, vote: 'approve', actor: bob })).toThrow(ApprovalDecidedError);
    expect(h.station.approvals.get(approvalId).status).toBe('CANCELLED');
  });

  it('waits in WAITING_APPROVAL; an approval completes the step with the decision and the run goes on', async () => {
    h = EngineHarness.create();
    await h.define('deploy', deployYaml('message: "Deploy {{ input.version }}?"\nsummaryPath: steps.prepare'));
    const runId = h.start('deploy', { version: '1.2.3' });
    const approvalId = await waiting(runId);
    const r0 = h.result(runId);
    expect(r0.step('gate').status).toBe('WAITING_APPROVAL');
    const a = h.station.approvals.get(approvalId);
    expect(a.message).toBe('Deploy 1.2.3?');
    expect(JSON.parse(a.summary ?? 'null')).toEqual({ prepared: true, hosts: ['a', 'b'] });

    const res = h.station.approvals.decide({ approvalId, vote: 'approve', actor: bob, comment: 'ship it' });
    expect(res.outcome).toBe('decided');
    const r = await h.waitForEnd(runId);
    expect(r.status).toBe('COMPLETED');
    const out = r.step('gate').output as Record<string, unknown>;
    expect(out).toMatchObject({ approved: true, decision: 'approved', by: { source: 'api', id: 'bob-token', name: 'bob-token' }, comment: 'ship it' });
    expect(typeof out.decidedAt).toBe('string');
    expect(r.step('ship').output).toEqual({ shipped: 'bob-token' });
    const types = r.events.map((e) => e.type);
    expect(types).toContain('approval:requested');
    expect(types).toContain('approval:decided');
    expect(types.indexOf('approval:decided')).toBeLessThan(types.lastIndexOf('step:succeeded'));
  });

  it('a reject with a reason fails the run and runs compensation', async () => {
    h = EngineHarness.create();
    await h.define('deploy', deployYaml('message: Deploy?'));
    const runId = h.start('deploy');
    const approvalId = await waiting(runId);
    h.station.approvals.decide({ approvalId, vote: 'reject', actor: carol, comment: 'not during the freeze' });
    const r = await h.waitForEnd(runId);
    expect(r.status).toBe('FAILED');
    expect(r.run.compensated).toBe(true);
    const gate = r.step('gate');
    expect(gate.status).toBe('FAILED');
    expect(gate.error).toMatchObject({ code: 'STN_E_APPROVAL_REJECTED', message: 'rejected by carol (cli): not during the freeze' });
    expect(r.steps.some((s) => s.compensation_of !== null && s.status === 'SUCCEEDED')).toBe(true);
    expect(h.station.approvals.get(approvalId).status).toBe('REJECTED');
  });

  it('the first decision wins: a second one is told it is already decided', async () => {
    h = EngineHarness.create();
    await h.define('deploy', deployYaml('message: Deploy?'));
    const runId = h.start('deploy');
    const approvalId = await waiting(runId);
    h.station.approvals.decide({ approvalId, vote: 'approve', actor: bob });
    let err: unknown;
    try {
      h.station.approvals.decide({ approvalId, vote: 'reject', actor: carol });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApprovalDecidedError);
    expect((err as StationError).code).toBe('STN_E_APPROVAL_DECIDED');
    expect((err as StationError).message).toContain('already approved by bob-token');
    expect((await h.waitForEnd(runId)).status).toBe('COMPLETED');
  });

  it('requiredApprovals needs that many distinct people; a second vote by the same person is refused', async () => {
    h = EngineHarness.create();
    await h.define('deploy', deployYaml('message: Deploy?\nrequiredApprovals: 2'));
    const runId = h.start('deploy');
    const approvalId = await waiting(runId);
    expect(h.station.approvals.decide({ approvalId, vote: 'approve', actor: bob })).toMatchObject({ outcome: 'recorded', remaining: 1 });
    expect(() => h.station.approvals.decide({ approvalId, vote: 'approve', actor: bob })).toThrow(ApprovalForbiddenError);
    expect(h.runRow(runId).status).toBe('WAITING_APPROVAL');
    expect(h.station.approvals.decide({ approvalId, vote: 'approve', actor: carol })).toMatchObject({ outcome: 'decided', remaining: 0 });
    const r = await h.waitForEnd(runId);
    expect(r.status).toBe('COMPLETED');
    const out = r.step('gate').output as { approvals: Array<{ id: string }>; by: { id: string } };
    expect(out.approvals.map((a) => a.id)).toEqual(['bob-token', 'carol']);
    expect(out.by.id).toBe('carol');
  });

  it('self-approval is refused when disallowed (and audited); someone else may approve', async () => {
    h = EngineHarness.create();
    await h.define('deploy', deployYaml('message: Deploy?\nallowSelfApproval: false'));
    const runId = h.station.runs.start({ workflowId: 'deploy', initiator: 'carol', trigger: { type: 'manual', via: 'cli' } }).run.id;
    const approvalId = await waiting(runId);
    let err: unknown;
    try {
      h.station.approvals.decide({ approvalId, vote: 'approve', actor: carol });
    } catch (e) {
      err = e;
    }
    expect((err as StationError).code).toBe('STN_E_APPROVAL_FORBIDDEN');
    expect((err as ApprovalForbiddenError).reason).toBe('self-approval');
    const refused = h.result(runId).events.find((e) => e.type === 'approval:refused');
    expect(refused?.data).toMatchObject({ approvalId, reason: 'self-approval', by: { source: 'cli', id: 'carol' } });
    expect(h.station.approvals.get(approvalId).status).toBe('PENDING');
    h.station.approvals.decide({ approvalId, vote: 'approve', actor: bob });
    expect((await h.waitForEnd(runId)).status).toBe('COMPLETED');
  });

  it('a decision on an unknown approval, or one of another run, is not found', async () => {
    h = EngineHarness.create();
    await h.define('deploy', deployYaml('message: Deploy?'));
    const runId = h.start('deploy');
    const approvalId = await waiting(runId);
    expect(() => h.station.approvals.decide({ approvalId: 'nope', vote: 'approve', actor: bob })).toThrow(/no approval "nope"/);
    expect(() => h.station.approvals.decide({ approvalId, runId: 'r-other', vote: 'approve', actor: bob })).toThrow(/in run r-other/);
    expect(h.station.approvals.get(approvalId).status).toBe('PENDING');
  });

  it('cancelling the run closes its approval', async () => {
    h = EngineHarness.create();
    await h.define('deploy', deployYaml('message: Deploy?'));
    const runId = h.start('deploy');
    const approvalId = await waiting(runId);
    h.station.runs.cancel(runId, false, 'ops');
    expect((await h.waitForEnd(runId)).status).toBe('CANCELLED');
    expect(h.station.approvals.get(approvalId).status).toBe('CANCELLED');
    expect(() => h.station.approvals.decide({ approvalId, vote: 'approve', actor: bob })).toThrow(ApprovalDecidedError);
  });

  it('requiredApprovals above the number of listed approvers fails the step with a clear error', async () => {
    h = EngineHarness.create();
    await h.define('deploy', deployYaml('message: Deploy?\napprovers: [U1]\nrequiredApprovals: 2'));
    const r = await h.run('deploy');
    expect(r.status).toBe('FAILED');
    expect(r.step('gate').error).toMatchObject({ code: 'STN_E_ACTION_INPUT' });
    expect(r.step('gate').error?.message).toContain('requiredApprovals is 2 but only 1 approver(s)');
  });
});

describe('approval timeouts', () => {
  let clock: FakeClock;

  async function timedOut(onTimeout: string) {
    clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    await h.define('deploy', deployYaml(`message: Deploy?\ntimeoutSeconds: 60\nonTimeout: ${onTimeout}`));
    const runId = h.start('deploy');
    const approvalId = await waiting(runId);
    h.advance(clock, 59_000);
    await h.barrier();
    expect(h.runRow(runId).status).toBe('WAITING_APPROVAL');
    h.advance(clock, 1_000);
    const r = await h.waitForEnd(runId);
    return { r, approvalId };
  }

  it('onTimeout: reject fails the run (compensated) at the deadline', async () => {
    const { r, approvalId } = await timedOut('reject');
    expect(r.status).toBe('FAILED');
    expect(r.step('gate').error).toMatchObject({ code: 'STN_E_APPROVAL_REJECTED' });
    expect(r.run.compensated).toBe(true);
    expect(h.station.approvals.get(approvalId).status).toBe('TIMED_OUT');
    expect(r.events.find((e) => e.type === 'approval:timed_out')?.data).toMatchObject({ approvalId, onTimeout: 'reject' });
  });

  it('onTimeout: approve continues with approved: true, by the timeout', async () => {
    const { r } = await timedOut('approve');
    expect(r.status).toBe('COMPLETED');
    expect(r.step('gate').output).toMatchObject({ approved: true, decision: 'approved', timedOut: true, by: { source: 'timeout' } });
  });

  it('onTimeout: fail fails the step with STN_E_APPROVAL_TIMEOUT', async () => {
    const { r } = await timedOut('fail');
    expect(r.status).toBe('FAILED');
    expect(r.step('gate').error).toMatchObject({ code: 'STN_E_APPROVAL_TIMEOUT' });
  });

  it('after a restart the approval is still decidable and still times out at its deadline', async () => {
    clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    await h.define('deploy', deployYaml('message: Deploy?\ntimeoutSeconds: 60'));
    const first = h.start('deploy');
    const second = h.start('deploy');
    const a1 = await waiting(first);
    await waiting(second);
    await h.engine.stop(1000); // the daemon goes away; another process takes over the same database
    const other = h.openAnother({ clock });
    other.station.approvals.decide({ approvalId: a1, vote: 'approve', actor: bob });
    await h.waitFor(first, 'run:completed');
    h.advance(clock, 60_000);
    await h.waitFor(second, 'run:failed');
    expect(h.result(second).step('gate').error).toMatchObject({ code: 'STN_E_APPROVAL_REJECTED' });
  });
});
