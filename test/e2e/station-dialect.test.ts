import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/definitions/types.js';
import type { EngineHarness } from '../helpers/engine-harness.js';
import { agentOutput, compatRecord, eventsOf, expectCompleted, ISO, openFixtures, route, steps } from './station-dialect-fixtures.js';

/**
 * Station's dialect, one feature per workflow file (test/fixtures/station-dialect/): each file is synced from the
 * fixture repository and run end to end in the engine, its agents answering from their fixture files. Every file
 * uses a Station spelling, so it runs in compat mode: results under `steps.` are stored as `{...O, output: O}` and
 * the run's output is the last top-level step's output. The expected values are worked out by hand from the
 * fixtures' data and replies.
 */

let h: EngineHarness;
beforeAll(async () => {
  h = await openFixtures();
}, 60_000);
afterAll(async () => {
  await h?.close();
});


describe('transform states', () => {
  it('a multi-line dict expression: .get, a filtered comprehension, a negative slice, A if C else B, str() and +', async () => {
    const r = await h.run('transform-expression');
    expectCompleted(r);
    const shaped = {
      incident_id: 4711,
      severity: 'low',
      services: ['api', 'web'],
      summary: 'Incident 4711: Checkout latency',
      recent_logs: ['l4', 'l5'],
      priority: 'P1',
      first_service: 'api',
    };
    expect(r.step('shape').output).toEqual(shaped);
    expect(steps(r).shape).toEqual(compatRecord(shaped));
    // The next transform's input is shape's output; a value that is not a dict is {result: v}.
    expect(r.step('tally').output).toEqual({ result: 2 });
    expect(steps(r).tally).toEqual({ result: 2, output: { result: 2 } });
    expect(r.output).toEqual({ result: 2 });
  });

  it('a program with statements: assignments, for with append, if/elif/else, % formatting; input is the run input', async () => {
    const checks = (...failing: string[]) => ['disk', 'dns', 'tls', 'ntp'].map((name) => ({ name, status: failing.includes(name) ? 'failing' : 'ok' }));
    const cases: Array<[string[], JsonValue]> = [
      [[], { grade: 'green', failing: [], passed: 4, headline: '0 of 4 checks failing' }],
      [['dns'], { grade: 'amber', failing: ['dns'], passed: 3, headline: '1 of 4 checks failing' }],
      [['dns', 'tls'], { grade: 'red', failing: ['dns', 'tls'], passed: 2, headline: '2 of 4 checks failing' }],
    ];
    for (const [failing, expected] of cases) {
      const r = await h.run('transform-program', { checks: checks(...failing) });
      expectCompleted(r);
      expect(r.step('grade').output).toEqual(expected);
      expect(r.output).toEqual(expected);
    }
  });

  it('inside parallel branches and a foreach iterator, each frame with its own previous output', async () => {
    const input = { disks: [{ mount: '/', used: 95 }, { mount: '/var', used: 40 }, { mount: '/data', used: 91 }], hosts: ['web-1', 'db-1'] };
    const r = await h.run('transform-in-branches', input);
    expectCompleted(r);
    // A branch starts from the parallel state's previous output: the run input.
    const full = { full: ['/', '/data'] };
    const count = { count: 2, first: 'web-1' };
    expect(r.step('fan_out/disks/full_disks').output).toEqual(full);
    expect(r.step('fan_out/hosts/host_count').output).toEqual(count);
    // merge (the default): each branch's scope by branch name; a scope holds its compat records.
    const fanOut = { disks: { steps: { full_disks: compatRecord(full) } }, hosts: { steps: { host_count: compatRecord(count) } } };
    expect(r.step('fan_out').output).toEqual(fanOut);
    // An iteration starts from {...the foreach's previous output (fan_out's), _item, _index, host}.
    const labels = [
      { label: 'WEB-1-0', item: 'web-1', position: 0, saw_parallel: true },
      { label: 'DB-1-1', item: 'db-1', position: 1, saw_parallel: true },
    ];
    expect(r.step('per_host[0]/label').output).toEqual(labels[0]);
    expect(r.step('per_host[1]/label').output).toEqual(labels[1]);
    const perHost = labels.map((l) => ({ steps: { label: compatRecord(l) } }));
    expect(r.step('per_host').output).toEqual(perHost);
    expect(r.output).toEqual(perHost);
  });
});

