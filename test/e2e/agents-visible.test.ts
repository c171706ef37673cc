import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepDetailView } from '../../src/views/transcript.js';
import type { EventView, RunDetailView } from '../../src/views/types.js';
import { ensureBuilt, PROJECT_ROOT, stn, stnJson } from '../helpers/cli.js';
import { spawnServe, until, type ServeProcess } from '../helpers/daemon-proc.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { openSse } from '../helpers/sse-client.js';

/**
 * Agent steps end to end with the offline fixture provider and a real stdio MCP server: Station-style agent states
 * (`type: agent` + `prompt`, `input.task: agent.run` + `agent_task`) synced and run by the built `stn`, a switch on
 * the agent's answer; the transcript of `stn runs show --step`; the agent:* events on a daemon's SSE stream and its
 * station_agent_* metrics.
 */

const MCP_SERVER = path.join(PROJECT_ROOT, 'test', 'fixtures', 'mcp', 'stdio-server.mjs');

const OPS_AGENT = `---
model: fixture/ops
tools: [fx/echo, fx/fail]
output:
  schema:
    verdict(enum): [restart, wait]
    page: boolean
---
{{role "system"}}
You decide what to do about an alert.
{{role "user"}}
{{userInput}}
`;

/** Disk alerts: one turn of three tool calls (ok, a tool error, a tool the agent does not have), then the verdict. */
const OPS_FIXTURE = `
- match: disk
  turns:
    - content: Looking at the host first.
      toolCalls:
        - {tool: fx/echo, arguments: {text: df -h /var}}
        - {tool: fx/fail, arguments: {message: no access}}
        - {tool: fx/rm_rf, arguments: {path: /}}
      usage: {input: 120, output: 30}
    - json: {verdict: restart, page: true}
      usage: {input: 200, output: 12}
- turns:
    - json: {verdict: wait, page: false}
      usage: {input: 90, output: 10}
`;

/** The original Station's spelling: state ids, transition, `type: agent` with `prompt`, a switch on `dataPath`. */
const STATION_AGENT_STATE = `id: station-agent
version: "1"
name: Station-style agent state
states:
  - id: assess
    type: agent
    agent: ops
    prompt: "{{ input.alert }}"
    transition: decide
  - id: decide
    type: switch
    dataPath: $.steps.assess
    conditions:
      - if: verdict == 'restart' and page == True
        next: restart
    defaultNext: wait
  - {id: restart, type: inject, data: {route: restart}, end: true}
  - {id: wait, type: inject, data: {route: wait}, end: true}
`;

/** The other spelling: an operation whose input names the task (`input.task: agent.run`, `input.agent_task`). */
const STATION_TASK_INPUT = `id: station-task
version: "1"
name: Station-style agent.run task
states:
  - id: assess
    type: operation
    input:
      task: agent.run
      agent: ops
      agent_task: "{{ input.alert }}"
    transition: decide
  - id: decide
    type: switch
    conditions:
      - if: steps.assess.verdict == 'restart'
        next: restart
    defaultNext: wait
  - {id: restart, type: inject, data: {route: restart}, end: true}
  - {id: wait, type: inject, data: {route: wait}, end: true}
`;

/** Waits for a signal first, so a stream opened meanwhile sees the agent's events as they are committed. */
const GATED = `id: gated-agent
version: "1"
name: Gated agent
states:
  - {name: gate, type: operation, action: signal.wait, input: {name: go}, next: assess}
  - {name: assess, type: operation, action: agent.run, input: {agent: ops, task: "disk full on db1"}, end: true}
`;

let repo: GitRepo;
let daemon: ServeProcess | undefined;

const local = (args: string[]) => stn(['--repo', repo.dir, ...args], repo.dir);
const localJson = <T>(args: string[]) => stnJson<T>(['--repo', repo.dir, '--json', ...args], repo.dir);

beforeAll(() => {
  ensureBuilt();
  repo = createGitRepo('stn-agents-visible-');
  repo.write('.gitignore', '.station/\n');
  repo.write(
    'environments/default/mcp.yaml',
    `servers:\n  fx:\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(MCP_SERVER)}]\n    env: {FIXTURE_STATE_DIR: ${JSON.stringify(repo.dir)}}\n`,
  );
  repo.write('environments/default/agents/ops.prompt', OPS_AGENT);
  repo.write('environments/default/agents/fixtures/ops.yaml', OPS_FIXTURE);
  repo.write('environments/default/workflows/station-agent.workflow.yaml', STATION_AGENT_STATE);
  repo.write('environments/default/workflows/station-task.workflow.yaml', STATION_TASK_INPUT);
  repo.write('environments/default/workflows/gated-agent.workflow.yaml', GATED);
  repo.commit('agents');
  const sync = local(['sync']);
  expect(sync.status, sync.stdout + sync.stderr).toBe(0);
}, 60_000);
afterAll(async () => {
  await daemon?.stop();
  repo?.cleanup();
});

