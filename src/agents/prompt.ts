import { Dotprompt, picoschema, type Message, type ParsedPrompt, type PromptFunction } from 'dotprompt';
import { parseSource } from '../definitions/source.js';
import { escapePointer } from '../expressions/index.js';
import type { Diagnostic, JsonObject, JsonValue } from '../definitions/types.js';
import type { DiagnosticCode } from '../errors.js';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import { ajv, schemaViolations, violationText } from '../json-schema.js';
import type { AgentSpec, ChatMessage } from './types.js';

/**
 * Agent files: a dotprompt file (`<name>.prompt`), YAML frontmatter between `---` lines and a Handlebars body.
 * The frontmatter is read here, with positions and the definition files' YAML limits, and refused when it is wrong:
 * the dotprompt package itself only logs a bad frontmatter and would send the whole file to the model as the prompt.
 * dotprompt renders the body (roles, helpers) and expands Picoschema.
 */

export type ParseAgentResult =
  | { ok: true; spec: AgentSpec; warnings: Diagnostic[] }
  | { ok: false; errors: Diagnostic[] };

/** Agent names are file basenames: what a workflow's `input.agent` (and `name@env`) can name. */
export const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Agent files: `<name>.prompt`. */
export const AGENT_FILE = /\.prompt$/;

export const DEFAULT_MAX_STEPS = 25;

/**
 * Top-level frontmatter keys. Station's own: model, config, input, output, tools, max_steps, metadata. Accepted and
 * not used, because real dotprompt (and Station's example files) carry them: name, description, version, variant,
 * app, app_type. A dotted key (`myorg.key`) is a dotprompt extension and accepted, unless it spells a known key flat.
 */
const KNOWN_KEYS = new Set(['model', 'config', 'input', 'output', 'tools', 'max_steps', 'metadata', 'name', 'description', 'version', 'variant', 'app', 'app_type']);
const INPUT_KEYS = new Set(['schema', 'default']);
const OUTPUT_KEYS = new Set(['schema', 'format']);
/** Roles a body may switch to (`{{role "..."}}`); dotprompt's `model` is the assistant. */
const ROLES = new Set(['system', 'user', 'model', 'assistant']);
/** The largest max_steps accepted: a step that needs more turns is a loop. */
const MAX_STEPS_LIMIT = 1000;

/** One renderer for every agent: Handlebars with dotprompt's helpers, no partials, no custom helpers. */
const dotprompt = new Dotprompt();

