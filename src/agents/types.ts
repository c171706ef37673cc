import type { JsonObject, JsonValue } from '../definitions/types.js';

/**
 * The shapes agent.run is built from. An agent is a dotprompt file (`<name>.prompt`): YAML frontmatter and a
 * Handlebars body. The parts meet here: the prompt parser produces an `AgentSpec` and renders it to messages, a
 * `ChatProvider` answers one model turn, a `ToolBox` lists and calls MCP tools, and the agent loop drives turns and
 * tool calls, committing each to the step's `StepJournal` as it completes so a restarted loop resumes where it was.
 */

/** A parsed, validated agent file. */
export interface AgentSpec {
  /** The file's basename without `.prompt`. */
  name: string;
  /** `<provider>/<model>`, or a model name for the default provider; undefined: the provider's default model. */
  model: string | undefined;
  /** Model settings passed to the provider (temperature, maxOutputTokens, topP, stopSequences, ...). */
  config: JsonObject;
  /** JSON Schema of the prompt's input variables (dotprompt Picoschema expanded), if declared. */
  inputSchema: JsonObject | undefined;
  /** JSON Schema of the structured output, if declared (`output.schema`). */
  outputSchema: JsonObject | undefined;
  /** `json` when the agent answers JSON (`output.format: json` or an output schema), else `text`. */
  outputFormat: 'json' | 'text';
  /** The tool allowlist: `server/tool` or `server/*` entries. Empty: no tools. */
  tools: string[];
  /** The most model turns one step may take (frontmatter `max_steps`, default 25). */
  maxSteps: number;
  /** Frontmatter `metadata`, as written. */
  metadata: JsonObject;
  /** The Handlebars body. */
  template: string;
}

/** A tool call the model asked for. `name` is the model-facing function name (see `ToolBox`). */
export interface ToolCall {
  id: string;
  name: string;
  /** The arguments as the model sent them: a JSON text, possibly malformed. */
  arguments: string;
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string | null; toolCalls?: ToolCall[] }
  | { role: 'tool'; toolCallId: string; content: string };

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

/** A tool as the model sees it. */
export interface ToolDef {
  /** The model-facing name (`^[a-zA-Z0-9_-]{1,64}$`), mapped reversibly from `server/tool`. */
  name: string;
  /** `server/tool`: the MCP server's name in mcp.yaml and the tool's MCP name. */
  qualifiedName: string;
  description: string;
  /** The tool's input JSON Schema. */
  parameters: JsonObject;
}

/** The tools one agent step may use (its prompt's allowlist applied). */
export interface ToolBox {
  list(signal: AbortSignal): Promise<ToolDef[]>;
  /**
   * Calls a tool by its model-facing name. A tool's own error (isError, bad arguments) resolves with `ok: false`: it
   * goes back to the model as the tool result. Infrastructure failures (server cannot start, crashed twice) reject.
   */
  call(name: string, args: JsonValue, signal: AbortSignal): Promise<ToolOutcome>;
}

export interface ToolOutcome {
  ok: boolean;
  /** The text given back to the model as the tool result. */
  content: string;
}

/** One entry of an agent step's journal: a model turn or a tool call, committed as it completes. */
export type JournalEntry =
  | {
      kind: 'turn';
      /** 1-based model turn number within the attempt. */
      turn: number;
      model: string;
      provider: string;
      message: { content: string | null; toolCalls: ToolCall[] };
      usage: TokenUsage;
      latencyMs: number;
    }
  | {
      kind: 'tool';
      /** The model turn that asked for it. */
      turn: number;
      callId: string;
      /** `server/tool`, or the model's name when it named no known tool. */
      tool: string;
      arguments: JsonValue;
      ok: boolean;
      result: string;
      latencyMs: number;
    };

/**
 * The durable journal of one attempt of one step. `entries` holds what earlier deliveries of the same attempt
 * committed (empty on a first delivery); `append` commits one entry in its own transaction (stored as a run event of
 * the step, so it is also the transcript) and resolves once it is durable. It rejects when this delivery lost its
 * lease (another worker took the step over): the loop must stop then.
 */
export interface StepJournal {
  readonly entries: readonly JournalEntry[];
  append(entry: JournalEntry): Promise<void>;
}