function routeOf(run: RunDetailView): string[] {
  return run.steps.map((s) => s.state);
}

describe('Station-style agent files run end to end with the fixture provider', () => {
  it.each(['station-agent', 'station-task'])('%s: the agent answers from its fixture and the switch routes on its fields', (wf) => {
    const disk = localJson<RunDetailView>(['run', wf, '--input', '{"alert": "disk full on db1"}']);
    expect(disk.json.status, disk.stderr).toBe('COMPLETED');
    expect(routeOf(disk.json)).toEqual(['assess', 'decide', 'restart']);
    const assess = disk.json.steps[0];
    expect(assess?.action).toBe('agent.run');
    expect(assess?.input).toEqual({ agent: 'ops', task: 'disk full on db1' });
    expect(assess?.output).toMatchObject({ verdict: 'restart', page: true, agent_name: 'ops', step_count: 2, tools_used: 2 });

    const quiet = localJson<RunDetailView>(['run', wf, '--input', '{"alert": "cpu at 70%"}']);
    expect(quiet.json.status).toBe('COMPLETED');
    expect(routeOf(quiet.json)).toEqual(['assess', 'decide', 'wait']);
    expect(quiet.json.steps[0]?.output).toMatchObject({ verdict: 'wait', page: false, step_count: 1, tools_used: 0 });
  }, 60_000);
});

describe('stn runs show --step', () => {
  let runId: string;
  beforeAll(() => {
    runId = localJson<RunDetailView>(['run', 'station-agent', '--input', '{"alert": "disk full on db2"}']).json.id;
  });

  it('prints the transcript: turns with model, tokens, latency and reply, each tool call with arguments, outcome and result', () => {
    const r = local(['runs', 'show', runId, '--step', 'assess']);
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/^step [0-9a-f]{24} {2}\(run r\w+\)$/m);
    expect(out).toMatch(/state +assess {2}operation agent\.run/);
    expect(out).toMatch(/transcript, attempt 1 \(agent ops\): 2 turns, 320 in \/ 42 out tokens/);
    expect(out).toMatch(/turn 1 {2}fixture\/ops {2}120 in \/ 30 out {2}\d+ ms/);
    expect(out).toContain('reply: Looking at the host first.');
    expect(out).toMatch(/asks: {2}fx__echo \{"text":"df -h \/var"\}/);
    expect(out).toMatch(/tool fx\/echo {2}ok {2}\d+ ms\n +arguments: \{"text":"df -h \/var"\}\n +result: +df -h \/var/);
    expect(out).toMatch(/tool fx\/fail {2}error .*\n.*\n +result: +failed: no access/);
    expect(out).toMatch(/tool fx\/rm_rf {2}error .*\n.*\n +result: +STN_E_AGENT_UNKNOWN_TOOL/);
    expect(out).toMatch(/turn 2 {2}fixture\/ops {2}200 in \/ 12 out/);
    expect(out).toContain('reply: {"verdict":"restart","page":true}');
  });

  it('--json gives the step and its transcript as data; a step is named by id, path or state', () => {
    const { json } = localJson<StepDetailView>(['runs', 'show', runId, '--step', 'assess']);
    expect(json.runId).toBe(runId);
    expect(json.step.state).toBe('assess');
    expect(json.transcript).toHaveLength(1);
    const [attempt] = json.transcript ?? [];
    expect(attempt).toMatchObject({ attempt: 1, agent: 'ops', usage: { inputTokens: 320, outputTokens: 42 } });
    expect(attempt?.turns.map((t) => [t.turn, t.model, t.tools.map((c) => [c.tool, c.ok])])).toEqual([
      [1, 'ops', [['fx/echo', true], ['fx/fail', false], ['fx/rm_rf', false]]],
      [2, 'ops', []],
    ]);
    expect(attempt?.turns[0]?.tools[0]).toMatchObject({ arguments: { text: 'df -h /var' }, result: 'df -h /var' });
    const byId = localJson<StepDetailView>(['runs', 'show', runId, '--step', json.step.id]).json;
    expect(byId).toEqual(json);

    const plain = localJson<StepDetailView>(['runs', 'show', runId, '--step', 'decide']).json;
    expect(plain.step.type).toBe('switch');
    expect(plain.transcript).toBeNull();
  });

  it('an unknown step is a usage error naming the states', () => {
    const r = local(['runs', 'show', runId, '--step', 'nope']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/STN_E_USAGE: run r\w+ has no step "nope" .*its states: assess, decide, restart/);
  });
});

