import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventJson } from '../../src/views/runs.js';
import { transcriptOf } from '../../src/views/transcript.js';
import { EngineHarness } from '../helpers/engine-harness.js';
import { FakeOpenAI } from '../helpers/fake-openai.js';

/**
 * The transcript of an agent step as `stn runs show --step` builds it, from the events a real run committed: a model
 * (the fake OpenAI-compatible server through the production client) that fails mid-attempt, a retry, a real stdio MCP
 * tool. Each attempt keeps its own turns and tool calls.
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

const AGENT = `---
model: llm/qwen3
tools: [fx/record]
---
{{userInput}}
`;

const WORKFLOW = `
  id: retried
  version: "1"
  name: Retried
  states:
    - name: ask
      type: operation
      action: agent.run
      input: {agent: helper, task: check the queue}
      retry: {maxAttempts: 2, backoff: fixed, backoffSeconds: 0}
      end: true
`;

describe('agent transcript', () => {
  it('groups turns and tool calls by attempt: a failed attempt keeps what it committed, the retry starts anew', async () => {
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
    h.writeFile('environments/default/agents/helper.prompt', AGENT);
    h.writeWorkflow('retried', WORKFLOW);
    const { station } = h.openAnother();
    await station.syncer.sync();
    fake.script(
      { content: 'Recording first.', toolCalls: [{ name: 'fx__record', arguments: { text: 'queue depth 12' } }], usage: { input: 30, output: 6 } },
      { status: 503, message: 'overloaded' },
      { content: 'Queue is fine.', usage: { input: 25, output: 4 } },
    );
    const id = station.runs.start({ workflowId: 'retried' }).run.id;
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    const step = r.step('ask');
    expect(step.attempt).toBe(2);

    const transcript = transcriptOf(station.runStore.eventsOfStep(id, step.id).map(eventJson));
    expect(transcript.map((a) => ({ attempt: a.attempt, agent: a.agent, usage: a.usage }))).toEqual([
      { attempt: 1, agent: 'helper', usage: { inputTokens: 30, outputTokens: 6 } },
      { attempt: 2, agent: 'helper', usage: { inputTokens: 25, outputTokens: 4 } },
    ]);
    const [first, second] = transcript;
    expect(first?.turns).toHaveLength(1);
    expect(first?.turns[0]).toMatchObject({
      turn: 1,
      provider: 'llm',
      model: 'qwen3',
      content: 'Recording first.',
      toolCalls: [{ name: 'fx__record', arguments: '{"text":"queue depth 12"}' }],
      tools: [{ tool: 'fx/record', arguments: { text: 'queue depth 12' }, ok: true, result: 'recorded queue depth 12' }],
    });
    expect(first?.turns[0]?.latencyMs).toBeGreaterThanOrEqual(0);
    expect(second?.turns.map((t) => [t.turn, t.content, t.tools.length])).toEqual([[1, 'Queue is fine.', 0]]);
  });
});
