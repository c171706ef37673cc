import type { JsonObject, JsonValue } from '../definitions/types.js';
import { compileSchema, formatSchemaErrors } from '../json-schema.js';
import { AgentError } from './errors.js';
import type { TokenUsage } from './types.js';

/** An agent's final reply read as structured output. */
export interface ParsedReply {
  /** S: the whole reply as JSON, else its first fenced ```json block, else the text. */
  value: JsonValue;
  /** False when neither the reply nor a fenced block was JSON (`value` is the text). */
  json: boolean;
}

const FENCED_JSON = /```json[^\S\r\n]*\r?\n([\s\S]*?)\r?\n?```/i;

export function parseReply(text: string | null): ParsedReply {
  const reply = text ?? '';
  const whole = tryJson(reply.trim());
  if (whole !== undefined) return { value: whole, json: true };
  const block = FENCED_JSON.exec(reply)?.[1];
  const fenced = block === undefined ? undefined : tryJson(block.trim());
  if (fenced !== undefined) return { value: fenced, json: true };
  return { value: reply, json: false };
}

/** Checks a parsed reply: why it breaks the output schema (ajv's errors on one line), or undefined when it matches. */
export type OutputCheck = (parsed: ParsedReply) => string | undefined;

// Agent files are parsed again for every version and step: one compiled validator per distinct schema text, so
// ajv does not keep a copy per parse.
const canonical = new Map<string, JsonObject>();

/** Compiles an agent's output schema (once per distinct schema); throws `STN_E_AGENT_OUTPUT` when it is not a valid schema. */
export function outputCheck(schema: JsonObject, agentName: string): OutputCheck {
  const text = JSON.stringify(schema);
  let shared = canonical.get(text);
  if (shared === undefined) {
    shared = schema;
    canonical.set(text, shared);
  }
  let validate: ReturnType<typeof compileSchema>;
  try {
    validate = compileSchema(shared);
  } catch (err) {
    canonical.delete(text);
    throw new AgentError('STN_E_AGENT_OUTPUT', `agent "${agentName}": the output schema is not a valid JSON Schema: ${(err as Error).message}`);
  }
  return (parsed) => {
    if (validate(parsed.value)) return undefined;
    const errors = formatSchemaErrors(validate.errors);
    return parsed.json ? errors : `the reply is not JSON (${errors})`;
  };
}

export interface StepOutputParts {
  /** The final reply's text. */
  response: string;
  /** S (see `parseReply`). */
  result: JsonValue;
  agentName: string;
  /** `<provider>/<model>`. */
  model: string;
  /** Model turns taken (repair turn included). */
  stepCount: number;
  /** Tool calls made (those the model named a known tool for with valid arguments). */
  toolsUsed: number;
  usage: TokenUsage;
}

/**
 * The agent step's output: `{...S (when S is a JSON object), response, result: S, agent_name, model, step_count,
 * tools_used, usage}`. Workflows read agent fields at the top (`steps.triage.severity`); the metadata keys win over S
 * keys of the same name, and S stays whole under `result`.
 */
export function buildStepOutput(parts: StepOutputParts): JsonObject {
  const spread: JsonObject = {};
  const s = parts.result;
  if (s !== null && typeof s === 'object' && !Array.isArray(s)) {
    for (const [k, v] of Object.entries(s)) if (k !== '__proto__') spread[k] = v;
  }
  return {
    ...spread,
    response: parts.response,
    result: s,
    agent_name: parts.agentName,
    model: parts.model,
    step_count: parts.stepCount,
    tools_used: parts.toolsUsed,
    usage: {
      input_tokens: parts.usage.inputTokens,
      output_tokens: parts.usage.outputTokens,
      total_tokens: parts.usage.inputTokens + parts.usage.outputTokens,
    },
  };
}

function tryJson(text: string): JsonValue | undefined {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return undefined;
  }
}
