import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveAgentsConfig } from '../../src/config/agents.js';
import { AgentError } from '../../src/agents/errors.js';
import { runAgentLoop } from '../../src/agents/loop.js';
import { FixtureProvider } from '../../src/agents/providers/fixture.js';
import { ProviderRegistry } from '../../src/agents/providers/resolve.js';
import type { ChatRequest } from '../../src/agents/providers/types.js';
import { agentSpec, MemoryJournal, TestToolBox } from './agent-harness.js';

let agentsDir: string;
beforeEach(() => {
  agentsDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'stn-fixture-')), 'environments', 'prod', 'agents');
  fs.mkdirSync(path.join(agentsDir, 'fixtures'), { recursive: true });
});
afterEach(() => {
  fs.rmSync(path.dirname(path.dirname(path.dirname(agentsDir))), { recursive: true, force: true });
});

function writeFixture(agent: string, yaml: string): string {
  const file = path.join(agentsDir, 'fixtures', `${agent}.yaml`);
  fs.writeFileSync(file, yaml);
  return file;
}

function request(task: string, overrides: Partial<ChatRequest> = {}): ChatRequest {
  return {
    model: 'fixture',
    messages: [{ role: 'user', content: task }],
    tools: [],
    agent: { name: 'triage', task, dir: agentsDir },
    signal: new AbortController().signal,
    ...overrides,
  };
}

async function failure(p: Promise<unknown>): Promise<AgentError> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AgentError);
  return err as AgentError;
}

const TRIAGE = `
- match: disk
  turns:
    - content: Looking at the disk.
      toolCalls:
        - tool: host/df
          arguments: { path: / }
    - json: { summary: Disk 91% full, severity: high }
- regex: "^(cpu|load)\\\\b"
  turns:
    - content: CPU is busy.
      usage: { input: 40, output: 4 }
- turns:
    - content: Nothing to report.
`;

describe('fixture provider', () => {
  it('runs an agent offline: the case matching the task answers turn by turn, tool calls included', async () => {
    writeFixture('triage', TRIAGE);
    const registry = new ProviderRegistry(resolveAgentsConfig(undefined), () => undefined);
    const model = registry.resolve(undefined);
    expect(model.label).toBe('fixture/fixture');
    const tools = new TestToolBox({ 'host/df': { run: () => ({ ok: true, content: '/ 91% used' }) } });
    const journal = new MemoryJournal();
    const res = await runAgentLoop({
      spec: agentSpec({ name: 'triage', tools: ['host/df'], outputFormat: 'json' }),
      messages: [{ role: 'user', content: 'The disk on web-1 fills up' }],
      task: 'The disk on web-1 fills up',
      agentDir: agentsDir,
      model,
      tools,
      journal,
      signal: new AbortController().signal,
    });
    expect(tools.calls).toEqual([{ tool: 'host/df', args: { path: '/' } }]);
    expect(res.output).toMatchObject({ summary: 'Disk 91% full', severity: 'high', agent_name: 'triage', model: 'fixture/fixture', step_count: 2, tools_used: 1 });
    expect(journal.entries[0]).toMatchObject({
      kind: 'turn',
      provider: 'fixture',
      message: { content: 'Looking at the disk.', toolCalls: [{ id: 'fixture_1_1', name: 'host__df', arguments: '{"path":"/"}' }] },
    });
  });

  it('picks the first matching case: substring, regex, then the catch-all; the same request gets the same reply', async () => {
    writeFixture('triage', TRIAGE);
    const p = new FixtureProvider('fixture');
    expect((await p.chat(request('load is 12 on db-2'))).content).toBe('CPU is busy.');
    expect((await p.chat(request('load is 12 on db-2'))).usage).toEqual({ inputTokens: 40, outputTokens: 4 });
    expect((await p.chat(request('overload'))).content).toBe('Nothing to report.');
    const a = await p.chat(request('a disk alert'));
    const b = await p.chat(request('a disk alert'));
    expect(a.toolCalls).toEqual(b.toolCalls);
    expect(a.usage).toEqual(b.usage);
    // Without a matching tool the name passes as written: the loop reports it to the model as an unknown tool.
    expect(a.toolCalls[0]?.name).toBe('host/df');
  });

  it('fails clearly when no case matches or the case has no reply for the turn', async () => {
    const file = writeFixture('triage', '- match: disk\n  turns:\n    - content: one\n');
    const p = new FixtureProvider('fixture');
    const none = await failure(p.chat(request('cpu')));
    expect(none.code).toBe('STN_E_AGENT_FIXTURE');
    expect(none.message).toBe(`${file}: no case matches the task "cpu"`);
    const past = await failure(p.chat(request('disk', { messages: [{ role: 'user', content: 'disk' }, { role: 'assistant', content: 'one' }, { role: 'user', content: 'again' }] })));
    expect(past.message).toBe(`${file}: case 1 has 1 turn(s); the agent asked for turn 2`);
  });

  it('a missing or invalid fixture file is an error naming the file and the field', async () => {
    const p = new FixtureProvider('fixture');
    const file = path.join(agentsDir, 'fixtures', 'triage.yaml');
    expect((await failure(p.chat(request('x')))).message).toBe(`${file}: no such fixture file`);

    writeFixture('triage', '- turns:\n    - content: a\n      json: {a: 1}\n');
    expect((await failure(p.chat(request('x')))).message).toContain(`${file}: /0/turns/0: must NOT be valid`);

    writeFixture('triage', '- turns:\n    - toolCalls:\n        - arguments: {}\n');
    expect((await failure(p.chat(request('x')))).message).toBe(`${file}: /0/turns/0/toolCalls/0: must have required property 'tool' (tool)`);

    writeFixture('triage', '- matches: x\n  turns: []\n');
    const e = await failure(p.chat(request('x')));
    expect(e.message).toContain('/0: must NOT have additional properties (matches)');
    expect(e.message).toContain('/0/turns: must NOT have fewer than 1 items');

    writeFixture('triage', '- regex: "("\n  turns: [{content: a}]\n');
    expect((await failure(p.chat(request('x')))).message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: /0/regex: Invalid regular expression`));

    writeFixture('triage', '- turns:\n  - content: [\n');
    expect((await failure(p.chat(request('x')))).message).toMatch(/triage\.yaml:\d+:\d+: /);
  });

  it('needs the agent folder to find the file', async () => {
    const err = await failure(new FixtureProvider('fixture').chat(request('x', { agent: { name: 'triage', task: 'x' } })));
    expect(err.message).toBe('fixture provider "fixture": agent "triage" has no folder to find fixtures/triage.yaml in');
  });
});
