import OpenAI from 'openai';
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions/completions';
import type { JsonObject } from '../../definitions/types.js';
import { abortedError, AgentError } from '../errors.js';
import type { ChatMessage, ToolCall } from '../types.js';
import type { ChatProvider, ChatReply, ChatRequest } from './types.js';

export interface OpenAIProviderOptions {
  /** The provider's name in station.yaml (named in error messages). */
  name: string;
  /** The chat-completions base URL, e.g. `http://127.0.0.1:11434/v1`. */
  baseUrl: string;
  /** The API key, read at each request (a rotated secret takes effect at once); undefined: no key. */
  apiKey: () => string | undefined;
  timeoutSeconds: number;
}

// Sent when the provider has no key: the client refuses an empty one, and servers without auth ignore it.
const NO_KEY = 'none';

/**
 * An OpenAI-compatible chat-completions client (OpenAI, Ollama, vLLM, LiteLLM, llama-server). It never retries by
 * itself: a failed turn fails the step's attempt and the state's `retry` decides, after the server's Retry-After.
 */
export class OpenAIProvider implements ChatProvider {
  readonly type = 'openai';
  readonly name: string;
  private client: { key: string; client: OpenAI } | undefined;

  constructor(private readonly options: OpenAIProviderOptions) {
    this.name = options.name;
  }

  async chat(req: ChatRequest): Promise<ChatReply> {
    if (req.signal.aborted) throw abortedError(req.signal);
    const client = this.clientFor(this.options.apiKey() ?? NO_KEY);
    const started = performance.now();
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    try {
      completion = await client.chat.completions.create(this.body(req), { signal: req.signal });
    } catch (err) {
      if (req.signal.aborted) throw abortedError(req.signal);
      throw this.mapError(err, req.model);
    }
    const latencyMs = performance.now() - started;
    const message = completion.choices[0]?.message;
    if (message === undefined) {
      throw new AgentError('STN_E_AGENT_PROVIDER', `${this.label(req.model)}: the reply has no choices`, { retryable: true });
    }
    const toolCalls: ToolCall[] = [];
    for (const call of message.tool_calls ?? []) {
      if (call.type === 'function') toolCalls.push({ id: call.id, name: call.function.name, arguments: call.function.arguments });
    }
    return {
      content: message.content ?? null,
      toolCalls,
      usage: { inputTokens: completion.usage?.prompt_tokens ?? 0, outputTokens: completion.usage?.completion_tokens ?? 0 },
      latencyMs,
    };
  }

  private clientFor(key: string): OpenAI {
    if (this.client?.key !== key) {
      this.client = {
        key,
        client: new OpenAI({
          baseURL: this.options.baseUrl,
          apiKey: key,
          // Never taken from the daemon's OPENAI_* variables: station.yaml is the one source, and OPENAI_LOG must not
          // make the client print requests (tool results, prompts) outside Station's redacted transcript.
          organization: null,
          project: null,
          logLevel: 'off',
          maxRetries: 0,
          timeout: this.options.timeoutSeconds * 1000,
        }),
      };
    }
    return this.client.client;
  }

