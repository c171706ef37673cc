import type { JsonObject, JsonValue } from '../definitions/types.js';
import { abortedError, AgentError } from './errors.js';
import { buildStepOutput, outputCheck, parseReply, type OutputCheck } from './output.js';
import type { ResolvedModel } from './providers/resolve.js';
import type { ChatReply } from './providers/types.js';
import type { AgentSpec, ChatMessage, JournalEntry, StepJournal, TokenUsage, ToolBox, ToolCall, ToolDef } from './types.js';

export interface AgentLoopInput {
  spec: AgentSpec;
  /** The rendered prompt: the conversation's first messages (system and user). */
  messages: readonly ChatMessage[];
  /** The step's task (`userInput`); the fixture provider picks its case by it. */
  task: string;
  /** The folder holding the agent's `.prompt` file (the fixture provider reads `fixtures/<agent>.yaml` there). */
  agentDir?: string | undefined;
  /** The provider and model (`ProviderRegistry.resolve(spec.model)`). */
  model: ResolvedModel;
  tools: ToolBox;
  /** The step attempt's journal: entries already committed are replayed, never sent or called again. */
  journal: StepJournal;
  /** Cancel, step timeout, shutdown: the in-flight request and tool calls are aborted and the loop stops. */
  signal: AbortSignal;
}

export interface AgentLoopResult {
  /** The step output (`buildStepOutput`). */
  output: JsonObject;
  /** The final reply's text. */
  response: string;
  /** S: the parsed structured output, else the text. */
  result: JsonValue;
  stepCount: number;
  toolsUsed: number;
  usage: TokenUsage;
}

/** The text a tool-call error given back to the model starts with (a stable code, so transcripts can be searched). */
const UNKNOWN_TOOL = 'STN_E_AGENT_UNKNOWN_TOOL';
const TOOL_ARGS = 'STN_E_AGENT_TOOL_ARGS';

/**
 * Runs an agent: model turns and tool calls until the model answers without tool calls, committing each turn and
 * each tool result to the journal as it completes. A loop started on a journal that already has entries (the step
 * was redelivered after a crash or restart) rebuilds the conversation from them and goes on from there: committed
 * turns are not asked again and committed tool calls are not called again.
 *
 * A final reply that breaks the output schema gets one repair turn (the model is told the schema error), then the
 * step fails with STN_E_AGENT_OUTPUT. More than `spec.maxSteps` turns fails with STN_E_AGENT_MAX_STEPS, more tokens
 * than the provider's `maxTokensPerStep` with STN_E_AGENT_TOKENS. Rejects with an `AgentError`, or with what the
 * toolbox or the journal rejected with (an MCP server that cannot start, a lost lease).
 */
export async function runAgentLoop(input: AgentLoopInput): Promise<AgentLoopResult> {
  return new AgentLoop(input).run();
}

class AgentLoop {
  private readonly conversation: ChatMessage[];
  private readonly check: OutputCheck | undefined;
  private readonly usage: TokenUsage = { inputTokens: 0, outputTokens: 0 };
  private turns = 0;
  private toolsUsed = 0;
  private repaired = false;
  private defs: ToolDef[] = [];

  constructor(private readonly input: AgentLoopInput) {
    this.conversation = [...input.messages];
    this.check = input.spec.outputSchema === undefined ? undefined : outputCheck(input.spec.outputSchema, input.spec.name);
  }

  async run(): Promise<AgentLoopResult> {
    const { signal, tools, spec } = this.input;
    if (signal.aborted) throw abortedError(signal);
    if (spec.tools.length > 0) this.defs = await abortable(tools.list(signal), signal);
    if (signal.aborted) throw abortedError(signal);

    // Where the journal left off: tool calls of the last turn still to make, or its final reply still to check.
    let last = this.replay();
    this.checkTokens();
    for (;;) {
      if (last !== undefined) {
        const calls = last.message.toolCalls;
        if (calls.length > 0) {
          const done = new Set(this.input.journal.entries.filter((e) => e.kind === 'tool' && e.turn === last?.turn).map((e) => (e as { callId: string }).callId));
          await this.callTools(last.turn, calls.filter((c) => !done.has(c.id)));
        } else {
          const finished = this.finish(last.message.content);
          if (finished !== undefined) return finished;
        }
      }
      last = await this.modelTurn();
    }
  }

