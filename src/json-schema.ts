import { Ajv, type Options as AjvOptions } from 'ajv';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// Every Ajv Station builds, and the one way its errors are worded, live here: a leaf module (it imports only
// packages) so config/, definitions/, bundles/, engine/ and server/ share it without depending on each other.

// ajv-formats is CommonJS: under NodeNext its default import is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** The one ajv instance (draft 2020-12, all errors, formats) for every document Station validates. */
export const ajv = new Ajv2020({ allErrors: true, strict: false, allowUnionTypes: true, verbose: true });
addFormats(ajv);

const cache = new Map<object, ValidateFunction>();

/** Compiles a schema once; the same schema object gives back the same validator. */
export function compileSchema(schema: object): ValidateFunction {
  let fn = cache.get(schema);
  if (!fn) {
    const id = (schema as { $id?: unknown }).$id;
    const existing = typeof id === 'string' ? ajv.getSchema(id) : undefined;
    fn = existing ?? ajv.compile(schema);
    cache.set(schema, fn);
  }
  return fn;
}

/**
 * HTTP request validation (Fastify's validator compiler). Ajv fixes type coercion per instance, so requests get their
 * own pair: query strings and path parameters arrive as text and are coerced (`?limit=5`); JSON bodies are not, so
 * `{"dryRun": "true"}` is refused instead of silently becoming another value.
 */
export function requestValidator(part: 'body' | 'text'): Ajv {
  const coerceTypes: AjvOptions['coerceTypes'] = part === 'body' ? false : 'array';
  const instance = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: false, allErrors: true, addUsedSchema: false });
  addFormats(instance);
  return instance;
}

/** One schema violation, as the API reports it in `details.errors`. */
export interface SchemaViolation {
  path: string;
  message: string;
  /** The required property that is absent. */
  missing?: string;
  /** The property the schema does not allow. */
  field?: string;
}

/** Ajv's errors as violations: the instance path ("/" for the document itself) and the property concerned. */
export function schemaViolations(errors: readonly ErrorObject[] | null | undefined): SchemaViolation[] {
  return (errors ?? []).map((e) => ({
    path: e.instancePath || '/',
    message: e.message ?? 'invalid',
    ...(e.keyword === 'required' ? { missing: String((e.params as { missingProperty?: unknown }).missingProperty) } : {}),
    ...(e.keyword === 'additionalProperties' ? { field: String((e.params as { additionalProperty?: unknown }).additionalProperty) } : {}),
  }));
}

/** One violation in words: "/path: message (property)". */
export function violationText(v: SchemaViolation): string {
  return `${v.path}: ${v.message}${v.missing !== undefined ? ` (${v.missing})` : ''}${v.field !== undefined ? ` (${v.field})` : ''}`;
}

/** Ajv's errors on one line, "; " between violations. */
export function formatSchemaErrors(errors: readonly ErrorObject[] | null | undefined): string {
  const violations = schemaViolations(errors);
  return violations.length === 0 ? 'invalid' : violations.map(violationText).join('; ');
}
