import type { JsonObject } from '../../definitions/types.js';
import type { ChatMessage, TokenUsage, ToolCall, ToolDef } from '../types.js';

/** One model turn asked of a provider. */
export interface ChatRequest {
  /** The model name as the provider knows it (no `<provider>/` prefix). */
  model: string;
  messages: readonly ChatMessage[];
  /** The tools the model may call; empty: none. */
  tools: readonly ToolDef[];
  /** JSON Schema the reply must match (sent as `response_format: json_schema`); undefined: free text. */
  outputSchema?: JsonObject | undefined;
  /** The prompt's model settings (`config` of the frontmatter: temperature, maxOutputTokens, topP, stopSequences...). */
  settings?: JsonObject | undefined;
  /**
   * The agent being run. The OpenAI-compatible provider names the output schema after it; the fixture provider reads
   * `<dir>/fixtures/<name>.yaml` and picks the case matching `task`.
   */
  agent: { name: string; task: string; dir?: string | undefined };
  /** Aborting it aborts the HTTP request at once. */
  signal: AbortSignal;
}

/** The provider's answer to one turn. */
export interface ChatReply {
  content: string | null;
  /** Tool calls in the order the model gave them (parallel calls: several). */
  toolCalls: ToolCall[];
  usage: TokenUsage;
  /** Wall-clock time of the request. */
  latencyMs: number;
}

/**
 * A model endpoint: answers one turn. Failures reject with an `AgentError` (src/agents/errors.ts): retryable ones
 * (unreachable, timeout, 408/429/5xx) carry the server's Retry-After in `retryAfterMs`; an aborted signal rejects with
 * `STN_E_ABORTED` at once.
 */
export interface ChatProvider {
  /** The provider's name in station.yaml (`agents.providers.<name>`). */
  readonly name: string;
  readonly type: ProviderType;
  chat(request: ChatRequest): Promise<ChatReply>;
}

export type ProviderType = 'openai' | 'fixture';
