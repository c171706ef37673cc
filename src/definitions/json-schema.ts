import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: under NodeNext its default import is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** One shared ajv instance (draft 2020-12, all errors, formats) for every schema Station compiles. */
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

/** One readable line per ajv error: "/path: message". */
export function formatAjvErrors(errors: ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'invalid';
  return errors.map((e) => `${e.instancePath || '/'}: ${e.message ?? 'invalid'}`).join('; ');
}
