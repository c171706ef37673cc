import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureBuilt, stn } from '../helpers/cli.js';
import { spawnServe, type ServeProcess } from '../helpers/daemon-proc.js';
import { FakeOpenAI } from '../helpers/fake-openai.js';
import { createGitRepo, createTempDir, type GitRepo } from '../helpers/git-repo.js';
import { PROJECT_ROOT, pollUntil, stnSpawn, type ProcResult } from '../helpers/procs.js';

/**
 * `stn agents run`: one agent tried alone, in process and through a daemon (`--server`), against a fake
 * OpenAI-compatible model on loopback (the production client), with a real stdio MCP server for its tools.
 */

const MCP_SERVER = path.join(PROJECT_ROOT, 'test', 'fixtures', 'mcp', 'stdio-server.mjs');
const OPERATOR = 'agents-run-operator-token';
const VIEWER = 'agents-run-viewer-token';
/** The provider's API key, a secret: sent to the model, masked in everything stn prints. */
const API_KEY = 'sk-agents-run-secret-4242';

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
You triage alerts for {{service}}.
{{role "user"}}
{{userInput}}
`;

const CHAT = `---
model: llm/qwen3
---
{{userInput}}
`;

let repo: GitRepo;
let fake: FakeOpenAI;
let daemon: ServeProcess;
let stateDir: string;
let elsewhere: string;

const env = { STN_SECRET_LLM_KEY: API_KEY };
/** stn in process on the repository's database; the test keeps serving the fake model meanwhile. */
const local = (args: string[]): Promise<ProcResult> => stnSpawn(['--repo', repo.dir, ...args], { cwd: repo.dir, env, timeoutMs: 60_000 }).done;
/** stn through the daemon, from a folder that is not the repository. */
const remote = (args: string[], token = OPERATOR): Promise<ProcResult> =>
  stnSpawn(['--server', daemon.url, ...args], { cwd: elsewhere, env: { STN_TOKEN: token }, timeoutMs: 60_000 }).done;

/** Latencies and durations differ between two runs of the same agent; everything else must not. */
const normalize = (text: string) => text.replace(/\b\d+ ms\b|\b\d+\.\d s\b/g, '<duration>');

function calls(): string[] {
  const file = path.join(stateDir, 'calls');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n') : [];
}

/** The replies of one good try: a tool call, then the structured answer. */
function scriptGoodTry(text: string): void {
  fake.script(
    { toolCalls: [{ name: 'fx__record', arguments: { text } }], usage: { input: 30, output: 5 } },
    { content: '{"severity": "critical", "page": true}', usage: { input: 50, output: 8 } },
  );
}

beforeAll(async () => {
  ensureBuilt();
  fake = new FakeOpenAI();
  await fake.start();
  repo = createGitRepo('stn-agents-run-');
  stateDir = createTempDir('stn-agents-run-mcp-');
  elsewhere = createTempDir('stn-agents-run-cwd-');
  repo.write('.gitignore', '.station/\n');
  repo.write(
    'station.yaml',
    [
      'agents:',
      '  providers:',
      `    llm: {type: openai, baseUrl: "${fake.url}", apiKeySecret: LLM_KEY}`,
      'server:',
      '  tokens:',
      '    - {name: ops, role: operator, env: OPS_TOKEN}',
      '    - {name: look, role: viewer, env: VIEW_TOKEN}',
      '',
    ].join('\n'),
  );
  repo.write(
    'environments/default/mcp.yaml',
    `servers:\n  fx:\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(MCP_SERVER)}]\n    env: {FIXTURE_STATE_DIR: ${JSON.stringify(stateDir)}}\n`,
  );
  repo.write('environments/default/agents/triage.prompt', TRIAGE);
  repo.write('environments/default/agents/chat.prompt', CHAT);
  repo.commit('agents');
  expect((await local(['sync'])).status).toBe(0);
  daemon = await spawnServe(repo.dir, ['--no-watch'], { ...env, OPS_TOKEN: OPERATOR, VIEW_TOKEN: VIEWER });
}, 60_000);
afterAll(async () => {
  await daemon?.stop();
  await fake?.stop();
  repo?.cleanup();
  for (const dir of [stateDir, elsewhere]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);
beforeEach(() => {
  fs.rmSync(path.join(stateDir, 'calls'), { force: true });
});

describe('stn agents run', () => {
  const SLOW = 120_000;

  it('shows each model turn and tool call, then the step output; nothing is stored', async () => {
    const before = fake.requests.length;
    scriptGoodTry('checked checkout');
    const r = await local(['agents', 'run', 'triage', '--task', 'checkout 500s', '--var', 'service=checkout']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 4)).toEqual([
      expect.stringMatching(/^ {2}turn 1 {2}llm\/qwen3 {2}30 in \/ 5 out tokens {2}\d+ ms {2}calls fx__record$/),
      expect.stringMatching(/^ {2}tool {2}fx\/record {2}ok {2}\d+ ms {2}recorded checked checkout$/),
      expect.stringMatching(/^ {2}turn 2 {2}llm\/qwen3 {2}50 in \/ 8 out tokens {2}\d+ ms {2}final reply$/),
      expect.stringMatching(/^succeeded {2}default\/triage v1 {2}\(2 turns, 1 tool call, (\d+ ms|\d+\.\d s)\)$/),
    ]);
    const output = JSON.parse(lines.slice(4).join('\n')) as Record<string, unknown>;
    // What agent.run puts in the step output.
    expect(output).toMatchObject({
      severity: 'critical',
      page: true,
      result: { severity: 'critical', page: true },
      agent_name: 'triage',
      model: 'llm/qwen3',
      step_count: 2,
      tools_used: 1,
      usage: { input_tokens: 80, output_tokens: 13, total_tokens: 93 },
    });
    // The real tool was called once; the model saw the rendered prompt, the task and the tool's result.
    expect(calls()).toEqual(['checked checkout']);
    const first = fake.requests[before]!;
    expect(JSON.stringify(first.body.messages)).toContain('You triage alerts for checkout.');
    expect(JSON.stringify(first.body.messages)).toContain('checkout 500s');
    expect(first.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(JSON.stringify(fake.requests[before + 1]!.body.messages)).toContain('recorded checked checkout');
    // A try-out: no run in the database.
    expect(stn(['--repo', repo.dir, '--json', 'runs', 'list'], repo.dir).stdout.trim()).toBe('[]');
  }, SLOW);

  it('--json prints only the result object', async () => {
    scriptGoodTry('json');
    const r = await local(['--json', 'agents', 'run', 'triage', '--task', 't', '--vars', '{"service": "payments"}']);
    expect(r.status).toBe(0);
    const result = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({
      environment: 'default',
      bundle: null,
      name: 'triage',
      version: 1,
      task: 't',
      status: 'succeeded',
      output: { severity: 'critical', page: true, step_count: 2 },
      error: null,
      turns: 2,
      toolCalls: 1,
    });
  }, SLOW);

  it('an agent that fails: exit 1 with its step error code; secrets masked in what is printed', async () => {
    // Twice a reply that breaks the output schema (the second one is the repair turn): STN_E_AGENT_OUTPUT.
    fake.script({ content: `{"severity": "${API_KEY}"}` }, { content: `{"severity": "${API_KEY}"}` });
    const r = await local(['agents', 'run', 'triage', '--task', 't', '--var', 'service=x']);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^failed {2}default\/triage v1 {2}\(2 turns, 0 tool calls, (\d+ ms|\d+\.\d s)\)$/m);
    expect(r.stdout).toMatch(/^ {2}STN_E_AGENT_OUTPUT: agent "triage": the reply does not match the output schema after a repair turn: /m);

    // The model echoes the API key: masked in the progress-free output and in --json alike.
    fake.script({ content: `the key is ${API_KEY}` }, { content: `the key is ${API_KEY}` });
    const text = await local(['agents', 'run', 'chat', '--task', 'leak it']);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain('"response": "the key is ***"');
    expect(text.stdout).not.toContain(API_KEY);
    const json = await local(['--json', 'agents', 'run', 'chat', '--task', 'leak it']);
    expect(json.stdout).not.toContain(API_KEY);
    expect((JSON.parse(json.stdout) as { output: { response: string } }).output.response).toBe('the key is ***');
  }, SLOW);

  it('an unknown agent or variables that break its input schema: exit 2 before any model call', async () => {
    const before = fake.requests.length;
    const missing = await local(['agents', 'run', 'nope', '--task', 't']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe('stn: STN_E_NOT_FOUND: no agent "nope" in any environment\n');
    // `service` is required by the input schema: the caller's input is wrong, as a run's bad --input is (exit 2).
    const bad = await local(['agents', 'run', 'triage', '--task', 't', '--var', 'colour=red']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^stn: STN_E_INPUT_INVALID: agent "triage" in default: the variables do not match its input schema: .*service/);
    const badVars = await local(['agents', 'run', 'triage', '--task', 't', '--vars', '[1]']);
    expect(badVars.status).toBe(2);
    expect(badVars.stderr).toBe('stn: STN_E_USAGE: --vars must be a JSON object\n');
    expect(fake.requests.length).toBe(before);
  }, SLOW);

  it('--server: the same progress, output and exit codes through the daemon', async () => {
    for (const args of [
      ['agents', 'run', 'triage', '--task', 'checkout 500s', '--var', 'service=checkout'],
      ['--json', 'agents', 'run', 'triage', '--task', 'checkout 500s', '--var', 'service=checkout'],
    ]) {
      scriptGoodTry('parity');
      const l = await local(args);
      scriptGoodTry('parity');
      const r = await remote(args);
      expect({ status: r.status, stdout: normalize(r.stdout).replace(/"durationMs": \d+/, ''), stderr: r.stderr }).toEqual({
        status: l.status,
        stdout: normalize(l.stdout).replace(/"durationMs": \d+/, ''),
        stderr: l.stderr,
      });
      expect(l.status).toBe(0);
    }
    expect(calls()).toEqual(['parity', 'parity', 'parity', 'parity']);
    fake.script({ content: 'not json' }, { content: 'still not json' });
    const l = await local(['agents', 'run', 'triage', '--task', 't', '--var', 'service=x']);
    fake.script({ content: 'not json' }, { content: 'still not json' });
    const r = await remote(['agents', 'run', 'triage', '--task', 't', '--var', 'service=x']);
    expect(r.status).toBe(1);
    expect(normalize(r.stdout)).toBe(normalize(l.stdout));
    for (const args of [
      ['agents', 'run', 'nope', '--task', 't'],
      ['agents', 'run', 'triage', '--task', 't', '--var', 'colour=red'],
    ]) {
      const [a, b] = [await local(args), await remote(args)];
      expect({ status: b.status, stderr: b.stderr }).toEqual({ status: a.status, stderr: a.stderr });
      expect(b.status).toBe(2);
    }
  }, SLOW);

  it('Ctrl-C stops the agent: its model request is aborted, locally and through the daemon (exit 130)', async () => {
    for (const where of ['local', 'remote'] as const) {
      const n = fake.requests.length;
      fake.script({ toolCalls: [{ name: 'fx__record', arguments: { text: `live ${where}` } }] }, { hang: true });
      const args = ['agents', 'run', 'triage', '--task', 't', '--var', 'service=x'];
      const p =
        where === 'local'
          ? stnSpawn(['--repo', repo.dir, ...args], { cwd: repo.dir, env, timeoutMs: 60_000 })
          : stnSpawn(['--server', daemon.url, ...args], { cwd: elsewhere, env: { STN_TOKEN: OPERATOR }, timeoutMs: 60_000 });
      await fake.waitForRequests(n + 2);
      // Progress is shown as it happens: the first turn and the tool call are out while the model still thinks.
      await pollUntil('the tool line', () => (p.output().includes(`recorded live ${where}`) ? true : undefined), 15_000, 20);
      expect(p.output()).toMatch(/^ {2}turn 1 .* calls fx__record\n {2}tool {2}fx\/record {2}ok /);
      p.child.kill('SIGINT');
      await fake.waitForClosed(n + 1);
      const r = await p.done;
      expect(r.status, `${where}: ${r.stderr}`).toBe(130);
      expect(r.stdout).toContain('interrupted: the agent was stopped (nothing is stored)');
    }
  }, SLOW);
});

describe('POST /api/v1/agents/{name}/runs', () => {
  const post = (name: string, body: unknown, token: string, signal?: AbortSignal) =>
    fetch(`${daemon.url}/api/v1/agents/${name}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(signal ? { signal } : {}),
    });

  it('needs the operator role: a viewer is refused (403) and nothing runs', async () => {
    const before = fake.requests.length;
    const res = await post('triage', { task: 't', variables: { service: 'x' } }, VIEWER);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('STN_E_FORBIDDEN');
    const anonymous = await fetch(`${daemon.url}/api/v1/agents/triage/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"task": "t"}' });
    expect(anonymous.status).toBe(401);
    expect(fake.requests.length).toBe(before);
  });

  it('streams NDJSON: progress lines, then the result; bad variables are a 422 before it starts', async () => {
    scriptGoodTry('api');
    const res = await post('triage', { task: 't', variables: { service: 'x' } }, OPERATOR);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { type: string; result?: { status: string } });
    expect(lines.map((l) => l.type)).toEqual(['turn', 'tool', 'turn', 'result']);
    expect(lines[1]).toMatchObject({ type: 'tool', turn: 1, tool: 'fx/record', ok: true, result: 'recorded api' });
    expect(lines[3]?.result).toMatchObject({ status: 'succeeded', name: 'triage', turns: 2, toolCalls: 1 });
    const bad = await post('triage', { task: 't', variables: { service: 7 } }, OPERATOR);
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('STN_E_INPUT_INVALID');
  });

  it('a client that disconnects stops the agent: the model request in flight is aborted', async () => {
    const n = fake.requests.length;
    fake.script({ hang: true });
    const ac = new AbortController();
    const res = await post('chat', { task: 'think forever' }, OPERATOR, ac.signal);
    expect(res.status).toBe(200);
    await fake.waitForRequests(n + 1);
    ac.abort();
    await fake.waitForClosed(n);
    expect(fake.requests[n]?.closedEarly).toBe(true);
  });
});