describe('a daemon: agent events over SSE, GET /events?stepId=, agent metrics', () => {
  it('streams agent:turn and agent:tool as they are committed, and counts them in /metrics', async () => {
    daemon = await spawnServe(repo.dir, ['--no-watch']);
    const api = `${daemon.url}/api/v1`;
    const started = await fetch(`${api}/workflow-runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflowId: 'gated-agent' }),
    });
    expect(started.status).toBe(201);
    const runId = ((await started.json()) as { id: string }).id;
    await until('the run to wait for its signal', async () => {
      const run = (await (await fetch(`${api}/workflow-runs/${runId}`)).json()) as RunDetailView;
      return run.status === 'WAITING_SIGNAL' ? run : undefined;
    });

    const stream = await openSse(`${api}/workflow-runs/${runId}/stream`);
    expect(stream.status).toBe(200);
    const signalled = await fetch(`${api}/workflow-runs/${runId}/signals`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'go' }),
    });
    expect(signalled.status).toBeLessThan(300);
    await stream.ended;
    const events = stream.events.map((e) => JSON.parse(e.data) as EventView);
    const types = events.map((e) => e.type);
    expect(types.at(-1)).toBe('run:completed');
    const agentEvents = events.filter((e) => e.type.startsWith('agent:'));
    expect(agentEvents.map((e) => [e.type, (e.data as { tool?: string }).tool ?? null])).toEqual([
      ['agent:turn', null],
      ['agent:tool', 'fx/echo'],
      ['agent:tool', 'fx/fail'],
      ['agent:tool', 'fx/rm_rf'],
      ['agent:turn', null],
    ]);
    // Committed as they happened: before the step's own end.
    const assessDone = events.findIndex((e) => e.type === 'step:succeeded' && (e.data as { state: string }).state === 'assess');
    expect(events.indexOf(agentEvents.at(-1) as EventView)).toBeLessThan(assessDone);

    // The events of one step, through the route the HTTP client uses.
    const stepId = agentEvents[0]?.stepId ?? '';
    const page = (await (await fetch(`${api}/workflow-runs/${runId}/events?stepId=${stepId}&limit=2`)).json()) as { items: EventView[]; nextCursor: string | null };
    expect(page.items.every((e) => e.stepId === stepId)).toBe(true);
    expect(page.nextCursor).not.toBeNull();
    const rest = (await (await fetch(`${api}/workflow-runs/${runId}/events?stepId=${stepId}&cursor=${page.nextCursor ?? ''}`)).json()) as { items: EventView[] };
    expect([...page.items, ...rest.items].map((e) => e.seq)).toEqual(events.filter((e) => e.stepId === stepId).map((e) => e.seq));

    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    const value = (series: string) => Number(metrics.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1]);
    expect(value('station_agent_model_calls_total{agent="ops",provider="fixture"}')).toBe(2);
    expect(value('station_agent_tokens_total{agent="ops",provider="fixture",direction="input"}')).toBe(320);
    expect(value('station_agent_tokens_total{agent="ops",provider="fixture",direction="output"}')).toBe(42);
    expect(value('station_agent_tool_calls_total{agent="ops",tool="fx/echo",outcome="ok"}')).toBe(1);
    expect(value('station_agent_tool_calls_total{agent="ops",tool="fx/fail",outcome="error"}')).toBe(1);
    // A tool name the model made up is folded, so models cannot grow the series.
    expect(value('station_agent_tool_calls_total{agent="ops",tool="(unknown)",outcome="error"}')).toBe(1);
    expect(metrics).not.toContain('rm_rf');
    expect(value('station_agent_model_latency_seconds_count{agent="ops",provider="fixture"}')).toBe(2);
    expect(value('station_agent_tool_latency_seconds_count{agent="ops",tool="fx/echo"}')).toBe(1);
  }, 60_000);
});

describe('the example repository', () => {
  it('alert-triage runs the triage agent offline to COMPLETED and branches on its page field', () => {
    const example = createGitRepo('stn-example-agents-');
    try {
      for (const part of ['environments', 'bundles', 'station.yaml']) {
        fs.cpSync(path.join(PROJECT_ROOT, part), path.join(example.dir, part), { recursive: true });
      }
      example.write('.gitignore', '.station/\n');
      example.commit('example');
      const run = (args: string[]) => stn(['--repo', example.dir, ...args], example.dir);
      expect(run(['sync']).status).toBe(0);
      const paged = JSON.parse(run(['--json', 'run', 'alert-triage', '--input', '{"service": "checkout", "summary": "error rate 12%"}']).stdout) as RunDetailView;
      expect(paged.status).toBe('COMPLETED');
      expect(routeOf(paged)).toEqual(['assess', 'decide', 'page']);
      expect(paged.output).toMatchObject({ outcome: 'paged', severity: 'critical' });
      const noted = JSON.parse(run(['--json', 'run', 'alert-triage', '--input', '{"service": "db1", "summary": "disk 91% full"}']).stdout) as RunDetailView;
      expect(noted.status).toBe('COMPLETED');
      expect(routeOf(noted)).toEqual(['assess', 'decide', 'note']);
      expect(noted.output).toMatchObject({ outcome: 'noted', severity: 'warning' });
    } finally {
      example.cleanup();
    }
  }, 60_000);
});
