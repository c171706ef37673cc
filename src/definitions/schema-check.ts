import type { ErrorObject } from 'ajv/dist/2020.js';
import workflowSchema from '../../schemas/workflow.schema.json' with { type: 'json' };
import { ACTION_NAMES } from '../executors/catalog.js';
import type { DiagnosticCode } from '../errors.js';
import { compileSchema } from '../json-schema.js';
import { describePointer, didYouMean } from './where.js';

export interface SchemaIssue {
  code: DiagnosticCode;
  message: string;
  pointer: string;
  at: 'key' | 'value';
}

/**
 * Prefix of the `$defs` that scripts/gen-schemas.ts generates from the executor catalog (`input.shell.exec`, ...),
 * with the `if action == X then input: <schema>` rules that point at them: they are for editors.
 */
export const ACTION_INPUT_DEF_PREFIX = 'input.';

type Schema = { [keyword: string]: unknown };

const isInputRule = (rule: unknown): boolean => {
  const ref = (rule as { then?: { properties?: { input?: { $ref?: unknown } } } }).then?.properties?.input?.$ref;
  return typeof ref === 'string' && ref.startsWith(`#/$defs/${ACTION_INPUT_DEF_PREFIX}`);
};

/**
 * The workflow schema as sync checks it: without the editors' input rules. Sync checks inputs against the catalog
 * itself (semantic.ts), knowing which values are templates and wording the errors for the action, and the rules
 * would triple the cost of this check. Without `$id`, so it never stands in for the editors' schema in ajv.
 */
function syncSchema(): Schema {
  const { $id: _id, ...schema } = structuredClone(workflowSchema) as Schema;
  const defs = schema.$defs as Record<string, Schema>;
  for (const [name, def] of Object.entries(defs)) {
    if (name.startsWith(ACTION_INPUT_DEF_PREFIX)) delete defs[name];
    else if (Array.isArray(def.allOf)) {
      const kept = def.allOf.filter((rule) => !isInputRule(rule));
      if (kept.length > 0) def.allOf = kept;
      else delete def.allOf;
    }
  }
  return schema;
}

let checked: Schema | undefined;

/** Validates a normalized definition against schemas/workflow.schema.json and words each error for its author. */
export function checkSchema(doc: unknown): SchemaIssue[] {
  // Built and compiled on first use (then cached): commands that never validate don't pay for it.
  checked ??= syncSchema();
  const validateWorkflow = compileSchema(checked);
  if (validateWorkflow(doc)) return [];
  return schemaIssues(doc, validateWorkflow.errors ?? []);
}

/** Turns ajv errors into one readable issue per problem (the if/then dispatch errors are noise and dropped). */
export function schemaIssues(doc: unknown, errors: ErrorObject[], rootLabel = 'workflow'): SchemaIssue[] {
  const seen = new Set<string>();
  const issues: SchemaIssue[] = [];
  for (const e of mergeAlternatives(errors)) {
    if (e.keyword === 'if' || e.keyword === 'allOf' || e.keyword === 'anyOf' || e.keyword === 'oneOf') continue;
    const issue = toIssue(doc, e, rootLabel);
    const key = `${issue.pointer}|${issue.code}|${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  // anyOf/oneOf failures carry no detail of their own; keep them only when nothing else explains the problem.
  if (issues.length === 0) {
    for (const e of errors) issues.push(toIssue(doc, e, rootLabel));
  }
  return issues;
}

/**
 * "One of these fields is required" (oneOf/anyOf of `required`) comes from ajv as one `required` error per
 * alternative; they are merged into one error that names the choice.
 */
function mergeAlternatives(errors: ErrorObject[]): ErrorObject[] {
  const alternatives = errors.filter(
    (e) => e.keyword === 'required' && /\/(oneOf|anyOf)\/\d+\/required$/.test(e.schemaPath),
  );
  if (alternatives.length < 2) return errors;
  const byPath = new Map<string, string[]>();
  for (const e of alternatives) {
    const list = byPath.get(e.instancePath) ?? [];
    list.push(String((e.params as { missingProperty: string }).missingProperty));
    byPath.set(e.instancePath, list);
  }
  const merged: ErrorObject[] = [];
  for (const [instancePath, names] of byPath) {
    merged.push({
      keyword: 'required',
      instancePath,
      schemaPath: '#/oneOf',
      params: { missingProperty: names.join('" or "') },
      message: 'must have one of the fields',
    });
  }
  return [...errors.filter((e) => !alternatives.includes(e)), ...merged];
}

function toIssue(doc: unknown, e: ErrorObject, rootLabel: string): SchemaIssue {
  const pointer = e.instancePath;
  const described = describePointer(doc, pointer);
  const where = described === 'workflow' ? rootLabel : described;
  const field = fieldName(pointer);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const allowed = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const guess = didYouMean(key, allowed);
      const hint = guess ? `did you mean "${guess}"?` : `allowed fields: ${allowed.join(', ')}`;
      return {
        code: 'STN_E_SCHEMA_UNKNOWN_FIELD',
        message: `unknown field "${key}" in ${where}: ${hint}`,
        pointer: `${pointer}/${key}`,
        at: 'key',
      };
    }
    case 'required': {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      return {
        code: 'STN_E_SCHEMA_REQUIRED',
        message: `${where} is missing the required field "${missing}"`,
        pointer,
        at: 'key',
      };
    }
    case 'dependentRequired': {
      const p = e.params as { property: string; missingProperty: string };
      return {
        code: 'STN_E_SCHEMA_REQUIRED',
        message: `${where} has "${p.property}", which needs the field "${p.missingProperty}"`,
        pointer,
        at: 'key',
      };
    }
    case 'type':
      return {
        code: 'STN_E_SCHEMA_TYPE',
        message: `"${field}" in ${where} ${e.message ?? 'has the wrong type'} (got ${typeName(e.data)})`,
        pointer,
        at: 'value',
      };
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      if (field === 'action' && allowed.length === ACTION_NAMES.length) {
        const guess = typeof e.data === 'string' ? didYouMean(e.data, ACTION_NAMES) : undefined;
        return {
          code: 'STN_E_UNKNOWN_ACTION',
          message:
            `unknown action ${JSON.stringify(e.data)} in ${where}: ` +
            (guess ? `did you mean "${guess}"?` : `known actions: ${ACTION_NAMES.join(', ')}`),
          pointer,
          at: 'value',
        };
      }
      const guess = typeof e.data === 'string' ? didYouMean(e.data, allowed.map(String)) : undefined;
      return {
        code: 'STN_E_SCHEMA_VALUE',
        message:
          `"${field}" in ${where} is ${JSON.stringify(e.data)}; allowed: ${allowed.map((a) => JSON.stringify(a)).join(', ')}` +
          (guess ? ` (did you mean "${guess}"?)` : ''),
        pointer,
        at: 'value',
      };
    }
    case 'const':
      return {
        code: 'STN_E_SCHEMA_VALUE',
        message: `"${field}" in ${where} must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`,
        pointer,
        at: 'value',
      };
    default:
      return {
        code: 'STN_E_SCHEMA_VALUE',
        message: `"${field}" in ${where} ${e.message ?? 'is invalid'}${e.data !== undefined && typeof e.data !== 'object' ? ` (got ${JSON.stringify(e.data)})` : ''}`,
        pointer,
        at: 'value',
      };
  }
}

function fieldName(pointer: string): string {
  const last = pointer.slice(pointer.lastIndexOf('/') + 1);
  return last === '' ? '(document)' : last;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}
