import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentError } from '../../src/agents/errors.js';
import { runAgentLoop, type AgentLoopInput } from '../../src/agents/loop.js';
import type { ChatMessage, JournalEntry } from '../../src/agents/types.js';
import { FakeOpenAI } from '../helpers/fake-openai.js';
import { agentSpec, deferred, fakeModel, MemoryJournal, TestToolBox } from './agent-harness.js';

let fake: FakeOpenAI;
beforeEach(async () => {
  fake = new FakeOpenAI();
  await fake.start();
});
afterEach(async () => {
  await fake.stop();
});

const prompt: ChatMessage[] = [
  { role: 'system', content: 'You are an on-call assistant.' },
  { role: 'user', content: 'Check the disk' },
];

function loopInput(overrides: Partial<AgentLoopInput> = {}): AgentLoopInput {
  return {
    spec: agentSpec(),
    messages: prompt,
    task: 'Check the disk',
    model: fakeModel(fake),
    tools: new TestToolBox({}),
    journal: new MemoryJournal(),
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

const severitySchema = {
  type: 'object',
  properties: { summary: { type: 'string' }, severity: { enum: ['low', 'high'] } },
  required: ['summary', 'severity'],
};

describe('agent loop', () => {
  it('a reply without tool calls ends the loop: one turn journaled, the text is the output', async () => {
    fake.script({ content: 'The disk is fine.', usage: { input: 30, output: 6 } });
    const journal = new MemoryJournal();
    const res = await runAgentLoop(loopInput({ journal }));
    expect(res.output).toEqual({
      response: 'The disk is fine.',
      result: 'The disk is fine.',
      agent_name: 'helper',
      model: 'local/qwen3',
      step_count: 1,
      tools_used: 0,
      usage: { input_tokens: 30, output_tokens: 6, total_tokens: 36 },
    });
    expect(journal.entries).toEqual([
      {
        kind: 'turn',
        turn: 1,
        model: 'qwen3',
        provider: 'local',
        message: { content: 'The disk is fine.', toolCalls: [] },
        usage: { inputTokens: 30, outputTokens: 6 },
        latencyMs: expect.any(Number) as number,
      },
    ]);
    expect(fake.requests[0]?.body.messages).toEqual([
      { role: 'system', content: 'You are an on-call assistant.' },
      { role: 'user', content: 'Check the disk' },
    ]);
  });

  it('runs parallel tool calls concurrently, journals them in the model order, and sends the results back', async () => {
    const secondStarted = deferred();
    const tools = new TestToolBox({
      // The first call only finishes once the second has started: the calls run at the same time.
      'host/df': { run: async () => (await secondStarted.promise, { ok: true, content: '/ 91% used' }) },
      'host/uptime': {
        run: () => {
          secondStarted.resolve();
          return { ok: true, content: 'up 3 days' };
        },
      },
    });
    fake.script(
      {
        toolCalls: [
          { id: 'a', name: 'host__df', arguments: { path: '/' } },
          { id: 'b', name: 'host__uptime', arguments: '{}' },
        ],
      },
      { content: '```json\n{"summary": "Disk 91% full", "severity": "high"}\n```' },
    );
    const journal = new MemoryJournal();
    const res = await runAgentLoop(
      loopInput({ spec: agentSpec({ tools: ['host/*'], outputSchema: severitySchema, outputFormat: 'json' }), tools, journal }),
    );
    expect(res.output).toMatchObject({ summary: 'Disk 91% full', severity: 'high', result: { summary: 'Disk 91% full', severity: 'high' }, tools_used: 2, step_count: 2 });
    expect(journal.entries.map((e) => (e.kind === 'turn' ? `turn ${e.turn}` : `tool ${e.tool} ${e.callId} ${e.result}`))).toEqual([
      'turn 1',
      'tool host/df a / 91% used',
      'tool host/uptime b up 3 days',
      'turn 2',
    ]);
    expect(journal.entries[1]).toMatchObject({ kind: 'tool', turn: 1, arguments: { path: '/' }, ok: true });
    const second = fake.requests[1]?.body;
    expect(second?.tools?.map((t) => t.function.name)).toEqual(['host__df', 'host__uptime']);
    expect(second?.messages.slice(2)).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'a', type: 'function', function: { name: 'host__df', arguments: '{"path":"/"}' } },
          { id: 'b', type: 'function', function: { name: 'host__uptime', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'a', content: '/ 91% used' },
      { role: 'tool', tool_call_id: 'b', content: 'up 3 days' },
    ]);
    expect(second?.response_format?.json_schema?.schema).toEqual(severitySchema);
  });

  it('malformed tool arguments and unknown tools go back to the model as error results, with stable codes, and are journaled', async () => {
    const tools = new TestToolBox({ 'host/df': { run: () => ({ ok: true, content: 'ok' }) } });
    fake.script(
      {
        toolCalls: [
          { id: 'x', name: 'host__df', arguments: '{"path": "/"' },
          { id: 'y', name: 'host__rm_rf', arguments: {} },
          { id: 'z', name: 'host__df', arguments: '[1]' },
        ],
      },
      { content: 'Sorry, done.' },
    );
    const journal = new MemoryJournal();
    const res = await runAgentLoop(loopInput({ spec: agentSpec({ tools: ['host/df'] }), tools, journal }));
    expect(tools.calls).toEqual([]);
    expect(res.toolsUsed).toBe(0);
    const results = journal.entries.filter((e) => e.kind === 'tool');
    expect(results.map((e) => [e.tool, e.ok, e.arguments])).toEqual([
      ['host/df', false, '{"path": "/"'],
      ['host__rm_rf', false, {}],
      ['host/df', false, '[1]'],
    ]);
    expect(results[0]?.result).toMatch(/^STN_E_AGENT_TOOL_ARGS: the arguments of host__df must be a JSON object: not valid JSON/);
    expect(results[1]?.result).toBe('STN_E_AGENT_UNKNOWN_TOOL: there is no tool named "host__rm_rf"; the tools are: host__df');
    expect(results[2]?.result).toBe('STN_E_AGENT_TOOL_ARGS: the arguments of host__df must be a JSON object: got an array');
    const sent = fake.requests[1]?.body.messages.filter((m) => m.role === 'tool').map((m) => m.content);
    expect(sent).toEqual(results.map((e) => e.result));
  });

  it('a tool error from the tool itself goes back to the model and counts as a call', async () => {
    const tools = new TestToolBox({ 'host/df': { run: () => ({ ok: false, content: 'permission denied' }) } });
    fake.script({ toolCalls: [{ name: 'host__df', arguments: {} }] }, { content: 'Could not read the disk.' });
    const journal = new MemoryJournal();
    const res = await runAgentLoop(loopInput({ spec: agentSpec({ tools: ['host/df'] }), tools, journal }));
    expect(res.toolsUsed).toBe(1);
    expect(journal.entries[1]).toMatchObject({ kind: 'tool', ok: false, result: 'permission denied' });
  });

  it('a reply that breaks the output schema gets one repair turn naming the schema error', async () => {
    fake.script({ content: '{"summary": "Disk full"}' }, { content: '{"summary": "Disk full", "severity": "high"}' });
    const res = await runAgentLoop(loopInput({ spec: agentSpec({ outputSchema: severitySchema, outputFormat: 'json' }) }));
    expect(res.result).toEqual({ summary: 'Disk full', severity: 'high' });
    expect(res.stepCount).toBe(2);
    const repair = fake.requests[1]?.body.messages.at(-1);
    expect(repair?.role).toBe('user');
    expect(repair?.content).toContain("/: must have required property 'severity' (severity)");
  });

  it('a second mismatch fails the step with STN_E_AGENT_OUTPUT carrying the schema error', async () => {
    fake.script({ content: 'no idea' }, { content: '{"summary": "x", "severity": "medium"}' });
    const err = await failure(runAgentLoop(loopInput({ spec: agentSpec({ outputSchema: severitySchema, outputFormat: 'json' }) })));
    expect(err.code).toBe('STN_E_AGENT_OUTPUT');
    expect(err.retryable).toBe(false);
    expect(err.message).toBe('agent "helper": the reply does not match the output schema after a repair turn: /severity: must be equal to one of the allowed values');
    expect(fake.requests[0 + 1]?.body.messages.at(-1)?.content).toContain('the reply is not JSON');
    expect(fake.requests).toHaveLength(2);
  });

  it('more model turns than max_steps fail with STN_E_AGENT_MAX_STEPS', async () => {
    const tools = new TestToolBox({ 'host/df': { run: () => ({ ok: true, content: 'ok' }) } });
    fake.respond(() => ({ toolCalls: [{ name: 'host__df', arguments: {} }] }));
    const err = await failure(runAgentLoop(loopInput({ spec: agentSpec({ tools: ['host/df'], maxSteps: 3 }), tools })));
    expect(err.code).toBe('STN_E_AGENT_MAX_STEPS');
    expect(err.message).toBe('agent "helper": 3 model turns (max_steps) without a final reply');
    expect(fake.requests).toHaveLength(3);
    expect(tools.calls).toHaveLength(3);
  });

  it("more tokens than the provider's maxTokensPerStep fail with STN_E_AGENT_TOKENS", async () => {
    const tools = new TestToolBox({ 'host/df': { run: () => ({ ok: true, content: 'ok' }) } });
    fake.respond(() => ({ toolCalls: [{ name: 'host__df', arguments: {} }], usage: { input: 100, output: 20 } }));
    const journal = new MemoryJournal();
    const err = await failure(runAgentLoop(loopInput({ spec: agentSpec({ tools: ['host/df'] }), tools, journal, model: fakeModel(fake, 300) })));
    expect(err.code).toBe('STN_E_AGENT_TOKENS');
    expect(err.message).toBe(`agent "helper": 360 tokens used in 3 turn(s), over the step's cap of 300 (maxTokensPerStep)`);
    // The turn that went over is in the transcript; its tool calls were not made.
    expect(journal.entries.filter((e) => e.kind === 'turn')).toHaveLength(3);
    expect(tools.calls).toHaveLength(2);
  });

  it('a provider failure fails the loop naming agent and turn, keeping retryable and Retry-After', async () => {
    const tools = new TestToolBox({ 'host/df': { run: () => ({ ok: true, content: 'ok' }) } });
    fake.script({ toolCalls: [{ name: 'host__df', arguments: {} }] }, { status: 503, message: 'overloaded', headers: { 'retry-after': '3' } });
    const err = await failure(runAgentLoop(loopInput({ spec: agentSpec({ tools: ['host/df'] }), tools })));
    expect(err).toMatchObject({ code: 'STN_E_AGENT_PROVIDER', retryable: true, retryAfterMs: 3000 });
    expect(err.message).toBe('agent "helper", turn 2: model provider "local" (model qwen3): HTTP 503: overloaded');
  });

  it('an abort stops the loop at once and aborts the in-flight request', async () => {
    fake.script({ hang: true });
    const ac = new AbortController();
    const pending = runAgentLoop(loopInput({ signal: ac.signal }));
    await fake.waitForRequests(1);
    ac.abort(new Error('cancelled by alice'));
    const err = await failure(pending);
    expect(err.code).toBe('STN_E_ABORTED');
    await fake.waitForClosed(0);
  });

  it('an abort during a tool call stops at once even when the tool ignores its signal; nothing more is journaled', async () => {
    const started = deferred();
    const never = deferred<{ ok: boolean; content: string }>();
    const tools = new TestToolBox({
      'host/slow': {
        run: () => {
          started.resolve();
          return never.promise;
        },
      },
    });
    fake.script({ toolCalls: [{ name: 'host__slow', arguments: {} }] });
    const ac = new AbortController();
    const journal = new MemoryJournal();
    const pending = runAgentLoop(loopInput({ spec: agentSpec({ tools: ['host/slow'] }), tools, journal, signal: ac.signal }));
    await started.promise;
    ac.abort(new Error('step timed out'));
    expect((await failure(pending)).code).toBe('STN_E_ABORTED');
    expect(journal.entries.map((e) => e.kind)).toEqual(['turn']);
  });

  it('a tool infrastructure failure rejects the loop with it', async () => {
    const tools = new TestToolBox({
      'host/df': {
        run: () => {
          throw new Error('MCP server host crashed twice');
        },
      },
    });
    fake.script({ toolCalls: [{ name: 'host__df', arguments: {} }] });
    await expect(runAgentLoop(loopInput({ spec: agentSpec({ tools: ['host/df'] }), tools }))).rejects.toThrow('MCP server host crashed twice');
  });
});