  /** Rebuilds the conversation from committed entries; returns the last committed turn (undefined: none yet). */
  private replay(): Extract<JournalEntry, { kind: 'turn' }> | undefined {
    let last: Extract<JournalEntry, { kind: 'turn' }> | undefined;
    for (const entry of this.input.journal.entries) {
      if (entry.kind === 'turn') {
        // A final reply followed by another turn was refused by the output schema: that turn was the repair.
        if (last !== undefined && last.message.toolCalls.length === 0) this.conversation.push(this.repairMessage(this.outputError(last.message.content) ?? ''));
        this.conversation.push({ role: 'assistant', content: entry.message.content, ...(entry.message.toolCalls.length > 0 ? { toolCalls: entry.message.toolCalls } : {}) });
        this.turns = entry.turn;
        this.usage.inputTokens += entry.usage.inputTokens;
        this.usage.outputTokens += entry.usage.outputTokens;
        last = entry;
      } else {
        this.conversation.push({ role: 'tool', toolCallId: entry.callId, content: entry.result });
        if (!entry.result.startsWith(UNKNOWN_TOOL) && !entry.result.startsWith(TOOL_ARGS)) this.toolsUsed++;
      }
    }
    return last;
  }

  private async modelTurn(): Promise<Extract<JournalEntry, { kind: 'turn' }>> {
    const { spec, model, signal, journal } = this.input;
    const turn = this.turns + 1;
    if (turn > spec.maxSteps) {
      throw new AgentError('STN_E_AGENT_MAX_STEPS', `agent "${spec.name}": ${spec.maxSteps} model turns (max_steps) without a final reply`);
    }
    let reply: ChatReply;
    try {
      reply = await model.provider.chat({
        model: model.model,
        messages: this.conversation,
        tools: this.defs,
        outputSchema: spec.outputSchema,
        settings: spec.config,
        agent: { name: spec.name, task: this.input.task, dir: this.input.agentDir },
        signal,
      });
    } catch (err) {
      if (err instanceof AgentError && err.code !== 'STN_E_ABORTED') {
        throw new AgentError(err.code, `agent "${spec.name}", turn ${turn}: ${err.message}`, { retryable: err.retryable, retryAfterMs: err.retryAfterMs, cause: err });
      }
      throw err;
    }
    const entry: Extract<JournalEntry, { kind: 'turn' }> = {
      kind: 'turn',
      turn,
      model: model.model,
      provider: model.provider.name,
      message: { content: reply.content, toolCalls: reply.toolCalls },
      usage: reply.usage,
      latencyMs: Math.round(reply.latencyMs),
    };
    // A reply that arrived is committed even when a stop came meanwhile: a redelivery need not pay for it again.
    await journal.append(entry);
    if (signal.aborted) throw abortedError(signal);
    this.conversation.push({ role: 'assistant', content: reply.content, ...(reply.toolCalls.length > 0 ? { toolCalls: reply.toolCalls } : {}) });
    this.turns = turn;
    this.usage.inputTokens += reply.usage.inputTokens;
    this.usage.outputTokens += reply.usage.outputTokens;
    this.checkTokens();
    return entry;
  }

