import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentError } from '../../src/agents/errors.js';
import { ProviderRegistry } from '../../src/agents/providers/resolve.js';
import { resolveConfig } from '../../src/config/config.js';
import { FakeOpenAI } from '../helpers/fake-openai.js';

/** station.yaml's agents: section, and how a prompt's `model` picks a provider and model. */

let dir: string | undefined;
afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function configWith(yaml: string) {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-agents-config-'));
  fs.writeFileSync(path.join(dir, 'station.yaml'), yaml);
  return resolveConfig({ repo: dir }, {});
}

function thrown(fn: () => unknown): AgentError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AgentError);
    return err as AgentError;
  }
  throw new Error('expected an error');
}

describe('agents configuration', () => {
  it('without an agents section the offline fixture provider is the default', () => {
    const agents = configWith('logLevel: info\n').agents;
    expect(agents.defaultProvider).toBe('fixture');
    expect(Object.keys(agents.providers)).toEqual(['fixture']);
    const r = new ProviderRegistry(agents, () => undefined).resolve('openai/gpt-4o-mini');
    // An unknown provider prefix is part of the model name: the example repository's prompts run offline unchanged.
    expect(r.provider.type).toBe('fixture');
    expect(r.model).toBe('openai/gpt-4o-mini');
  });

  it('reads providers with defaults; the first declared is the default unless defaultProvider says otherwise', () => {
    const yaml = `agents:
  providers:
    local: { type: openai, baseUrl: "http://127.0.0.1:11434/v1", defaultModel: qwen3, maxTokensPerStep: 50000 }
    cloud: { type: openai, apiKeySecret: OPENAI_API_KEY, timeoutSeconds: 30 }
`;
    const agents = configWith(yaml).agents;
    expect(agents.defaultProvider).toBe('local');
    expect(agents.providers.local).toEqual({
      name: 'local',
      type: 'openai',
      baseUrl: 'http://127.0.0.1:11434/v1',
      apiKeySecret: undefined,
      defaultModel: 'qwen3',
      timeoutSeconds: 120,
      maxTokensPerStep: 50000,
    });
    expect(agents.providers.cloud).toMatchObject({ baseUrl: 'https://api.openai.com/v1', apiKeySecret: 'OPENAI_API_KEY', timeoutSeconds: 30 });
    expect(agents.providers.fixture?.type).toBe('fixture');
    expect(configWith(`${yaml}  defaultProvider: cloud\n`).agents.defaultProvider).toBe('cloud');
  });

  it('refuses an inline API key, an unknown provider type, a bad URL and a default provider that does not exist', () => {
    expect(() => configWith('agents:\n  providers:\n    x: { type: openai, apiKey: sk-live-123 }\n')).toThrow(/apiKey/);
    expect(() => configWith('agents:\n  providers:\n    x: { type: anthropic }\n')).toThrow(/type/);
    expect(() => configWith('agents:\n  providers:\n    x: { type: openai, apiKeySecret: "sk-live-123" }\n')).toThrow(/apiKeySecret/);
    expect(() => configWith('agents:\n  providers:\n    x: { type: openai, baseUrl: "ftp://models" }\n')).toThrow('agents.providers.x.baseUrl must be an http(s) URL');
    expect(() => configWith('agents:\n  defaultProvider: nope\n')).toThrow('agents.defaultProvider "nope" is not a provider (known: fixture)');
    expect(() => configWith('agents:\n  providers:\n    "a/b": { type: fixture }\n')).toThrow();
  });
});

describe('model resolution', () => {
  const yaml = `agents:
  defaultProvider: local
  providers:
    local: { type: openai, baseUrl: "http://127.0.0.1:9/v1", defaultModel: qwen3 }
    bare: { type: openai, baseUrl: "http://127.0.0.1:9/v1" }
    offline: { type: fixture, defaultModel: scripted }
`;

  it('<provider>/<model>, a bare model for the default provider, none for the default model', () => {
    const reg = new ProviderRegistry(configWith(yaml).agents, () => undefined);
    expect(reg.resolve('offline/any-model')).toMatchObject({ model: 'any-model', label: 'offline/any-model' });
    expect(reg.resolve('offline/any-model').provider.name).toBe('offline');
    expect(reg.resolve('llama3.1')).toMatchObject({ model: 'llama3.1', label: 'local/llama3.1' });
    expect(reg.resolve('meta-llama/Llama-3.1-8B')).toMatchObject({ model: 'meta-llama/Llama-3.1-8B', label: 'local/meta-llama/Llama-3.1-8B' });
    expect(reg.resolve(undefined)).toMatchObject({ model: 'qwen3', label: 'local/qwen3' });
    expect(reg.resolve('offline/')).toMatchObject({ model: 'scripted' });
    expect(reg.resolve('bare/m1').provider).toBe(reg.resolve('bare/m2').provider);
    const err = thrown(() => reg.resolve('bare/'));
    expect(err.code).toBe('STN_E_AGENT_MODEL');
    expect(err.message).toBe('no model: the prompt names none and model provider "bare" has no defaultModel (station.yaml agents.providers.bare)');
  });

  it('reads the API key from the named secret at each request; a missing secret fails the turn', async () => {
    const fake = new FakeOpenAI();
    await fake.start();
    try {
      const secrets: Record<string, string> = { LLM_KEY: 'sk-first' };
      const agents = configWith(`agents:\n  providers:\n    local: { type: openai, baseUrl: "${fake.url}", apiKeySecret: LLM_KEY, defaultModel: m }\n`).agents;
      const reg = new ProviderRegistry(agents, (name) => secrets[name]);
      const { provider, model } = reg.resolve(undefined);
      const ask = () => provider.chat({ model, messages: [{ role: 'user', content: 'hi' }], tools: [], agent: { name: 'a', task: 'hi' }, signal: new AbortController().signal });
      fake.respond(() => ({ content: 'ok' }));
      await ask();
      secrets.LLM_KEY = 'sk-rotated';
      await ask();
      expect(fake.requests.map((r) => r.headers.authorization)).toEqual(['Bearer sk-first', 'Bearer sk-rotated']);
      delete secrets.LLM_KEY;
      const err = await ask().then(
        () => undefined,
        (e: unknown) => e as AgentError,
      );
      expect(err).toMatchObject({ code: 'STN_E_SECRET_MISSING', retryable: false });
      expect(err?.message).toBe('model provider "local" needs the secret LLM_KEY (its API key), which this engine does not have');
      expect(fake.requests).toHaveLength(2);
    } finally {
      await fake.stop();
    }
  });
});

describe('fake server hygiene', () => {
  let fake: FakeOpenAI;
  beforeEach(async () => {
    fake = new FakeOpenAI();
    await fake.start();
  });
  afterEach(async () => {
    await fake.stop();
  });

  it('answers unscripted requests with a 500 the client maps to a retryable error', async () => {
    const reg = new ProviderRegistry(configWith(`agents:\n  providers:\n    local: { type: openai, baseUrl: "${fake.url}", defaultModel: m }\n`).agents, () => undefined);
    const { provider } = reg.resolve(undefined);
    const err = await provider
      .chat({ model: 'm', messages: [{ role: 'user', content: 'hi' }], tools: [], agent: { name: 'a', task: 'hi' }, signal: new AbortController().signal })
      .then(
        () => undefined,
        (e: unknown) => e as AgentError,
      );
    expect(err).toMatchObject({ code: 'STN_E_AGENT_PROVIDER', retryable: true });
    expect(err?.message).toContain('fake OpenAI: no scripted reply left');
  });
});
