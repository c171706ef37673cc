import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineHarness, RunResult } from '../helpers/engine-harness.js';
import { agentOutput, compatRecord, eventsOf, expectCompleted, ISO, openFixtures, route, steps } from './station-dialect-fixtures.js';

/**
 * Whole workflows in Station's dialect that mix its features (test/fixtures/station-dialect/), run end to end with
 * the fixture agents; and two files in Station-TS's own format using the new states and fields, where outputSchema
 * is enforced. Expected values are worked out by hand from the fixtures' data and replies.
 */

let h: EngineHarness;
beforeAll(async () => {
  h = await openFixtures();
}, 60_000);
afterAll(async () => {
  await h?.close();
});


describe('incident pipeline: transform, parallel agent shorthand, switch on an agent answer', () => {
  const logs = agentOutput('log-analyzer', { json: { errors: 3, top_error: 'OOMKilled' } });

  async function runFor(incidentId: string, service: string): Promise<RunResult> {
    const r = await h.run('incident-pipeline', { incident_id: incidentId, service });
    expectCompleted(r);
    const shaped = {
      incident_id: incidentId,
      service,
      headline: `Incident ${incidentId} on ${service}`,
      recent_logs: ['l4', 'l5'],
      log_count: 5,
    };
    expect(r.step('shape').output).toEqual(shaped);
    // The logs branch's task reads the transform's compat record both ways (steps.shape.x, steps.shape.output.x).
    expect(r.step('investigate/logs/logs').output).toEqual(logs);
    return r;
  }

  it('a critical verdict pages', async () => {
    const r = await runFor('INC-7', 'payments');
    const k8s = agentOutput('k8s-investigator', { json: { severity: 'critical', summary: '3 of 3 payments pods OOMKilled', pods_restarting: 3 } });
    expect(r.step('investigate').output).toEqual({ kubernetes: k8s, logs });
    expect(steps(r).investigation).toEqual(compatRecord({ kubernetes: k8s, logs }));
    expect(route(r)).toEqual(['init_incident', 'shape', 'investigate', 'route', 'page_oncall']);
    const paged = agentOutput('pager', { content: 'Paged alice for INC-7' });
    expect(r.step('page_oncall').output).toEqual(paged);
    expect(r.output).toEqual(paged);
  });

  it('a warning with restarting pods opens a ticket; anything else closes', async () => {
    const ticket = await runFor('INC-8', 'search');
    expect(route(ticket).at(-1)).toBe('open_ticket');
    expect(ticket.output).toEqual(agentOutput('pager', { content: 'Opened OPS-88 for INC-8' }));
    const closed = await runFor('INC-9', 'docs');
    expect(route(closed).at(-1)).toBe('close');
    expect(closed.output).toEqual({ outcome: 'closed', headline: 'Incident INC-9 on docs' });
  });
});

describe('foreach of agents with outputAggregation array', () => {
  const services = [
    { name: 'api', namespace: 'prod' },
    { name: 'worker', namespace: 'prod' },
  ];
  const healthy = agentOutput('health-checker', { json: { status: 'healthy', issues: [] } });
  const degraded = agentOutput('health-checker', { json: { status: 'degraded', issues: ['queue backlog 1200'] } });

  it('each iteration\'s agent gets the run\'s task and its item; an unhealthy service alerts', async () => {
    const r = await h.run('foreach-agents', { task: 'Check health of all services', services });
    expectCompleted(r);
    const aggregated = [
      { item: services[0], index: 0, output: healthy },
      { item: services[1], index: 1, output: degraded },
    ];
    expect(r.step('check_services').output).toEqual(aggregated);
    expect(steps(r).health_checks).toEqual({ output: aggregated });
    const summary = {
      total_services: 2,
      healthy: 1,
      unhealthy_services: ['worker'],
      details: [
        { service: 'api', status: 'healthy', issues: [] },
        { service: 'worker', status: 'degraded', issues: ['queue backlog 1200'] },
      ],
    };
    expect(r.step('aggregate_results').output).toEqual(summary);
    expect(steps(r).summary).toEqual(compatRecord(summary));
    // alert has no task: "Execute workflow step: alert" and the summary as JSON (the notifier's fixture checks both).
    const alerted = agentOutput('notifier', { content: 'Alerted #ops: worker is degraded' });
    expect(route(r)).toEqual(['intake', 'check_services', 'aggregate_results', 'route_by_health', 'alert']);
    expect(r.output).toEqual(alerted);
  });

  it('all healthy: the other transform', async () => {
    const r = await h.run('foreach-agents', { task: 'Check health of all services', services: services.slice(0, 1) });
    expectCompleted(r);
    expect(r.step('check_services').output).toEqual([{ item: services[0], index: 0, output: healthy }]);
    expect(route(r).at(-1)).toBe('all_ok');
    expect(r.output).toEqual({ status: 'all_healthy', message: 'All 1 services are healthy' });
  });
});

describe('cron start state with ctx._cronTriggeredAt', () => {
  it('a manual run: the agent task and the transform carry the time the run started', async () => {
    const r = await h.run('cron-report', { namespace: 'production', alert_threshold_pct: 5 });
    expectCompleted(r);
    const started = r.run.started_at;
    expect(started).toMatch(ISO);
    // The metrics-analyst's fixture matches the task only with an ISO timestamp where the template was.
    const metrics = agentOutput('metrics-analyst', { json: { error_rate: 2, p99_ms: 340 } });
    expect(r.context.metrics_result).toEqual(metrics);
    const summary = { checked_at: started, namespace: 'production', error_rate: 2, healthy: true };
    expect(r.step('summarize').output).toEqual(summary);
    expect(r.output).toEqual(summary);
  });
});