describe('agent steps', () => {
  it('operation: agent.run runs the agent', async () => {
    const r = await h.run('operation-agent-run', { service: 'payments' });
    expectCompleted(r);
    const out = agentOutput('responder', { json: { summary: 'payments v42 is on 3 of 3 pods', healthy: true } });
    expect(r.step('summarize').output).toEqual(out);
    expect(r.output).toEqual(out);
  });

  it('agentTask, agent_task and userInput are the task (each fixture case matches only its rendered task)', async () => {
    const r = await h.run('agent-task-fields', { service: 'payments' });
    expectCompleted(r);
    expect(r.step('owner').output).toEqual(agentOutput('responder', { json: { team: 'payments-core' } }));
    expect(r.step('last_deploy').output).toEqual(agentOutput('responder', { content: 'Yesterday at 14:05 UTC' }));
    const health = agentOutput('responder', { json: { healthy: true, error_rate: 1 } });
    expect(r.step('health').output).toEqual(health);
    expect(r.output).toEqual(health);
  });

  it('a step with no task gets the previous output\'s task, else a generated one, followed by that output as JSON', async () => {
    const r = await h.run('implicit-task');
    expectCompleted(r);
    // The reviewer's fixture cases match "Review the rollout of api v2\n\nInput:\n```json\n..." and
    // "Execute workflow step: verify\n\nInput:\n```json\n...": any other task fails the step.
    const review = agentOutput('reviewer', { json: { approved: true, version: 'v2' } });
    expect(r.step('review').output).toEqual(review);
    expect(r.step('strip').output).toEqual({ version: 'v2', approved: true });
    const verify = agentOutput('reviewer', { content: 'Verified v2' });
    expect(r.step('verify').output).toEqual(verify);
    expect(steps(r).review).toEqual(compatRecord(review));
    expect(r.output).toEqual(verify);
  });

  it('a step with no task gets the previous output\'s keys as its variables; its own variables win', async () => {
    // deployer.prompt requires `version` and an integer `replicas`; deploy passes no variables, canary only replicas.
    const r = await h.run('implicit-variables');
    expectCompleted(r);
    const deploy = agentOutput('deployer', { json: { version: 'v3', replicas: 'all', deployed: true } });
    expect(r.step('deploy').output).toEqual(deploy);
    const canary = agentOutput('deployer', { content: 'Canary of v3 running on 1 replica' });
    expect(r.step('canary').output).toEqual(canary);
    expect(r.output).toEqual(canary);
  });

  it('state output mappings set context keys from paths into the step output (a missing path sets null)', async () => {
    const r = await h.run('output-mappings', { service: 'payments' });
    expectCompleted(r);
    const assess = agentOutput('responder', { json: { status: 'at risk', budget_left: 12 } });
    expect(r.step('assess').output).toEqual(assess);
    expect(r.context).toMatchObject({ verdict: { status: 'at risk', budget_left: 12 }, budget_left: 12 });
    expect(r.context).toHaveProperty('owner', null);
    expect(r.step('report').output).toEqual({ message: 'at risk: 12% left' });
    expect(r.output).toEqual({ message: 'at risk: 12% left' });
  });

  it('lenient free text: a missing key in a task is left as written with a step warning; ${key} reads the context', async () => {
    const r = await h.run('lenient-free-text');
    expectCompleted(r);
    // The notifier's fixture matches only
    // "Alarm HighCPU-PaymentService fired again at {{ alarm.reported_at }} (team payments, runbook ${runbook})".
    const comment = agentOutput('notifier', { content: 'Commented on OPS-101' });
    expect(r.step('comment').output).toEqual(comment);
    const warnings = eventsOf(r, 'step:warning');
    expect(warnings).toEqual([expect.objectContaining({ state: 'comment', code: 'STN_E_EXPR_MISSING_KEY', message: expect.stringContaining('reported_at') })]);
    expect(r.output).toEqual(comment);
  });
});

