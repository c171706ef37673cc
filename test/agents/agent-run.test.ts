import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../helpers/fake-openai.js';
import { EngineHarness } from '../helpers/engine-harness.js';

/**
 * agent.run in the engine: an agent file synced from the repository, its model through the OpenAI-compatible client
 * (against a fake chat-completions server on loopback) or the fixture provider, its tools from a real stdio MCP
 * server, each turn and tool call journaled as run events.
 */

const PROJECT_ROOT = path.resolve(import.meta.dirname, '..', '..');
const MCP_SERVER = path.join(PROJECT_ROOT, 'test', 'fixtures', 'mcp', 'stdio-server.mjs');

let h: EngineHarness | undefined;
let fake: FakeOpenAI | undefined;
afterEach(async () => {
  await h?.close();
  await fake?.stop();
  h = undefined;
  fake = undefined;
});

const TRIAGE = `---
model: llm/qwen3
tools: [fx/record]
input:
  schema:
    service: string
output:
  schema:
    severity(enum): [critical, warning, info]
    page: boolean
---
{{role "system"}}
You triage alerts for {{service}} (prompt v1).
{{role "user"}}
{{userInput}}
`;

const WORKFLOW = `
  id: triage
  version: "1"
  name: Triage
  states:
    - name: assess
      type: operation
      action: agent.run
      input: {agent: triage, task: "{{ input.alert }}", variables: {service: checkout}}
      next: route
    - name: route
      type: switch
      conditions:
        - {if: "steps.assess.page == true", next: paged}
      defaultNext: quiet
    - {name: paged, type: inject, data: {outcome: paged}, end: true}
    - {name: quiet, type: inject, data: {outcome: quiet}, end: true}
`;

/** A repository with station.yaml pointing `llm` at the fake, an MCP server `fx`, the agent and the workflow. */
async function setup(workflow = WORKFLOW, agent = TRIAGE): Promise<{ stateDir: string; station: EngineHarness['station'] }> {
  fake = new FakeOpenAI();
  await fake.start();
  h = EngineHarness.create({ startEngine: false });
  const stateDir = h.file('mcp-state');
  fs.mkdirSync(stateDir);
  h.writeFile('station.yaml', `agents:\n  providers:\n    llm: {type: openai, baseUrl: "${fake.url}"}\n`);
  h.writeFile(
    'environments/default/mcp.yaml',
    `servers:\n  fx:\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(MCP_SERVER)}]\n    env: {FIXTURE_STATE_DIR: ${JSON.stringify(stateDir)}}\n`,
  );
  h.writeFile('environments/default/agents/triage.prompt', agent);
  h.writeWorkflow('triage', workflow);
  const other = h.openAnother();
  await other.station.syncer.sync();
  return { stateDir, station: other.station };
}

function calls(stateDir: string): string[] {
  const file = path.join(stateDir, 'calls');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n') : [];
}

