import { afterEach, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/server-harness.js';

let t: TestDaemon | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
});

const SHOW = [
  'id: show',
  'version: "1"',
  'name: Show',
  'states:',
  '  - name: only',
  '    type: operation',
  '    action: noop',
  '    input: { team: "{{ vars.team }}" }',
  '    end: true',
  '',
].join('\n');

interface RunJson {
  status: string;
  output: { steps: { only: { team: string } } } | null;
}

async function teamSeen(d: TestDaemon): Promise<string> {
  const r = await d.request('POST', '/api/v1/workflow-runs?wait=10', { body: { workflowId: 'show', environment: 'prod' } });
  expect(r.statusCode, r.body).toBe(201);
  const run = JSON.parse(r.body) as RunJson;
  expect(run.status).toBe('COMPLETED');
  return run.output?.steps.only.team ?? '';
}

describe('daemon: runs start with the variables of the last sync', () => {
  it('an edit the daemon has not synced changes no run; POST /sync pins the new value', async () => {
    t = await startTestDaemon({
      files: { 'environments/prod/environment.yaml': 'vars: {team: sre}\n', 'environments/prod/workflows/show.workflow.yaml': SHOW },
    });
    expect(await teamSeen(t)).toBe('sre');

    t.repo.write('environments/prod/environment.yaml', 'vars: {team: ops}\n');
    expect(await teamSeen(t)).toBe('sre');

    const synced = await t.request('POST', '/api/v1/sync', { body: { environment: 'prod' } });
    expect(synced.statusCode, synced.body).toBe(200);
    const report = JSON.parse(synced.body) as { environments: Array<{ variables: { revision: number; changes: unknown[] } }> };
    expect(report.environments[0]?.variables).toMatchObject({ revision: 2, changes: [{ scope: null, name: 'team', change: 'changed', from: 'sre', to: 'ops' }] });
    expect(await teamSeen(t)).toBe('ops');
  });
});