describe('templates and conditions', () => {
  it('A if hasattr(x, \'k\') else B in a task: false while x is unset, then its key', async () => {
    const r = await h.run('template-hasattr');
    expectCompleted(r);
    expect(r.step('notify_before').output).toEqual(agentOutput('notifier', { content: 'Posted OPS-101 to #incidents' }));
    const after = agentOutput('notifier', { content: 'Posted OPS-202 to #incidents' });
    expect(r.step('notify_after').output).toEqual(after);
    expect(r.output).toEqual(after);
  });

  it('a switch with dataPath reads the value as _value, val or result', async () => {
    const cases: Array<[string, string, JsonValue]> = [
      ['critical', 'page', { action: 'page', alert: 'HighErrorRate' }],
      ['high', 'ticket', { action: 'ticket', alert: 'HighErrorRate' }],
      ['medium', 'ticket', { action: 'ticket', alert: 'HighErrorRate' }],
      ['low', 'note', { action: 'note' }],
    ];
    for (const [severity, next, output] of cases) {
      const r = await h.run('switch-value', { severity });
      expectCompleted(r);
      expect(route(r)).toEqual(['inject_alert', 'route_by_severity', next]);
      expect(r.output).toEqual(output);
    }
  });

  it('len() in conditions and templates', async () => {
    const cases: Array<[string[], string, JsonValue]> = [
      [['a', 'b', 'c'], 'escalate', { decision: 'escalate', count: 3 }],
      [['a'], 'review', { decision: 'review', count: 1 }],
      [[], 'close', { decision: 'close', count: 0 }],
    ];
    for (const [findings, next, output] of cases) {
      const r = await h.run('condition-len', { findings });
      expectCompleted(r);
      expect(route(r)).toEqual(['collect', 'route', next]);
      expect(r.output).toEqual(output);
    }
  });

  it('ctx._cronTriggeredAt: a manual run of a cron workflow reads the time the run started', async () => {
    const r = await h.run('cron-start', { check_type: 'manual' });
    expectCompleted(r);
    // The cron start state is a trigger, not a step.
    expect(route(r)).toEqual(['stamp', 'compute']);
    const started = r.run.started_at;
    expect(started).toMatch(ISO);
    expect(r.step('stamp').output).toEqual({ triggered_at: started });
    const computed = r.step('compute').output as Record<string, unknown>;
    expect(computed).toEqual({ triggered_at: started, same_as_template: true, evaluated_at: expect.stringMatching(ISO) });
    expect(Date.parse(computed.evaluated_at as string)).toBeGreaterThanOrEqual(Date.parse(started ?? ''));
  });

  it('workflow.input in templates and ctx.workflow.input in a transform are the run input', async () => {
    const r = await h.run('workflow-input-template', { service: 'payments', namespace: 'production' });
    expectCompleted(r);
    expect(r.step('brief').output).toEqual({ service: 'payments', where: 'payments in production' });
    expect(r.step('echo').output).toEqual({ namespace: 'production', where: 'payments in production' });
    const check = agentOutput('responder', { json: { rolled_out: true, replicas: 3 } });
    expect(r.step('check').output).toEqual(check);
    expect(r.output).toEqual(check);
  });
});

