import fs from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { DEFAULTS } from '../../config/defaults.js';
import type { JsonValue } from '../../definitions/types.js';
import { compileSchema, formatSchemaErrors } from '../../json-schema.js';
import { abortedError, AgentError } from '../errors.js';
import type { ChatMessage, ToolCall, ToolDef } from '../types.js';
import type { ChatProvider, ChatReply, ChatRequest } from './types.js';

/**
 * The offline provider: scripted replies from `<agents folder>/fixtures/<agent>.yaml`, a list of cases. The first case
 * whose `match` (a substring) or `regex` matches the task answers; a case with neither matches any task. Turn N of the
 * conversation (counted by the assistant messages already in it) gets the case's N-th reply: a text (`content`), a JSON
 * value (`json`, sent as its JSON text) and/or tool calls (`toolCalls: [{tool: server/tool, arguments}]`).
 *
 * ```yaml
 * - match: disk
 *   turns:
 *     - toolCalls: [{ tool: host/df, arguments: { path: / } }]
 *     - json: { summary: "Disk is 91% full", severity: high }
 * - turns:
 *     - content: Nothing to report.
 * ```
 */
export interface FixtureTurn {
  content?: string | null;
  json?: JsonValue;
  toolCalls?: Array<{ tool: string; arguments?: JsonValue }>;
  usage?: { input: number; output: number };
}

export interface FixtureCase {
  match?: string;
  regex?: string;
  turns: FixtureTurn[];
}

const FIXTURE_SCHEMA = {
  type: 'array',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['turns'],
    properties: {
      match: { type: 'string' },
      regex: { type: 'string' },
      turns: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          additionalProperties: false,
          anyOf: [{ required: ['content'] }, { required: ['json'] }, { required: ['toolCalls'] }],
          not: { required: ['content', 'json'] },
          properties: {
            content: { type: ['string', 'null'] },
            json: {},
            toolCalls: {
              type: 'array',
              minItems: 1,
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['tool'],
                properties: { tool: { type: 'string', minLength: 1 }, arguments: {} },
              },
            },
            usage: {
              type: 'object',
              additionalProperties: false,
              required: ['input', 'output'],
              properties: { input: { type: 'integer', minimum: 0 }, output: { type: 'integer', minimum: 0 } },
            },
          },
        },
      },
    },
  },
} as const;

/** The fixture file of an agent whose `.prompt` file is in `agentsDir`. */
export function fixturePath(agentsDir: string, agent: string): string {
  return path.join(agentsDir, 'fixtures', `${agent}.yaml`);
}

export class FixtureProvider implements ChatProvider {
  readonly type = 'fixture';

  constructor(readonly name: string) {}

  async chat(req: ChatRequest): Promise<ChatReply> {
    if (req.signal.aborted) throw abortedError(req.signal);
    const started = performance.now();
    const dir = req.agent.dir;
    if (dir === undefined) {
      throw new AgentError('STN_E_AGENT_FIXTURE', `fixture provider "${this.name}": agent "${req.agent.name}" has no folder to find fixtures/${req.agent.name}.yaml in`);
    }
    const file = fixturePath(dir, req.agent.name);
    const cases = await readFixture(file);
    if (req.signal.aborted) throw abortedError(req.signal);
    const index = cases.findIndex((c) => matches(c, req.agent.task));
    const chosen = cases[index];
    if (chosen === undefined) {
      throw new AgentError('STN_E_AGENT_FIXTURE', `${file}: no case matches the task ${JSON.stringify(clip(req.agent.task))}`);
    }
    const turnIndex = req.messages.filter((m) => m.role === 'assistant').length;
    const turn = chosen.turns[turnIndex];
    if (turn === undefined) {
      throw new AgentError(
        'STN_E_AGENT_FIXTURE',
        `${file}: case ${index + 1} has ${chosen.turns.length} turn(s); the agent asked for turn ${turnIndex + 1}`,
      );
    }
    const content = turn.json !== undefined ? JSON.stringify(turn.json) : (turn.content ?? null);
    const toolCalls: ToolCall[] = (turn.toolCalls ?? []).map((c, i) => ({
      id: `fixture_${turnIndex + 1}_${i + 1}`,
      name: modelName(c.tool, req.tools),
      arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments ?? {}),
    }));
    return {
      content,
      toolCalls,
      usage: turn.usage
        ? { inputTokens: turn.usage.input, outputTokens: turn.usage.output }
        : { inputTokens: estimateTokens(req.messages), outputTokens: tokensOf((content ?? '') + toolCalls.map((c) => c.name + c.arguments).join('')) },
      latencyMs: performance.now() - started,
    };
  }
}