interface Frontmatter {
  /** The YAML text between the `---` lines. */
  text: string;
  /** Line of the file where `text` starts (1-based). */
  firstLine: number;
  body: string;
  /** Line of the file where the body starts. */
  bodyLine: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Splits `---` frontmatter from the body. No frontmatter: the whole file is the body. */
function splitFrontmatter(text: string): Frontmatter | { error: string; line: number } {
  const lines = text.split(/\r\n|\r|\n/);
  if ((lines[0] ?? '').trimEnd() !== '---') return { text: '', firstLine: 1, body: text, bodyLine: 1 };
  const close = lines.findIndex((l, i) => i > 0 && l.trimEnd() === '---');
  if (close < 0) return { error: 'the frontmatter opened by "---" on line 1 is never closed: add a "---" line after it', line: 1 };
  return { text: lines.slice(1, close).join('\n'), firstLine: 2, body: lines.slice(close + 1).join('\n'), bodyLine: close + 2 };
}

/**
 * Parses and checks an agent file. `file` names it in diagnostics (they carry line and column; `formatDiagnostic`
 * gives `file:line:col: message`), `name` is the agent's name (the basename). Fails on any frontmatter problem, an
 * unknown key, a schema that does not compile, or a body Handlebars cannot compile.
 */
export async function parseAgentFile(text: string, file: string, name: string): Promise<ParseAgentResult> {
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const err = (code: DiagnosticCode, message: string, pos: { line: number; col: number } = { line: 1, col: 1 }) =>
    errors.push({ severity: 'error', code, message, line: pos.line, col: pos.col });
  if (!AGENT_NAME.test(name)) err('STN_E_AGENT_FRONTMATTER', `agent name "${name}" (the file name) must match ${AGENT_NAME.source}: rename ${file}`);

  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const split = splitFrontmatter(src);
  if ('error' in split) {
    err('STN_E_AGENT_FRONTMATTER', split.error, { line: split.line, col: 1 });
    return { ok: false, errors };
  }
  const parsed = parseSource(split.text);
  if (!parsed.ok) {
    for (const d of parsed.errors) errors.push({ ...d, line: d.line + split.firstLine - 1 });
    return { ok: false, errors };
  }
  const at = (pointer: string, where: 'key' | 'value' = 'value') => {
    const p = parsed.doc.locate(pointer, where);
    return { line: p.line + split.firstLine - 1, col: p.col };
  };
  const fm = parsed.doc.value ?? {};
  if (!isObject(fm)) {
    err('STN_E_AGENT_FRONTMATTER', 'the frontmatter must be a YAML mapping (model: ..., tools: [...])', { line: split.firstLine, col: 1 });
    return { ok: false, errors };
  }

  for (const key of Object.keys(fm)) {
    if (KNOWN_KEYS.has(key)) continue;
    const ns = key.includes('.') ? key.slice(0, key.indexOf('.')) : undefined;
    if (ns !== undefined && !KNOWN_KEYS.has(ns)) continue; // a dotprompt extension key
    const hint = ns !== undefined ? `: nest it ("${ns}:" with "${key.slice(ns.length + 1)}:" indented below)` : `: the keys are ${[...KNOWN_KEYS].slice(0, 7).join(', ')}`;
    err('STN_E_SCHEMA_UNKNOWN_FIELD', `unknown frontmatter key "${key}"${hint}`, at(`/${escapePointer(key)}`, 'key'));
  }

  const str = (key: string): string | undefined => {
    const v = fm[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v === '') {
      err('STN_E_SCHEMA_TYPE', `${key} must be a non-empty string`, at(`/${key}`));
      return undefined;
    }
    return v;
  };
  const model = str('model');

  const obj = (v: unknown, pointer: string, what: string): Record<string, unknown> | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!isObject(v)) {
      err('STN_E_SCHEMA_TYPE', `${what} must be a mapping`, at(pointer));
      return undefined;
    }
    return v;
  };
  const config = obj(fm.config, '/config', 'config') ?? {};
  const metadata = obj(fm.metadata, '/metadata', 'metadata') ?? {};

  const input = obj(fm.input, '/input', 'input');
  const output = obj(fm.output, '/output', 'output');
  for (const [section, keys, value] of [['input', INPUT_KEYS, input], ['output', OUTPUT_KEYS, output]] as const) {
    for (const k of Object.keys(value ?? {})) {
      if (!keys.has(k)) err('STN_E_SCHEMA_UNKNOWN_FIELD', `unknown key "${section}.${k}": ${section} takes ${[...keys].join(' and ')}`, at(`/${section}/${escapePointer(k)}`, 'key'));
    }
  }
  const defaults = obj(input?.default, '/input/default', 'input.default');

  let outputFormat: 'json' | 'text' = 'text';
  if (output?.format !== undefined) {
    if (output.format === 'json' || output.format === 'text') outputFormat = output.format;
    else err('STN_E_SCHEMA_VALUE', `output.format must be json or text, got ${JSON.stringify(output.format)}`, at('/output/format'));
  }

  const tools: string[] = [];
  if (fm.tools !== undefined && fm.tools !== null) {
    if (!Array.isArray(fm.tools)) err('STN_E_SCHEMA_TYPE', 'tools must be a list of "server/tool" or "server/*" entries', at('/tools'));
    else {
      fm.tools.forEach((t, i) => {
        if (typeof t !== 'string' || t.trim() === '') err('STN_E_SCHEMA_TYPE', 'each tools entry must be a non-empty string ("server/tool" or "server/*")', at(`/tools/${i}`));
        else if (!tools.includes(t)) tools.push(t);
      });
    }
  }

  let maxSteps = DEFAULT_MAX_STEPS;
  if (fm.max_steps !== undefined && fm.max_steps !== null) {
    if (typeof fm.max_steps !== 'number' || !Number.isInteger(fm.max_steps) || fm.max_steps < 1 || fm.max_steps > MAX_STEPS_LIMIT) {
      err('STN_E_SCHEMA_VALUE', `max_steps must be an integer from 1 to ${MAX_STEPS_LIMIT}, got ${JSON.stringify(fm.max_steps)}`, at('/max_steps'));
    } else maxSteps = fm.max_steps;
  }

  const inputSchema = await expandSchema(input?.schema, '/input/schema', 'input.schema', at, err);
  if (inputSchema && inputSchema.type !== undefined && inputSchema.type !== 'object') {
    // A step's variables are a mapping: a scalar input schema could never be met.
    err('STN_E_AGENT_SCHEMA', `input.schema must describe a mapping of variables (type object), not ${JSON.stringify(inputSchema.type)}`, at('/input/schema'));
  }
  const outputSchema = await expandSchema(output?.schema, '/output/schema', 'output.schema', at, err);
  if (outputSchema) outputFormat = 'json';
  if (inputSchema && defaults) {
    // dotprompt applies input.default only when the caller passes it: kept as JSON Schema `default`s, rendering
    // (and the input check) apply them.
    const props = isObject(inputSchema.properties) ? inputSchema.properties : undefined;
    for (const [k, v] of Object.entries(defaults)) {
      const prop = props?.[k];
      if (isObject(prop)) prop.default = v as JsonValue;
      else err('STN_E_SCHEMA_VALUE', `input.default names "${k}", which input.schema does not declare`, at(`/input/default/${escapePointer(k)}`, 'key'));
    }
  } else if (defaults && Object.keys(defaults).length > 0) {
    err('STN_E_SCHEMA_VALUE', 'input.default needs an input.schema declaring those variables', at('/input/default', 'key'));
  }

  const template = split.body.trim();
  if (template === '') err('STN_E_AGENT_TEMPLATE', 'the prompt body (after the frontmatter) is empty', { line: split.bodyLine, col: 1 });
  else errors.push(...(await checkTemplate(split.body, split.bodyLine)));

  if (errors.length > 0) return { ok: false, errors };
  const spec: AgentSpec = {
    name,
    model,
    config: config as JsonObject,
    inputSchema,
    outputSchema,
    outputFormat,
    tools,
    maxSteps,
    metadata: metadata as JsonObject,
    template,
  };
  return { ok: true, spec, warnings };
}