describe('agent loop tool failures', () => {
  it('a later parallel call failing while an earlier one runs fails the loop once the earlier is done, and aborts the rest', async () => {
    const release = deferred();
    let slowSignal: AbortSignal | undefined;
    const tools = new TestToolBox({
      'host/slow': {
        run: async (_args, signal) => {
          slowSignal = signal;
          await release.promise;
          return { ok: true, content: 'slow done' };
        },
      },
      'host/broken': {
        run: () => {
          // The slow call goes on past this turn of the event loop: the rejection waits unobserved meanwhile.
          setImmediate(() => release.resolve());
          return Promise.reject(new Error('MCP server host crashed twice'));
        },
      },
      'host/third': { run: (_args, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))) },
    });
    fake.script({
      toolCalls: [
        { id: 's', name: 'host__slow', arguments: {} },
        { id: 'b', name: 'host__broken', arguments: {} },
        { id: 't', name: 'host__third', arguments: {} },
      ],
    });
    const journal = new MemoryJournal();
    await expect(runAgentLoop(loopInput({ spec: agentSpec({ tools: ['host/*'] }), tools, journal }))).rejects.toThrow('MCP server host crashed twice');
    // The call before the failure completed and is committed; the failure and what follows are not.
    expect(journal.entries.map((e) => (e.kind === 'tool' ? e.callId : e.kind))).toEqual(['turn', 's']);
    expect(slowSignal?.aborted).toBe(true);
  });
});