  /** The tool calls of one turn: made concurrently, committed in the order the model gave them. */
  private async callTools(turn: number, calls: readonly ToolCall[]): Promise<void> {
    const { signal, journal } = this.input;
    const ac = new AbortController();
    const onAbort = () => ac.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const pending = calls.map((call) => this.callTool(turn, call, ac.signal));
    // A later call may fail while an earlier one is still awaited: handled here, rethrown when its turn comes.
    for (const p of pending) p.catch(() => undefined);
    try {
      for (const p of pending) {
        const entry = await abortable(p, signal);
        // A result that came back during a stop may be the stop's own doing: not committed, the call is made again.
        if (signal.aborted) throw abortedError(signal);
        await journal.append(entry);
        this.conversation.push({ role: 'tool', toolCallId: entry.callId, content: entry.result });
      }
    } catch (err) {
      ac.abort(err);
      if (signal.aborted) throw abortedError(signal);
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async callTool(turn: number, call: ToolCall, signal: AbortSignal): Promise<Extract<JournalEntry, { kind: 'tool' }>> {
    const base = { kind: 'tool' as const, turn, callId: call.id };
    const def = this.defs.find((d) => d.name === call.name);
    const args = parseArguments(call.arguments);
    if (def === undefined) {
      const known = this.defs.map((d) => d.name);
      return {
        ...base,
        tool: call.name,
        arguments: args.ok ? args.value : call.arguments,
        ok: false,
        result: `${UNKNOWN_TOOL}: there is no tool named "${call.name}"; ${known.length > 0 ? `the tools are: ${known.join(', ')}` : 'this agent has no tools'}`,
        latencyMs: 0,
      };
    }
    if (!args.ok) {
      return {
        ...base,
        tool: def.qualifiedName,
        arguments: call.arguments,
        ok: false,
        result: `${TOOL_ARGS}: the arguments of ${call.name} must be a JSON object: ${args.error}`,
        latencyMs: 0,
      };
    }
    const started = performance.now();
    const outcome = await this.input.tools.call(call.name, args.value, signal);
    this.toolsUsed++;
    return { ...base, tool: def.qualifiedName, arguments: args.value, ok: outcome.ok, result: outcome.content, latencyMs: Math.round(performance.now() - started) };
  }

  /** The step's result when the final reply is good; undefined when a repair turn was asked for. */
  private finish(content: string | null): AgentLoopResult | undefined {
    const { spec, model } = this.input;
    const parsed = parseReply(content);
    const error = this.outputError(content);
    if (error !== undefined) {
      if (this.repaired || this.turns >= spec.maxSteps) {
        const why = this.repaired ? 'after a repair turn' : 'and max_steps leaves no turn for a repair';
        throw new AgentError('STN_E_AGENT_OUTPUT', `agent "${spec.name}": the reply does not match the output schema ${why}: ${error}`);
      }
      this.conversation.push(this.repairMessage(error));
      return undefined;
    }
    const response = content ?? '';
    return {
      output: buildStepOutput({
        response,
        result: parsed.value,
        agentName: spec.name,
        model: model.label,
        stepCount: this.turns,
        toolsUsed: this.toolsUsed,
        usage: this.usage,
      }),
      response,
      result: parsed.value,
      stepCount: this.turns,
      toolsUsed: this.toolsUsed,
      usage: { ...this.usage },
    };
  }

  private outputError(content: string | null): string | undefined {
    return this.check?.(parseReply(content));
  }

  private repairMessage(error: string): ChatMessage {
    this.repaired = true;
    return {
      role: 'user',
      content: `Your reply does not match the required output JSON Schema: ${error}. Answer again with only the JSON value, matching the schema.`,
    };
  }

  private checkTokens(): void {
    const cap = this.input.model.maxTokensPerStep;
    const used = this.usage.inputTokens + this.usage.outputTokens;
    if (cap !== undefined && used > cap) {
      throw new AgentError('STN_E_AGENT_TOKENS', `agent "${this.input.spec.name}": ${used} tokens used in ${this.turns} turn(s), over the step's cap of ${cap} (maxTokensPerStep)`);
    }
  }
}

function parseArguments(text: string): { ok: true; value: JsonObject } | { ok: false; error: string } {
  if (text.trim() === '') return { ok: true, value: {} };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not valid JSON (${(err as Error).message})` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, error: `got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}` };
  return { ok: true, value: value as JsonObject };
}

/** `work`, or a rejection as soon as `signal` aborts (a tool that ignores its signal does not hold the step up). */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortedError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