/** Picoschema (or JSON Schema) expanded to JSON Schema, checked to compile with Station's ajv. */
async function expandSchema(
  value: unknown,
  pointer: string,
  what: string,
  at: (pointer: string, where?: 'key' | 'value') => { line: number; col: number },
  err: (code: DiagnosticCode, message: string, pos: { line: number; col: number }) => void,
): Promise<JsonObject | undefined> {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' && !isObject(value)) {
    err('STN_E_AGENT_SCHEMA', `${what} must be a Picoschema or JSON Schema mapping (or a scalar type name)`, at(pointer));
    return undefined;
  }
  let schema: unknown;
  try {
    // A copy: Picoschema's enum expansion pushes into the lists it is given.
    schema = await picoschema(structuredClone(value));
  } catch (e) {
    err('STN_E_AGENT_SCHEMA', `${what}: ${(e as Error).message}`, at(pointer));
    return undefined;
  }
  if (!isObject(schema)) {
    err('STN_E_AGENT_SCHEMA', `${what} expands to no schema`, at(pointer));
    return undefined;
  }
  try {
    compileAgentSchema(schema);
  } catch (e) {
    err('STN_E_AGENT_SCHEMA', `${what} is not a valid JSON Schema: ${(e as Error).message}`, at(pointer));
    return undefined;
  }
  return schema as JsonObject;
}

const validators = new WeakMap<object, ValidateFunction>();

/**
 * Compiles an agent's schema with Station's ajv, without registering it there: a schema with an `$id` must compile
 * again when its file is parsed again (and must not clash with another agent's).
 */
export function compileAgentSchema(schema: object): ValidateFunction {
  let fn = validators.get(schema);
  if (fn) return fn;
  try {
    fn = ajv.compile(schema);
  } finally {
    ajv.removeSchema(schema);
  }
  validators.set(schema, fn);
  return fn;
}

