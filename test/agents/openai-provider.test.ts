import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentError } from '../../src/agents/errors.js';
import { OpenAIProvider, retryAfterMs } from '../../src/agents/providers/openai.js';
import type { ChatRequest } from '../../src/agents/providers/types.js';
import { FakeOpenAI } from '../helpers/fake-openai.js';

let fake: FakeOpenAI;
beforeEach(async () => {
  fake = new FakeOpenAI();
  await fake.start();
});
afterEach(async () => {
  await fake.stop();
});

function provider(overrides: { baseUrl?: string; key?: string | undefined; timeoutSeconds?: number } = {}): OpenAIProvider {
  const key = 'key' in overrides ? overrides.key : 'sk-test-123';
  return new OpenAIProvider({ name: 'local', baseUrl: overrides.baseUrl ?? fake.url, apiKey: () => key, timeoutSeconds: overrides.timeoutSeconds ?? 30 });
}

function request(overrides: Partial<ChatRequest> = {}): ChatRequest {
  return {
    model: 'qwen3',
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Say hi' },
    ],
    tools: [],
    agent: { name: 'greeter', task: 'Say hi' },
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

describe('OpenAI-compatible provider', () => {
  it('sends the conversation, model, settings and key, and returns the reply with usage and latency', async () => {
    fake.script({ content: 'hi', usage: { input: 12, output: 3 } });
    const reply = await provider().chat(request({ settings: { temperature: 0.2, maxOutputTokens: 64, topP: 0.9, stopSequences: ['END'], unknownKnob: 1 } }));
    expect(reply.content).toBe('hi');
    expect(reply.toolCalls).toEqual([]);
    expect(reply.usage).toEqual({ inputTokens: 12, outputTokens: 3 });
    expect(reply.latencyMs).toBeGreaterThanOrEqual(0);
    const sent = fake.requests[0];
    expect(sent?.headers.authorization).toBe('Bearer sk-test-123');
    expect(sent?.body).toMatchObject({
      model: 'qwen3',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Say hi' },
      ],
      temperature: 0.2,
      max_tokens: 64,
      top_p: 0.9,
      stop: ['END'],
    });
    expect(sent?.body).not.toHaveProperty('unknownKnob');
    expect(sent?.body).not.toHaveProperty('tools');
    expect(sent?.body).not.toHaveProperty('response_format');
  });

  it('sends tools and the tool-call history, and returns parallel tool calls in the order the model gave them', async () => {
    fake.script({
      toolCalls: [
        { id: 'c1', name: 'fs__read', arguments: { path: 'a.txt' } },
        { id: 'c2', name: 'fs__read', arguments: '{"path": "b.txt"}' },
      ],
    });
    const reply = await provider().chat(
      request({
        tools: [{ name: 'fs__read', qualifiedName: 'fs/read', description: 'Read a file', parameters: { type: 'object', properties: { path: { type: 'string' } } } }],
        messages: [
          { role: 'user', content: 'read both' },
          { role: 'assistant', content: null, toolCalls: [{ id: 'c0', name: 'fs__read', arguments: '{"path":"x"}' }] },
          { role: 'tool', toolCallId: 'c0', content: 'x-content' },
        ],
      }),
    );
    expect(reply.toolCalls).toEqual([
      { id: 'c1', name: 'fs__read', arguments: '{"path":"a.txt"}' },
      { id: 'c2', name: 'fs__read', arguments: '{"path": "b.txt"}' },
    ]);
    const body = fake.requests[0]?.body;
    expect(body?.tools).toEqual([
      { type: 'function', function: { name: 'fs__read', description: 'Read a file', parameters: { type: 'object', properties: { path: { type: 'string' } } } } },
    ]);
    expect(body?.messages).toEqual([
      { role: 'user', content: 'read both' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c0', type: 'function', function: { name: 'fs__read', arguments: '{"path":"x"}' } }] },
      { role: 'tool', tool_call_id: 'c0', content: 'x-content' },
    ]);
  });

  it('asks for structured output with response_format json_schema when an output schema is given', async () => {
    fake.script({ content: '{"summary":"ok"}' });
    const schema = { type: 'object', properties: { summary: { type: 'string' } }, required: ['summary'] };
    await provider().chat(request({ outputSchema: schema, agent: { name: 'incident.triage', task: 't' } }));
    expect(fake.requests[0]?.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'incident_triage', schema } });
  });

  it('sends a placeholder key when the provider has no API key secret', async () => {
    fake.script({ content: 'ok' });
    await provider({ key: undefined }).chat(request());
    expect(fake.requests[0]?.headers.authorization).toBe('Bearer none');
  });

  it('429 is retryable and carries Retry-After in ms; the message names provider, model and status', async () => {
    fake.script({ status: 429, message: 'Rate limit reached', headers: { 'retry-after': '7' } });
    const err = await failure(provider().chat(request()));
    expect(err.code).toBe('STN_E_AGENT_PROVIDER');
    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBe(7000);
    expect(err.message).toBe('model provider "local" (model qwen3): HTTP 429: Rate limit reached');
    expect(err.toExecError()).toEqual({ code: 'STN_E_AGENT_PROVIDER', message: err.message, retryable: true, retryAfterMs: 7000 });
    // The client does not retry by itself: the engine's retry policy decides.
    expect(fake.requests).toHaveLength(1);
  });

  it('5xx is retryable without a delay when the server gave none', async () => {
    fake.script({ status: 500, message: 'upstream exploded' });
    const err = await failure(provider().chat(request()));
    expect(err).toMatchObject({ code: 'STN_E_AGENT_PROVIDER', retryable: true, retryAfterMs: undefined });
    expect(err.message).toContain('HTTP 500: upstream exploded');
    expect(fake.requests).toHaveLength(1);
  });

  it('other 4xx are not retryable', async () => {
    fake.script({ status: 400, message: "model 'nope' not found" });
    const err = await failure(provider().chat(request({ model: 'nope' })));
    expect(err).toMatchObject({ code: 'STN_E_AGENT_REQUEST', retryable: false });
    expect(err.message).toBe(`model provider "local" (model nope): HTTP 400: model 'nope' not found`);
    expect(err.toExecError()).toEqual({ code: 'STN_E_AGENT_REQUEST', message: err.message, retryable: false });
  });

  it('an unreachable server is a retryable error naming the URL', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await failure(provider({ baseUrl: `http://127.0.0.1:${port}/v1` }).chat(request()));
    expect(err).toMatchObject({ code: 'STN_E_AGENT_PROVIDER', retryable: true });
    expect(err.message).toContain(`cannot reach http://127.0.0.1:${port}/v1`);
  });

  it('a request over timeoutSeconds fails retryably', async () => {
    fake.script({ hang: true });
    const err = await failure(provider({ timeoutSeconds: 1 }).chat(request()));
    expect(err).toMatchObject({ code: 'STN_E_AGENT_PROVIDER', retryable: true });
    expect(err.message).toContain('no answer within 1 s');
  });

  it('aborting the signal aborts the HTTP request at once', async () => {
    fake.script({ hang: true });
    const ac = new AbortController();
    const pending = provider().chat(request({ signal: ac.signal }));
    await fake.waitForRequests(1);
    ac.abort(new Error('step cancelled'));
    const err = await failure(pending);
    expect(err.code).toBe('STN_E_ABORTED');
    expect(err.message).toContain('step cancelled');
    await fake.waitForClosed(0);
    expect(fake.requests[0]?.closedEarly).toBe(true);
  });

  it('reads Retry-After as seconds, an HTTP date or retry-after-ms', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs(new Headers({ 'retry-after': '2.5' }), now)).toBe(2500);
    expect(retryAfterMs(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }), now)).toBe(30_000);
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '120', 'retry-after': '9' }), now)).toBe(120);
    expect(retryAfterMs(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(retryAfterMs(new Headers(), now)).toBeUndefined();
  });
});
