/**
 * Generates the parts of schemas/workflow.schema.json that come from the executor catalog (src/executors/catalog.ts):
 * the `action` enum, one `input.<action>` definition per action, and the `if action == X then input: <schema>` rules
 * of operation states and compensations. Everything else in the file is written by hand; generating is idempotent, so
 * the committed file is both the hand-written source and the generated result.
 *
 * The generated input schemas are for editors. They accept a `{{ }}` template wherever the catalog expects a value,
 * because a template's value is only known at run time; sync checks literal inputs against the catalog itself.
 */
import { ACTION_CATALOG, ACTION_NAMES, type JsonSchema } from '../src/executors/catalog.js';
import { ACTION_INPUT_DEF_PREFIX } from '../src/definitions/schema-check.js';

type Schema = Record<string, unknown>;

/** Where generated rules are attached: each of these definitions has an `action` and an `input`. */
const HOSTS = ['operationState', 'compensation'] as const;

/** A string holding a `{{ }}` template (the same test sync applies: the string contains `{{`). */
const TEMPLATE: Schema = { type: 'string', pattern: '\\{\\{', description: 'A {{ }} template: checked when the step runs.' };

/** Keywords that describe a value without constraining it: kept on the outside when a value is wrapped. */
const ANNOTATIONS = ['title', 'description', 'default', 'examples', 'deprecated'];

/** Keywords whose value is a schema for the same value (transformed, never wrapped on their own). */
const SAME_VALUE = ['then', 'else'];
const SAME_VALUE_LISTS = ['allOf', 'anyOf', 'oneOf'];
/** Keywords whose value is a schema for a nested value (each may be a template). */
const NESTED = ['items', 'additionalProperties', 'contains'];
const NESTED_MAPS = ['properties', 'patternProperties'];

const isSchema = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** True when every string holding a template already matches `node` (no wrapping needed). */
function acceptsTemplates(node: Schema): boolean {
  const assertions = Object.keys(node).filter((k) => !ANNOTATIONS.includes(k));
  if (assertions.length === 0) return true;
  const types = node.type === undefined ? [] : ([] as unknown[]).concat(node.type);
  if (!types.includes('string')) return false;
  const minLength = typeof node.minLength === 'number' ? node.minLength : 0;
  return assertions.every((k) => k === 'type' || k === 'minLength') && minLength <= '{{x}}'.length;
}

/** The schema of one value, accepting a template instead of the value. */
function templated(node: Schema): Schema {
  const inner = transformed(node);
  if (acceptsTemplates(inner)) return inner;
  const outer: Schema = {};
  const rest: Schema = {};
  for (const [k, v] of Object.entries(inner)) (ANNOTATIONS.includes(k) ? outer : rest)[k] = v;
  outer.anyOf = [rest, TEMPLATE];
  return outer;
}

/** `node` with every nested value made template-tolerant (`if` and `not` are conditions: left as written). */
function transformed(node: Schema): Schema {
  const out: Schema = { ...node };
  for (const k of SAME_VALUE) if (isSchema(node[k])) out[k] = transformed(node[k]);
  for (const k of SAME_VALUE_LISTS) {
    const list = node[k];
    if (Array.isArray(list)) out[k] = list.map((s) => (isSchema(s) ? transformed(s) : s));
  }
  for (const k of NESTED) if (isSchema(node[k])) out[k] = templated(node[k]);
  for (const k of NESTED_MAPS) {
    const map = node[k];
    if (isSchema(map)) out[k] = Object.fromEntries(Object.entries(map).map(([p, s]) => [p, isSchema(s) ? templated(s) : s]));
  }
  return out;
}

/** The editor schema of one action's input: the catalog schema, templates allowed, described for hovers. */
export function editorInputSchema(name: keyof typeof ACTION_CATALOG): Schema {
  const spec = ACTION_CATALOG[name];
  const schema = templated(structuredClone(spec.inputSchema as JsonSchema) as Schema);
  return { title: `${name} input`, description: spec.description, ...schema };
}

/** One `if action == X then input: <schema>` rule per action. */
function inputRules(): Schema[] {
  return ACTION_NAMES.map((name) => ({
    if: { type: 'object', required: ['action'], properties: { action: { const: name } } },
    then: { properties: { input: { $ref: `#/$defs/${ACTION_INPUT_DEF_PREFIX}${name}` } } },
  }));
}

/**
 * The workflow schema with its generated parts rebuilt from the catalog. `current` is the committed schema; its
 * hand-written parts are kept as they are, and key order is kept so regenerating changes nothing else.
 */
export function generateWorkflowSchema(current: Schema): Schema {
  const schema = structuredClone(current);
  const defs = schema.$defs;
  if (!isSchema(defs)) throw new Error('workflow schema: $defs is missing');
  const action = defs.action;
  if (!isSchema(action)) throw new Error('workflow schema: $defs.action is missing');
  action.enum = [...ACTION_NAMES];
  for (const host of HOSTS) {
    const def = defs[host];
    if (!isSchema(def)) throw new Error(`workflow schema: $defs.${host} is missing`);
    def.allOf = inputRules();
  }
  for (const key of Object.keys(defs)) if (key.startsWith(ACTION_INPUT_DEF_PREFIX)) delete defs[key];
  for (const name of ACTION_NAMES) defs[`${ACTION_INPUT_DEF_PREFIX}${name}`] = editorInputSchema(name);
  return schema;
}

const INLINE_WIDTH = 120;

const isPlain = (v: unknown): boolean => !isSchema(v) && !Array.isArray(v);

/** A value on one line. */
function inline(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`;
  if (!isSchema(value)) return JSON.stringify(value);
  const parts = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${inline(v)}`);
  return parts.length === 0 ? '{}' : `{ ${parts.join(', ')} }`;
}

/**
 * JSON text as the schema files are written: two-space indent, and any object or array on one line when it fits
 * (so `"required": ["id", "name"]` stays readable).
 */
export function formatJson(value: unknown, indent = '', lead = 0): string {
  if (isPlain(value)) return JSON.stringify(value);
  const flat = inline(value);
  if (indent.length + lead + flat.length <= INLINE_WIDTH) return flat;
  const inner = `${indent}  `;
  if (Array.isArray(value)) return `[\n${value.map((v) => inner + formatJson(v, inner)).join(',\n')}\n${indent}]`;
  const lines = Object.entries(value as Schema).map(([k, v]) => {
    const key = `${JSON.stringify(k)}: `;
    return inner + key + formatJson(v, inner, key.length);
  });
  return `{\n${lines.join(',\n')}\n${indent}}`;
}

/** The file text of a schema. */
export function schemaText(schema: unknown): string {
  return `${formatJson(schema)}\n`;
}