describe('alert routing: a switch on _value of an agent answer', () => {
  const cases = [
    { alert_name: 'HighErrorRate', current_value: 12, severity: 'critical', reason: 'error rate far above threshold', next: 'critical_response' },
    { alert_name: 'SlowQueries', current_value: 6, severity: 'high', reason: 'slightly above threshold', next: 'high_response' },
    { alert_name: 'DiskWarn', current_value: 1, severity: 'low', reason: 'below threshold', next: 'low_response' },
  ];
  for (const c of cases) {
    it(`${c.alert_name}: ${c.severity} → ${c.next}`, async () => {
      const r = await h.run('alert-routing', { alert_name: c.alert_name, current_value: c.current_value });
      expectCompleted(r);
      const classification = agentOutput('classifier', { json: { severity: c.severity, reason: c.reason } });
      expect(r.context.classification).toEqual(classification);
      expect(route(r)).toEqual(['inject_alert', 'classify', 'route_by_severity', c.next]);
      const outputs: Record<string, unknown> = {
        critical_response: agentOutput('responder', { content: 'Incident INC-12 opened for HighErrorRate' }),
        high_response: { action: 'ticket', alert: 'SlowQueries', reason: 'slightly above threshold' },
        low_response: { action: 'ignore' },
      };
      expect(r.output).toEqual(outputs[c.next]);
    });
  }
});

describe('three-agent chain with no explicit tasks', () => {
  it('investigate gets the input task, analyze investigate\'s response, report analyze\'s response', async () => {
    const r = await h.run('agent-chain', { task: 'Investigate the api crash loop', namespace: 'prod' });
    expectCompleted(r);
    // Each agent's fixture matches only the task it should get (see agents/fixtures/{investigator,analyzer,reporter}.yaml).
    const investigate = agentOutput('investigator', { content: 'Pods api-7 and api-9 restart with OOMKilled' });
    const analyze = agentOutput('analyzer', { json: { cause: 'memory limit 256Mi too low', confidence: 90 } });
    const report = agentOutput('reporter', { content: 'Raise the api memory limit to 512Mi' });
    expect(r.step('investigate').output).toEqual(investigate);
    expect(r.step('analyze').output).toEqual(analyze);
    expect(r.step('report').output).toEqual(report);
    expect(steps(r)).toEqual({ investigate: compatRecord(investigate), analyze: compatRecord(analyze), report: compatRecord(report) });
    expect(r.output).toEqual(report);
  });
});

describe('previous output across an engine restart', () => {
  it('a step that runs after the restart gets the task built from what ran before it', async () => {
    const own = await openFixtures();
    try {
      const id = own.start('resume-previous', { rounds: [1, 2] });
      await own.waitFor(id, 'step:waiting');
      // A new engine with nothing in memory (as after a restart) finishes the run.
      await own.engine.stop(1000);
      const other = own.openAnother();
      other.station.runs.signal(id, 'go', {});
      const r = await own.waitForEnd(id);
      expectCompleted(r);
      // The second iteration's previous output is {...plan's output, _item: 2, _index: 1, round: 2}: its task is
      // plan's task and that JSON (the reviewer's fixture matches nothing else).
      expect(r.step('rounds[1]/review').output).toEqual(agentOutput('reviewer', { json: { approved: true, version: 'v2' } }));
    } finally {
      await own.close();
    }
  });
});

describe('Station-TS\'s own format: transform, outputAggregation array, outputSchema enforced', () => {
  const input = { hosts: ['web-1', 'test-9', 'db-1'] };
  const prepared = { hosts: ['web-1', 'db-1'], skipped: 1 };
  // Branch scopes in branch order: dns merged its data into its scope; tls's transform wrote steps.tls_check.
  const checks = [{ check: 'dns', ok: true }, { steps: { tls_check: { check: 'tls', ok: true } } }];
  const labels = [
    { item: 'web-1', index: 0, output: { steps: { label: { host: 'web-1', upper: 'WEB-1', position: 0 } } } },
    { item: 'db-1', index: 1, output: { steps: { label: { host: 'db-1', upper: 'DB-1', position: 1 } } } },
  ];

  it('an output that matches the schema: COMPLETED; no compat records, the output as written', async () => {
    const r = await h.run('native-output-valid', input);
    expectCompleted(r);
    expect(r.step('prepare').output).toEqual(prepared);
    expect(steps(r).prepare).toEqual(prepared);
    expect(r.step('probe').output).toEqual(checks);
    expect(r.step('each').output).toEqual(labels);
    expect(r.output).toEqual({ hosts: prepared.hosts, checks, labels });
    expect(eventsOf(r, 'run:warning')).toEqual([]);
  });

  it('an output that breaks the schema fails the run with STN_E_OUTPUT_INVALID', async () => {
    const r = await h.run('native-output-invalid', input);
    expect(r.status).toBe('FAILED');
    expect(r.error).toMatchObject({ code: 'STN_E_OUTPUT_INVALID', message: expect.stringContaining('owner') });
    // Every step did its work: it is the output that is refused.
    expect(r.steps.filter((s) => s.status !== 'SUCCEEDED').map((s) => s.path)).toEqual([]);
  });
});