// Parsed fixture files by path, kept while the file's size and modification time stay the same.
const parsed = new Map<string, { mtimeMs: number; size: number; cases: FixtureCase[] }>();

/** Reads and validates a fixture file; errors name the file and the field. */
export async function readFixture(file: string): Promise<FixtureCase[]> {
  let text: string;
  let stat: { mtimeMs: number; size: number };
  try {
    stat = await fs.stat(file);
    const cached = parsed.get(file);
    if (cached !== undefined && cached.mtimeMs === stat.mtimeMs && cached.size === stat.size) return cached.cases;
    if (stat.size > DEFAULTS.definitions.maxFileBytes) {
      throw new AgentError('STN_E_AGENT_FIXTURE', `${file}: larger than ${DEFAULTS.definitions.maxFileBytes} bytes`);
    }
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof AgentError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new AgentError('STN_E_AGENT_FIXTURE', code === 'ENOENT' ? `${file}: no such fixture file` : `${file}: ${(err as Error).message}`);
  }
  const cases = parseFixture(file, text);
  parsed.set(file, { mtimeMs: stat.mtimeMs, size: stat.size, cases });
  return cases;
}

function parseFixture(file: string, text: string): FixtureCase[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines });
  const first = doc.errors[0];
  if (first) {
    const pos = lines.linePos(first.pos[0]);
    throw new AgentError('STN_E_AGENT_FIXTURE', `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${first.message}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: DEFAULTS.definitions.maxAliasCount });
  } catch (err) {
    throw new AgentError('STN_E_AGENT_FIXTURE', `${file}: ${(err as Error).message}`);
  }
  const validate = compileSchema(FIXTURE_SCHEMA);
  if (!validate(value)) throw new AgentError('STN_E_AGENT_FIXTURE', `${file}: ${formatSchemaErrors(validate.errors)}`);
  const cases = value as FixtureCase[];
  cases.forEach((c, i) => {
    if (c.regex === undefined) return;
    try {
      new RegExp(c.regex);
    } catch (err) {
      throw new AgentError('STN_E_AGENT_FIXTURE', `${file}: /${i}/regex: ${(err as Error).message}`);
    }
  });
  return cases;
}

function matches(c: FixtureCase, task: string): boolean {
  if (c.match !== undefined && !task.includes(c.match)) return false;
  if (c.regex !== undefined && !new RegExp(c.regex).test(task)) return false;
  return true;
}

/** A fixture names tools `server/tool`; the model-facing name is what the loop knows. Unknown names pass as written. */
function modelName(tool: string, tools: readonly ToolDef[]): string {
  return tools.find((t) => t.qualifiedName === tool)?.name ?? tools.find((t) => t.name === tool)?.name ?? tool;
}

// About four characters per token: a deterministic stand-in so token caps and usage metrics work offline.
function tokensOf(text: string): number {
  return Math.ceil(text.length / 4);
}

function estimateTokens(messages: readonly ChatMessage[]): number {
  let chars = 0;
  for (const m of messages) {
    chars += (m.content ?? '').length;
    if (m.role === 'assistant') for (const c of m.toolCalls ?? []) chars += c.name.length + c.arguments.length;
  }
  return Math.ceil(chars / 4);
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