  private body(req: ChatRequest): ChatCompletionCreateParamsNonStreaming {
    const body: ChatCompletionCreateParamsNonStreaming = {
      model: req.model,
      messages: req.messages.map(toWire),
      ...modelSettings(req.settings ?? {}),
    };
    if (req.tools.length > 0) {
      body.tools = req.tools.map(
        (t): ChatCompletionTool => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } }),
      );
    }
    if (req.outputSchema !== undefined) {
      body.response_format = { type: 'json_schema', json_schema: { name: schemaName(req.agent.name), schema: req.outputSchema } };
    }
    return body;
  }

  private label(model: string): string {
    return `model provider "${this.name}" (model ${model})`;
  }

  private mapError(err: unknown, model: string): AgentError {
    if (err instanceof OpenAI.APIConnectionTimeoutError) {
      return new AgentError('STN_E_AGENT_PROVIDER', `${this.label(model)}: no answer within ${this.options.timeoutSeconds} s`, {
        retryable: true,
        cause: err,
      });
    }
    if (err instanceof OpenAI.APIConnectionError) {
      const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
      return new AgentError('STN_E_AGENT_PROVIDER', `${this.label(model)}: cannot reach ${this.options.baseUrl}${cause}`, {
        retryable: true,
        cause: err,
      });
    }
    if (err instanceof OpenAI.APIError && typeof err.status === 'number') {
      const status = err.status;
      const detail = errorDetail(err);
      const message = `${this.label(model)}: HTTP ${status}${detail ? `: ${detail}` : ''}`;
      if (status === 408 || status === 429 || status >= 500) {
        return new AgentError('STN_E_AGENT_PROVIDER', message, { retryable: true, retryAfterMs: retryAfterMs(err.headers), cause: err });
      }
      return new AgentError('STN_E_AGENT_REQUEST', message, { cause: err });
    }
    const text = err instanceof Error ? err.message : String(err);
    return new AgentError('STN_E_AGENT_PROVIDER', `${this.label(model)}: ${text}`, { retryable: true, cause: err });
  }
}

function toWire(m: ChatMessage): ChatCompletionMessageParam {
  switch (m.role) {
    case 'system':
    case 'user':
      return { role: m.role, content: m.content };
    case 'assistant':
      return {
        role: 'assistant',
        content: m.content,
        ...(m.toolCalls !== undefined && m.toolCalls.length > 0
          ? { tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) }
          : {}),
      };
    case 'tool':
      return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
    default: {
      const never: never = m;
      throw new Error(`unknown message role ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The prompt's `config` in chat-completions terms. Dotprompt's names (maxOutputTokens, topP, stopSequences) and the
 * wire names both work; other keys are not sent (a server may refuse a parameter it does not know).
 */
export function modelSettings(config: JsonObject): Partial<ChatCompletionCreateParamsNonStreaming> {
  const out: Partial<ChatCompletionCreateParamsNonStreaming> = {};
  const num = (...keys: string[]): number | undefined => {
    for (const k of keys) {
      const v = config[k];
      if (typeof v === 'number' && Number.isFinite(v)) return v;
    }
    return undefined;
  };
  const set = <K extends keyof ChatCompletionCreateParamsNonStreaming>(key: K, value: ChatCompletionCreateParamsNonStreaming[K] | undefined) => {
    if (value !== undefined) out[key] = value;
  };
  set('temperature', num('temperature'));
  set('max_tokens', num('maxOutputTokens', 'maxTokens', 'max_tokens'));
  set('top_p', num('topP', 'top_p'));
  set('seed', num('seed'));
  set('frequency_penalty', num('frequencyPenalty', 'frequency_penalty'));
  set('presence_penalty', num('presencePenalty', 'presence_penalty'));
  const stop = config.stopSequences ?? config.stop;
  if (Array.isArray(stop) && stop.every((s) => typeof s === 'string')) set('stop', stop as string[]);
  else if (typeof stop === 'string') set('stop', stop);
  return out;
}

/** response_format's schema name: `^[a-zA-Z0-9_-]{1,64}$`. */
function schemaName(agent: string): string {
  const name = agent.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64);
  return name === '' ? 'output' : name;
}

function errorDetail(err: InstanceType<typeof OpenAI.APIError>): string {
  const body = err.error as { message?: unknown } | undefined;
  if (body !== undefined && body !== null && typeof body.message === 'string') return body.message;
  // The client's own message starts with the status ("429 Rate limit"); the status is named already.
  return err.message.replace(/^\d{3}\s*/, '').replace(/^status code \(no body\)$/, '');
}

/** The server's Retry-After in ms (`retry-after-ms`, or `retry-after` in seconds or as an HTTP date); undefined: none. */
export function retryAfterMs(headers: Headers | undefined, now: number = Date.now()): number | undefined {
  const ms = headers?.get('retry-after-ms');
  if (ms) {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
  }
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