describe('field spellings', () => {
  it('resultPath: ctx on an inject merges its data into the context root', async () => {
    const r = await h.run('inject-resultpath-ctx');
    expectCompleted(r);
    const settings = { via_ctx: 'eu-west-1', bare: 'eu-west-1', retries: 3 };
    expect(r.context).toMatchObject({ region: 'eu-west-1', max_retries: 3, settings });
    expect(r.context).not.toHaveProperty('ctx');
    expect(r.output).toEqual(settings);
  });

  it('type: set and type: context are inject states', async () => {
    const r = await h.run('type-set');
    expectCompleted(r);
    expect(r.step('defaults').output).toEqual({ environment: 'staging', replicas: 2 });
    expect(r.context).toMatchObject({ environment: 'staging', replicas: 4 });
    expect(r.output).toEqual({ replicas: 4 });
  });

  it('timeout: "1s" stops a step after a second; retry.max_attempts: 3 makes three attempts', async () => {
    const r = await h.run('timeout-retry');
    expectCompleted(r);
    expect(r.step('flaky')).toMatchObject({ status: 'FAILED', attempt: 3, error: expect.objectContaining({ code: 'E_REGISTRY' }) });
    expect(r.step('slow_probe')).toMatchObject({ status: 'TIMED_OUT', error: expect.objectContaining({ code: 'STN_E_STEP_TIMEOUT' }) });
    expect(r.output).toEqual({ failed_state: 'slow_probe', code: 'STN_E_STEP_TIMEOUT' });
  });
});

describe('outputSchema in compat mode', () => {
  it('an output that matches: COMPLETED, no warning', async () => {
    const r = await h.run('output-schema-match', { checks: [{ ok: true }, { ok: true }] });
    expectCompleted(r);
    expect(r.output).toEqual({ status: 'ok', checked: 2 });
    expect(eventsOf(r, 'run:warning')).toEqual([]);
  });

  it('an output that does not match: still COMPLETED, with a run:warning STN_E_OUTPUT_INVALID', async () => {
    const r = await h.run('output-schema-mismatch', { checks: [{ ok: true }, { ok: false }] });
    expectCompleted(r);
    expect(r.output).toEqual({ status: 'degraded', checked: 2 });
    expect(eventsOf(r, 'run:warning')).toEqual([{ code: 'STN_E_OUTPUT_INVALID', message: expect.stringContaining('report') }]);
  });
});

describe('shorthand branches and iterators', () => {
  const k8s = agentOutput('k8s-investigator', { json: { status: 'degraded', pods_restarting: 2 } });
  const logs = agentOutput('log-analyzer', { json: { errors: 14, top_error: 'connection reset' } });

  it('parallel {name, agent, task} branches with outputAggregation merge, array and first', async () => {
    const r = await h.run('parallel-shorthand', { service: 'checkout' });
    expectCompleted(r);
    // The branch's one state has the branch's name and resultPath "$": the branch scope is the agent's output.
    expect(r.step('merged/kubernetes/kubernetes').output).toEqual(k8s);
    expect(r.step('merged').output).toEqual({ kubernetes: k8s, logs });
    expect(steps(r).merged).toEqual(compatRecord({ kubernetes: k8s, logs }));
    expect(r.step('listed').output).toEqual([k8s, logs]);
    // first: the quick branch ended first; the slow one still ran to its end.
    expect(r.step('first_done').output).toEqual(logs);
    expect(r.step('first_done/slow/inspect')).toMatchObject({ status: 'SUCCEEDED', output: k8s });
    expect(r.output).toEqual(logs);
  });

  it('foreach itemVariable + agent with outputAggregation array: {item, index, output} in item order', async () => {
    const r = await h.run('foreach-shorthand');
    expectCompleted(r);
    const api = agentOutput('health-checker', { json: { status: 'healthy', issues: [] } });
    const worker = agentOutput('health-checker', { json: { status: 'degraded', issues: ['queue backlog 1200'] } });
    expect(r.step('check_services[1]/check_services').output).toEqual(worker);
    const aggregated = [
      { item: { name: 'api', namespace: 'prod' }, index: 0, output: api },
      { item: { name: 'worker', namespace: 'prod' }, index: 1, output: worker },
    ];
    expect(r.step('check_services').output).toEqual(aggregated);
    expect(steps(r).health_checks).toEqual({ output: aggregated });
    expect(r.output).toEqual(aggregated);
  });
});
