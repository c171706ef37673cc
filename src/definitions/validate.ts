import path from 'node:path';
import { canonicalJson, sha256 } from './hash.js';
import { normalizeWorkflow } from './normalize.js';
import { checkSchema } from './schema-check.js';
import { checkSemantics } from './semantic.js';
import { decodeSource, parseSource, readSourceFile } from './source.js';
import type { Diagnostic, WorkflowSpec } from './types.js';

/** Everything Station learned about one definition file. */
export interface DefinitionResult {
  /** Path as shown to the user (relative to the repository when known). */
  path: string;
  valid: boolean;
  /** The workflow id, when the file got far enough to declare one. */
  id: string | undefined;
  /** The normalized definition; set only when valid. */
  spec: WorkflowSpec | undefined;
  /** Canonical content hash of the normalized definition; set only when valid. */
  hash: string | undefined;
  /** The normalized definition as canonical JSON (sorted keys), what the hash is taken of; set only when valid. */
  canonical: string | undefined;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  notes: Diagnostic[];
}

/**
 * A validation result as sync needs it: the normalized definition already serialized. Worker threads send this
 * back, so the main thread copies one string instead of rebuilding an object tree per file.
 */
export interface CompactResult {
  id: string | undefined;
  valid: boolean;
  hash: string | undefined;
  /** JSON of the normalized definition; set only when valid. */
  specJson: string | undefined;
  /** The author's `version:` label and `name:`; set only when valid. */
  label: string | undefined;
  name: string | undefined;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

export function compactResult(r: DefinitionResult): CompactResult {
  return {
    id: r.id,
    valid: r.valid,
    hash: r.hash,
    specJson: r.canonical,
    label: r.spec?.version,
    name: r.spec?.name,
    errors: r.errors,
    warnings: r.warnings,
  };
}

export const DEFINITION_FILE = /\.workflow\.(ya?ml|json)$/;

/** The workflow id pattern (schemas/workflow.schema.json says the same). */
export const WORKFLOW_ID = /^[a-z0-9][a-z0-9._-]{0,127}$/;

/** Validates definition text: parse with positions → normalize → schema → semantic checks → hash. */
export function validateDefinitionText(text: string, displayPath: string): DefinitionResult {
  const result: DefinitionResult = {
    path: displayPath,
    valid: false,
    id: undefined,
    spec: undefined,
    hash: undefined,
    canonical: undefined,
    errors: [],
    warnings: [],
    notes: [],
  };
  const parsed = parseSource(text);
  if (!parsed.ok) {
    result.errors = parsed.errors;
    return result;
  }
  const { doc } = parsed;
  if (typeof doc.value !== 'object' || doc.value === null || Array.isArray(doc.value)) {
    result.errors.push({
      severity: 'error',
      code: 'STN_E_SCHEMA_TYPE',
      message: 'a workflow file must hold one mapping (id, version, name, states, ...)',
      line: 1,
      col: 1,
    });
    return result;
  }
  const rawId = (doc.value as { id?: unknown }).id;
  if (typeof rawId === 'string') result.id = rawId;

  const normalized = normalizeWorkflow(doc.value);
  const at = (pointer: string, where: 'key' | 'value') => doc.locate(normalized.origin(pointer), where);
  for (const n of normalized.notes) {
    result.notes.push({ severity: 'note', code: 'STN_N_NORMALIZED', message: n.message, pointer: n.pointer, ...doc.locate(n.pointer, 'key') });
  }

  for (const e of normalized.errors) {
    result.errors.push({ severity: 'error', code: e.code, message: e.message, pointer: e.pointer, ...doc.locate(e.pointer, e.at) });
  }
  // A spelling the normalizer refused is explained there: later words about the same field would only repeat it.
  const explained = (pointer: string) => {
    const o = normalized.origin(pointer);
    return normalized.errors.some((e) => o === e.pointer || o.startsWith(`${e.pointer}/`));
  };
  const schemaIssues = checkSchema(normalized.value);
  for (const issue of schemaIssues) {
    if (explained(issue.pointer)) continue;
    result.errors.push({ severity: 'error', code: issue.code, message: issue.message, pointer: issue.pointer, ...at(issue.pointer, issue.at) });
  }
  if (schemaIssues.length > 0) return sortDiagnostics(result);

  const spec = normalized.value as WorkflowSpec;
  for (const issue of checkSemantics(spec)) {
    if (explained(issue.pointer)) continue;
    const where = issue.inString
      ? doc.locateInString(normalized.origin(issue.pointer), issue.inString.line, issue.inString.col)
      : at(issue.pointer, issue.at);
    const d: Diagnostic = { severity: issue.severity, code: issue.code, message: issue.message, pointer: issue.pointer, ...where };
    (issue.severity === 'error' ? result.errors : result.warnings).push(d);
  }
  if (result.errors.length === 0) {
    result.valid = true;
    result.spec = spec;
    result.canonical = canonicalJson(spec);
    result.hash = sha256(result.canonical);
  }
  return sortDiagnostics(result);
}

/** Validates bytes (size and encoding checks first). */
export function validateDefinitionBytes(bytes: Uint8Array, displayPath: string): DefinitionResult {
  const decoded = decodeSource(bytes);
  if (!decoded.ok) return failed(displayPath, decoded.errors);
  return validateDefinitionText(decoded.text, displayPath);
}

/** Reads and validates one file. */
export function validateDefinitionFile(file: string, displayPath: string = path.relative(process.cwd(), file)): DefinitionResult {
  const read = readSourceFile(file);
  if (!read.ok) return failed(displayPath, read.errors);
  return validateDefinitionText(read.text, displayPath);
}

function failed(displayPath: string, errors: Diagnostic[]): DefinitionResult {
  return { path: displayPath, valid: false, id: undefined, spec: undefined, hash: undefined, canonical: undefined, errors, warnings: [], notes: [] };
}

function sortDiagnostics(r: DefinitionResult): DefinitionResult {
  const byPos = (a: Diagnostic, b: Diagnostic) => a.line - b.line || a.col - b.col;
  r.errors.sort(byPos);
  r.warnings.sort(byPos);
  r.notes.sort(byPos);
  return r;
}

/**
 * Identifies the validation rules. Sync skips re-validating a file whose bytes it has seen, but only under the same
 * rules: bump this whenever a change to parsing, normalization, the schema or the semantic checks could change a
 * verdict.
 */
export const CHECKER_VERSION = '3';

/**
 * Best-effort id of a file too broken to parse, so its error can be attached to the right definition: a top-level
 * `id:` line of YAML, or else the first `"id": "..."` of a JSON file. Both scans are linear (no backtracking).
 */
export function guessId(text: string): string | undefined {
  return (
    /^id:[ \t]*["']?([a-z0-9][a-z0-9._-]{0,127})["']?[ \t]*(#.*)?$/m.exec(text)?.[1] ??
    /"id"[ \t\r\n]*:[ \t\r\n]*"([a-z0-9][a-z0-9._-]{0,127})"/.exec(text.slice(0, 64 * 1024))?.[1]
  );
}