describe('agent loop resume from the journal', () => {
  it('after a crash between a committed tool call and the next turn: no turn is asked again and the tool is not called again', async () => {
    let dfCalls = 0;
    const tools = new TestToolBox({ 'host/df': { run: () => ({ ok: true, content: `/ 91% used (call ${++dfCalls})` }) } });
    fake.script({ toolCalls: [{ id: 'c1', name: 'host__df', arguments: { path: '/' } }] });
    const spec = agentSpec({ tools: ['host/df'], outputSchema: severitySchema, outputFormat: 'json' });

    // First delivery: "crash" right after the tool result is committed.
    const ac = new AbortController();
    const journal = new MemoryJournal();
    journal.onAppend = (e) => {
      if (e.kind === 'tool') ac.abort(new Error('worker killed'));
    };
    expect((await failure(runAgentLoop(loopInput({ spec, tools, journal, signal: ac.signal })))).code).toBe('STN_E_ABORTED');
    expect(fake.requests).toHaveLength(1);
    expect(journal.entries.map((e) => e.kind)).toEqual(['turn', 'tool']);

    // Second delivery of the same attempt: a new loop over what was committed.
    fake.script({ content: '{"summary": "Disk 91% full", "severity": "high"}' });
    const resumed = new MemoryJournal(journal.entries);
    const res = await runAgentLoop(loopInput({ spec, tools, journal: resumed }));
    expect(dfCalls).toBe(1);
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1]?.body.messages.slice(2)).toEqual([
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'host__df', arguments: '{"path":"/"}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: '/ 91% used (call 1)' },
    ]);
    expect(res.output).toMatchObject({ severity: 'high', step_count: 2, tools_used: 1, usage: { input_tokens: 20, output_tokens: 10, total_tokens: 30 } });
    expect(resumed.entries.map((e) => (e.kind === 'turn' ? `turn ${e.turn}` : 'tool'))).toEqual(['turn 1', 'tool', 'turn 2']);
  });

  it('calls only the tool calls of the last turn that were not committed', async () => {
    const calls: string[] = [];
    const tools = new TestToolBox({
      'host/a': { run: () => (calls.push('a'), { ok: true, content: 'A' }) },
      'host/b': { run: () => (calls.push('b'), { ok: true, content: 'B' }) },
    });
    const committed: JournalEntry[] = [
      {
        kind: 'turn',
        turn: 1,
        model: 'qwen3',
        provider: 'local',
        message: {
          content: null,
          toolCalls: [
            { id: 'ca', name: 'host__a', arguments: '{}' },
            { id: 'cb', name: 'host__b', arguments: '{}' },
          ],
        },
        usage: { inputTokens: 10, outputTokens: 5 },
        latencyMs: 3,
      },
      { kind: 'tool', turn: 1, callId: 'ca', tool: 'host/a', arguments: {}, ok: true, result: 'A', latencyMs: 1 },
    ];
    fake.script({ content: 'done' });
    const journal = new MemoryJournal(committed);
    const res = await runAgentLoop(loopInput({ spec: agentSpec({ tools: ['host/*'] }), tools, journal }));
    expect(calls).toEqual(['b']);
    expect(res.toolsUsed).toBe(2);
    expect(journal.entries.slice(2).map((e) => e.kind)).toEqual(['tool', 'turn']);
    expect(fake.requests[0]?.body.messages.slice(-2)).toEqual([
      { role: 'tool', tool_call_id: 'ca', content: 'A' },
      { role: 'tool', tool_call_id: 'cb', content: 'B' },
    ]);
  });

  it('a committed final reply finishes the step without asking the model again', async () => {
    const committed: JournalEntry[] = [
      { kind: 'turn', turn: 1, model: 'qwen3', provider: 'local', message: { content: 'All good.', toolCalls: [] }, usage: { inputTokens: 7, outputTokens: 2 }, latencyMs: 5 },
    ];
    const res = await runAgentLoop(loopInput({ journal: new MemoryJournal(committed) }));
    expect(fake.requests).toHaveLength(0);
    expect(res.output).toMatchObject({ response: 'All good.', step_count: 1, usage: { total_tokens: 9 } });
  });

  it('a committed repair turn is replayed with the same repair message, and a committed bad repair fails without asking again', async () => {
    const bad: JournalEntry = { kind: 'turn', turn: 1, model: 'qwen3', provider: 'local', message: { content: '{"summary": "x"}', toolCalls: [] }, usage: { inputTokens: 1, outputTokens: 1 }, latencyMs: 1 };
    const spec = agentSpec({ outputSchema: severitySchema, outputFormat: 'json' });
    // Crashed after the refused reply was committed: the repair turn is asked now.
    fake.script({ content: '{"summary": "x", "severity": "low"}' });
    const res = await runAgentLoop(loopInput({ spec, journal: new MemoryJournal([bad]) }));
    expect(res.result).toEqual({ summary: 'x', severity: 'low' });
    const repair = fake.requests[0]?.body.messages.at(-1);
    expect(repair?.content).toContain("must have required property 'severity'");
    // Both replies committed and both bad: fails with no request.
    const err = await failure(runAgentLoop(loopInput({ spec, journal: new MemoryJournal([bad, { ...bad, turn: 2 }]) })));
    expect(err.code).toBe('STN_E_AGENT_OUTPUT');
    expect(fake.requests).toHaveLength(1);
  });
});