/** Body problems: role names, then what Handlebars refuses (syntax, unknown helpers, partials), with file lines. */
async function checkTemplate(body: string, bodyLine: number): Promise<Diagnostic[]> {
  const out: Diagnostic[] = [];
  const lines = body.split(/\r\n|\r|\n/);
  lines.forEach((l, i) => {
    for (const m of l.matchAll(/\{\{\s*role\s+["']([^"']*)["']\s*\}\}/g)) {
      const role = m[1] ?? '';
      if (!ROLES.has(role)) {
        const message = `unknown role "${role}": use {{role "system"}}, {{role "user"}} or {{role "model"}}`;
        out.push({ severity: 'error', code: 'STN_E_AGENT_TEMPLATE', message, line: bodyLine + i, col: (m.index ?? 0) + 1 });
      }
    }
  });
  if (out.length > 0) return out;
  try {
    // Rendering with no variables compiles the whole body (Handlebars compiles lazily) and names unknown helpers.
    const render = await dotprompt.compile(parsedPrompt(body));
    await render({ input: {} });
  } catch (e) {
    const error = e as { message?: string; lineNumber?: number; column?: number };
    const message = String(error.message ?? e);
    const lineOf = /line (\d+)/.exec(message);
    const line = error.lineNumber ?? (lineOf ? Number(lineOf[1]) : 1);
    const col = error.column !== undefined ? error.column + 1 : 1;
    // Handlebars parse errors quote the text and end with what it expected: the first and last lines say it.
    const parts = message.split('\n');
    const first = (parts[0] ?? message).replace(/ - \d+:\d+$/, '').replace(/ on line \d+:$/, '');
    const text = parts.length > 1 ? `${first}: ${parts.at(-1) ?? ''}` : first;
    out.push({ severity: 'error', code: 'STN_E_AGENT_TEMPLATE', message: `template: ${text}`, line: bodyLine + line - 1, col });
  }
  return out;
}

/** `file:line:col: message`, the project's way of naming a problem in a file. */
export function formatDiagnostic(file: string, d: Diagnostic): string {
  return `${file}:${d.line}:${d.col}: ${d.message}`;
}

/** The input variables with the schema's property defaults filled in (`input.default` of the file). */
export function withDefaults(spec: AgentSpec, variables: JsonObject): JsonObject {
  const props = spec.inputSchema?.properties;
  if (!isObject(props)) return variables;
  const out: JsonObject = { ...variables };
  for (const [k, p] of Object.entries(props)) {
    if (out[k] === undefined && isObject(p) && p.default !== undefined) out[k] = p.default as JsonValue;
  }
  return out;
}

/**
 * Checks a step's variables against the agent's input schema (defaults applied first): the problems as
 * `/path: message` texts, none when the agent declares no input schema.
 */
export function validateAgentInput(spec: AgentSpec, value: JsonObject): string[] {
  if (!spec.inputSchema) return [];
  const validate = compileAgentSchema(spec.inputSchema);
  if (validate(withDefaults(spec, value))) return [];
  return schemaViolations(validate.errors).map(violationText);
}

/**
 * Renders the body to chat messages: `variables` (input defaults applied) and `userInput` = the task. Roles come from
 * `{{role "..."}}`; a body with no user message gets the task appended as one.
 */
export async function renderAgent(spec: AgentSpec, o: { variables: JsonObject; task: string }): Promise<ChatMessage[]> {
  const render = await compiledBody(spec.template);
  const rendered = await render({ input: { ...withDefaults(spec, o.variables), userInput: o.task } });
  const messages: ChatMessage[] = [];
  for (const m of rendered.messages) {
    const content = textOf(m).trim();
    if (content === '') continue;
    const role = m.role === 'model' || (m.role as string) === 'assistant' ? 'assistant' : m.role === 'system' ? 'system' : 'user';
    messages.push({ role, content });
  }
  if (!messages.some((m) => m.role === 'user') && o.task !== '') messages.push({ role: 'user', content: o.task });
  return messages;
}

type Renderer = PromptFunction<Record<string, unknown>>;
/** Compiled bodies by their text: compiling takes milliseconds, and every step of an agent renders the same body. */
const renderers = new Map<string, Promise<Renderer>>();
const MAX_RENDERERS = 256;

function compiledBody(template: string): Promise<Renderer> {
  let render = renderers.get(template);
  if (!render) {
    if (renderers.size >= MAX_RENDERERS) renderers.delete(renderers.keys().next().value as string);
    render = dotprompt.compile(parsedPrompt(template));
    renderers.set(template, render);
    render.catch(() => renderers.delete(template));
  }
  return render;
}

/** A body as dotprompt's parser would give it, without parsing it again (a body may itself start with "---"). */
function parsedPrompt(template: string): ParsedPrompt {
  return { template, config: {}, ext: {}, metadata: {} };
}

function textOf(m: Message): string {
  return m.content.map((p) => ('text' in p && typeof p.text === 'string' ? p.text : '')).join('');
}