describe('agent.run', () => {
  it('runs the agent with its MCP tools; the step output spreads the structured answer for the next states', async () => {
    const { stateDir, station } = await setup();
    fake?.script(
      { toolCalls: [{ name: 'fx__record', arguments: { text: 'checked checkout' } }], usage: { input: 30, output: 5 } },
      { content: '{"severity": "critical", "page": true}', usage: { input: 50, output: 8 } },
    );
    const id = station.runs.start({ workflowId: 'triage', input: { alert: 'checkout 500s' } }).run.id;
    const r = await h!.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    const out = r.step('assess').output as Record<string, unknown>;
    expect(out).toMatchObject({
      severity: 'critical',
      page: true,
      result: { severity: 'critical', page: true },
      agent_name: 'triage',
      model: 'llm/qwen3',
      step_count: 2,
      tools_used: 1,
      usage: { input_tokens: 80, output_tokens: 13, total_tokens: 93 },
    });
    expect(r.step('paged').status).toBe('SUCCEEDED');
    expect(calls(stateDir)).toEqual(['checked checkout']);
    // What the model saw: the rendered prompt, the task, the tool and its result.
    const first = fake!.requests[0]!.body;
    expect(JSON.stringify(first.messages)).toContain('You triage alerts for checkout (prompt v1).');
    expect(JSON.stringify(first.messages)).toContain('checkout 500s');
    expect(first.tools?.map((t) => t.function.name)).toEqual(['fx__record']);
    expect(JSON.stringify(fake!.requests[1]!.body.messages)).toContain('recorded checked checkout');
    // The transcript: one event per turn and per tool call, in order.
    expect(r.events.filter((e) => e.type.startsWith('agent:')).map((e) => [e.type, e.data.turn])).toEqual([
      ['agent:turn', 1],
      ['agent:tool', 1],
      ['agent:turn', 2],
    ]);
    expect(r.events.find((e) => e.type === 'agent:tool')?.data).toMatchObject({ agent: 'triage', tool: 'fx/record', ok: true, result: 'recorded checked checkout' });
  });

  it('a run uses the agent version pinned when it started, even when the file changes and is synced meanwhile', async () => {
    const gated = WORKFLOW.replace(
      '  states:\n',
      '  states:\n    - {name: hold, type: operation, action: signal.wait, input: {name: go}, next: assess}\n',
    );
    const { station } = await setup(gated);
    fake?.script({ content: '{"severity": "info", "page": false}' });
    const id = station.runs.start({ workflowId: 'triage', input: { alert: 'disk' } }).run.id;
    await h!.waitFor(id, 'step:waiting');
    h!.writeFile('environments/default/agents/triage.prompt', TRIAGE.replace('(prompt v1)', '(prompt v2)'));
    await station.syncer.sync();
    station.runs.signal(id, 'go', {});
    const r = await h!.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    expect(JSON.stringify(fake!.requests[0]!.body.messages)).toContain('(prompt v1)');
    // A run started now gets the new version.
    fake?.script({ content: '{"severity": "info", "page": false}' });
    const next = station.runs.start({ workflowId: 'triage', input: { alert: 'disk' } }).run.id;
    station.runs.signal(next, 'go', {});
    expect((await h!.waitForEnd(next)).status).toBe('COMPLETED');
    expect(JSON.stringify(fake!.requests[1]!.body.messages)).toContain('(prompt v2)');
  });

  it('an unknown agent and variables its input schema refuses fail the step at once with their codes', async () => {
    const wf = WORKFLOW.replace('agent: triage', 'agent: "{{ input.agent }}"').replace('variables: {service: checkout}', 'variables: "{{ input.vars }}"');
    const { station } = await setup(wf);
    const unknown = station.runs.start({ workflowId: 'triage', input: { alert: 'x', agent: 'nobody', vars: { service: 'a' } } }).run.id;
    const r1 = await h!.waitForEnd(unknown);
    expect(r1.status).toBe('FAILED');
    expect(r1.step('assess').error).toMatchObject({ code: 'STN_E_AGENT_NOT_FOUND', attempt: 1 });
    const bad = station.runs.start({ workflowId: 'triage', input: { alert: 'x', agent: 'triage', vars: { service: 42 } } }).run.id;
    const r2 = await h!.waitForEnd(bad);
    expect(r2.step('assess').error).toMatchObject({ code: 'STN_E_AGENT_INPUT' });
    expect(fake!.requests).toHaveLength(0);
  });

  it('cancelling the run aborts the model request in flight at once', async () => {
    const { station } = await setup();
    fake?.script({ hang: true });
    const id = station.runs.start({ workflowId: 'triage', input: { alert: 'x' } }).run.id;
    await fake!.waitForRequests(1);
    station.runs.cancel(id, false, 'test');
    await fake!.waitForClosed(0);
    const r = await h!.waitForEnd(id);
    expect(r.status).toBe('CANCELLED');
  });
});
