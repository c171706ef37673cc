import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { spawnServe, until, type ServeProcess } from '../helpers/daemon-proc.js';
import { FakeOpenAI } from '../helpers/fake-openai.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { workflowPath } from '../helpers/workflow.js';

/**
 * The durable agent loop with real processes: a daemon running an agent step is SIGKILLed after the step committed a
 * tool call and while it waits for the next model turn. The restarted daemon delivers the step again: the loop goes on
 * from the journal, so the tool is not called again and the turn already answered is not asked again.
 */

const MCP_SERVER = path.resolve(import.meta.dirname, '..', 'fixtures', 'mcp', 'stdio-server.mjs');

const AGENT = `---
model: llm/qwen3
tools: [fx/record]
---
{{role "system"}}
You fix things.
{{role "user"}}
{{userInput}}
`;

const WORKFLOW = `id: fix
version: "1"
name: Fix
states:
  - {name: work, type: operation, action: agent.run, input: {agent: fixer, task: "restart the cache"}, end: true}
`;

let repo: GitRepo | undefined;
let fake: FakeOpenAI | undefined;
const daemons: ServeProcess[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
  await fake?.stop();
  repo?.cleanup();
});

async function api<T>(d: ServeProcess, method: string, p: string, body?: unknown): Promise<T> {
  const res = await fetch(`${d.url}${p}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await res.json()) as T;
}

interface RunJson {
  status: string;
  steps: Array<{ state: string; status: string; attempt: number; deliveries: number; output: Record<string, unknown> | null }>;
}

describe('agent step after kill -9', () => {
  it('resumes from its journal: the committed tool call is not made again, the answered turn not asked again', async () => {
    ensureBuilt();
    fake = new FakeOpenAI();
    await fake.start();
    repo = createGitRepo('stn-agent-crash-');
    const stateDir = path.join(repo.dir, '.mcp-state');
    fs.mkdirSync(stateDir);
    repo.write('.gitignore', '.station/\n.mcp-state/\n');
    repo.write('station.yaml', `agents:\n  providers:\n    llm: {type: openai, baseUrl: "${fake.url}"}\n`);
    repo.write(
      'environments/default/mcp.yaml',
      `servers:\n  fx:\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(MCP_SERVER)}]\n    env: {FIXTURE_STATE_DIR: ${JSON.stringify(stateDir)}}\n`,
    );
    repo.write('environments/default/agents/fixer.prompt', AGENT);
    repo.write(workflowPath('default', 'fix'), WORKFLOW);
    repo.commit('agent');

    // Turn 1 asks for the tool; turn 2 never answers in the first daemon (it is killed while waiting for it).
    fake.script({ toolCalls: [{ name: 'fx__record', arguments: { text: 'cache restarted' } }] }, { hang: true }, { content: 'Done: the cache was restarted.' });
    const first = await spawnServe(repo.dir, ['--no-watch']);
    daemons.push(first);
    const started = await api<{ id: string }>(first, 'POST', '/api/v1/workflow-runs', { workflowId: 'fix' });
    await fake.waitForRequests(2);
    const calls = () => fs.readFileSync(path.join(stateDir, 'calls'), 'utf8').trim().split('\n');
    expect(calls()).toEqual(['cache restarted']);
    first.proc.kill('SIGKILL');
    await first.exited;
    daemons.splice(daemons.indexOf(first), 1);

    const second = await spawnServe(repo.dir, ['--no-watch']);
    daemons.push(second);
    const run = await until(
      'the run ended',
      async () => {
        const r = await api<RunJson>(second, 'GET', `/api/v1/workflow-runs/${started.id}`);
        return ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT'].includes(r.status) ? r : undefined;
      },
      30_000,
    );
    expect(run.status).toBe('COMPLETED');
    const step = run.steps.find((s) => s.state === 'work');
    expect(step).toMatchObject({ status: 'SUCCEEDED', attempt: 1, deliveries: 2 });
    expect(step?.output).toMatchObject({ response: 'Done: the cache was restarted.', step_count: 2, tools_used: 1 });
    // The tool ran once in all; the model was asked turn 1 once and turn 2 twice (the killed request, then again).
    expect(calls()).toEqual(['cache restarted']);
    expect(fake.requests).toHaveLength(3);
    const resumed = fake.requests[2]!.body.messages;
    expect(resumed.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool']);
    expect(JSON.stringify(resumed)).toContain('recorded cache restarted');
  });
});
