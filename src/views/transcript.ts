import type { EventView, StepView } from './types.js';

/**
 * An agent step's transcript, rebuilt from its journal events (`agent:turn`, `agent:tool`): per attempt, each model
 * turn with the tool calls it asked for and their results. The events are stored masked, so is the transcript.
 */

export interface TranscriptToolCall {
  callId: string;
  /** `server/tool`, or the model's name when it named no known tool. */
  tool: string;
  arguments: unknown;
  ok: boolean;
  result: string;
  latencyMs: number;
  at: string;
}

export interface TranscriptTurn {
  turn: number;
  provider: string;
  model: string;
  /** The reply's text (null when the model only asked for tools). */
  content: string | null;
  /** The tool calls the model asked for, as it sent them (arguments as JSON text). */
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  usage: { inputTokens: number; outputTokens: number };
  latencyMs: number;
  at: string;
  /** The calls made for this turn, in the order they were committed. */
  tools: TranscriptToolCall[];
}

export interface TranscriptAttempt {
  attempt: number;
  agent: string | null;
  turns: TranscriptTurn[];
  usage: { inputTokens: number; outputTokens: number };
}

/** `stn runs show <run> --step <step> --json`: the step, and for an agent step its transcript (else null). */
export interface StepDetailView {
  runId: string;
  step: StepView;
  transcript: TranscriptAttempt[] | null;
}

interface TurnData {
  attempt: number;
  agent: string | null;
  turn: number;
  model: string;
  provider: string;
  message: { content: string | null; toolCalls: Array<{ id: string; name: string; arguments: string }> };
  usage: { inputTokens: number; outputTokens: number };
  latencyMs: number;
}

interface ToolData {
  attempt: number;
  agent: string | null;
  turn: number;
  callId: string;
  tool: string;
  arguments: unknown;
  ok: boolean;
  result: string;
  latencyMs: number;
}

/** The transcript of one step from its events (any events of the step: only agent:* ones count), attempts in order. */
export function transcriptOf(events: readonly EventView[]): TranscriptAttempt[] {
  const attempts = new Map<number, TranscriptAttempt>();
  const attemptOf = (n: number, agent: string | null): TranscriptAttempt => {
    let a = attempts.get(n);
    if (!a) {
      a = { attempt: n, agent, turns: [], usage: { inputTokens: 0, outputTokens: 0 } };
      attempts.set(n, a);
    }
    a.agent ??= agent;
    return a;
  };
  for (const e of [...events].sort((x, y) => x.seq - y.seq)) {
    if (e.type === 'agent:turn') {
      const d = e.data as TurnData;
      const a = attemptOf(d.attempt, d.agent);
      a.turns.push({
        turn: d.turn,
        provider: d.provider,
        model: d.model,
        content: d.message.content,
        toolCalls: d.message.toolCalls,
        usage: { inputTokens: d.usage.inputTokens, outputTokens: d.usage.outputTokens },
        latencyMs: d.latencyMs,
        at: e.at,
        tools: [],
      });
      a.usage.inputTokens += d.usage.inputTokens;
      a.usage.outputTokens += d.usage.outputTokens;
    } else if (e.type === 'agent:tool') {
      const d = e.data as ToolData;
      const a = attemptOf(d.attempt, d.agent);
      const call: TranscriptToolCall = { callId: d.callId, tool: d.tool, arguments: d.arguments, ok: d.ok, result: d.result, latencyMs: d.latencyMs, at: e.at };
      // A turn is committed before its tool calls; a call whose turn is missing is kept under a turn of its own.
      const turn = a.turns.findLast((t) => t.turn === d.turn);
      if (turn) turn.tools.push(call);
      else a.turns.push({ turn: d.turn, provider: '?', model: '?', content: null, toolCalls: [], usage: { inputTokens: 0, outputTokens: 0 }, latencyMs: 0, at: e.at, tools: [call] });
    }
  }
  return [...attempts.values()].sort((x, y) => x.attempt - y.attempt);
}

/**
 * The step of a run that `ref` names: its id, else its path, else its state name. A state entered several times
 * (a loop, a retry of the whole branch) names its latest step.
 */
export function findStep(steps: readonly StepView[], ref: string): StepView | undefined {
  return steps.find((s) => s.id === ref) ?? steps.findLast((s) => s.path === ref) ?? steps.findLast((s) => s.state === ref);
}
