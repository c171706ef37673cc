/**
 * Bundle variables (template.json `variables`): `--var K=V` parsed by the declared type, and the values an
 * environment gives checked the way a run will see them (bundle entry vars over environment vars over defaults).
 */
import type { JsonObject, JsonValue } from '../definitions/types.js';
import { StationError } from '../errors.js';
import { SECRET_NAME, type Manifest, type VariableSpec, type VariableType } from './manifest.js';

/** Parses `--var K=V` arguments; V is read as the variable's declared type (JSON for objects and arrays). */
export function parseVarArgs(args: readonly string[], manifest: Manifest): JsonObject {
  const declared = manifest.variables ?? {};
  const out: JsonObject = {};
  const problems: string[] = [];
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) {
      problems.push(`--var "${arg}": expected NAME=VALUE`);
      continue;
    }
    const name = arg.slice(0, eq);
    const text = arg.slice(eq + 1);
    // Own properties only: "constructor" or "toString" must not find Object.prototype's.
    const spec = Object.hasOwn(declared, name) ? declared[name] : undefined;
    if (!spec) {
      const names = Object.keys(declared);
      problems.push(`--var ${name}: bundle ${manifest.name} declares no variable "${name}" (declared: ${names.length > 0 ? names.join(', ') : 'none'})`);
      continue;
    }
    const parsed = parseTyped(text, spec.type);
    if (parsed === undefined) problems.push(`--var ${name}: "${text}" is not ${article(spec.type)}`);
    else setOwn(out, name, parsed);
  }
  if (problems.length > 0) throw new StationError('STN_E_BUNDLE_VARIABLES', problems.join('\n'), { problems });
  return out;
}

function parseTyped(text: string, type: VariableType): JsonValue | undefined {
  switch (type) {
    case 'string':
      return text;
    case 'number':
      return text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : undefined;
    case 'integer':
      return /^-?\d+$/.test(text.trim()) && Number.isSafeInteger(Number(text)) ? Number(text) : undefined;
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : undefined;
    case 'object':
    case 'array': {
      try {
        const v = JSON.parse(text) as JsonValue;
        return hasType(v, type) ? v : undefined;
      } catch {
        return undefined;
      }
    }
    default: {
      const never: never = type;
      return never;
    }
  }
}

function hasType(v: JsonValue, type: VariableType): boolean {
  switch (type) {
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    default: {
      const never: never = type;
      return never;
    }
  }
}

function article(type: VariableType): string {
  return type === 'integer' || type === 'array' || type === 'object' ? `an ${type}` : `a ${type}`;
}

/** Where a variable's value comes from, for messages, `stn bundle install` and `stn sync` output. */
export type VariableSource = 'bundle entry' | 'environment vars' | 'default';

export interface ResolvedVariable {
  name: string;
  spec: VariableSpec;
  value: JsonValue | undefined;
  source: VariableSource | undefined;
}

const own = (o: JsonObject, k: string): JsonValue | undefined => (Object.hasOwn(o, k) ? o[k] : undefined);

/** Sets an own property, even for a name like __proto__ (a plain assignment would set the prototype instead). */
export function setOwn<T>(o: Record<string, T>, k: string, v: T): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/**
 * THE precedence rule (docs/bundles.md "Variables"): the bundle entry's `vars` over the environment's `vars` over the
 * bundle's declared `default`. Every caller (install checks, sync) asks here.
 */
function pick(name: string, entryVars: JsonObject, envVars: JsonObject, spec: VariableSpec | undefined): { value: JsonValue | undefined; source: VariableSource | undefined } {
  if (own(entryVars, name) !== undefined) return { value: own(entryVars, name), source: 'bundle entry' };
  if (own(envVars, name) !== undefined) return { value: own(envVars, name), source: 'environment vars' };
  if (spec?.default !== undefined) return { value: spec.default, source: 'default' };
  return { value: undefined, source: undefined };
}

/** Resolves every declared variable for one environment, in the order a run sees them. */
export function resolveVariables(manifest: Manifest, entryVars: JsonObject, envVars: JsonObject): ResolvedVariable[] {
  return Object.entries(manifest.variables ?? {}).map(([name, spec]) => ({ name, spec, ...pick(name, entryVars, envVars, spec) }));
}

/** A run's `vars`: every name with a value, and where each value came from. */
export interface RunVariables {
  vars: JsonObject;
  sources: Record<string, VariableSource>;
}

/**
 * The `vars` a run sees: for an environment's own workflows its `vars`; for a bundle's workflows every declared
 * variable, environment var and entry var, each by the precedence rule. Undeclared names are kept (a workflow may
 * read an environment var the bundle does not declare).
 */
export function runVariables(envVars: JsonObject, bundle?: { manifest: Manifest | undefined; entryVars: JsonObject }): RunVariables {
  const declared = bundle?.manifest?.variables ?? {};
  const entryVars = bundle?.entryVars ?? {};
  const out: RunVariables = { vars: {}, sources: {} };
  for (const name of new Set([...Object.keys(declared), ...Object.keys(envVars), ...Object.keys(entryVars)])) {
    const spec = Object.hasOwn(declared, name) ? declared[name] : undefined;
    const { value, source } = pick(name, entryVars, envVars, spec);
    if (value === undefined || source === undefined) continue;
    setOwn(out.vars, name, value);
    setOwn(out.sources, name, source);
  }
  return out;
}

/**
 * Problems with one environment's values: a required variable without a value, a value of the wrong type, or a
 * secret variable whose value is not a secret name (someone pasted the secret itself).
 */
export function variableProblems(manifest: Manifest, entryVars: JsonObject, envVars: JsonObject, env: string): string[] {
  const problems: string[] = [];
  for (const v of resolveVariables(manifest, entryVars, envVars)) {
    const where = v.source === 'environment vars' ? `environments/${env} vars.${v.name}` : `${v.name}`;
    if (v.value === undefined) {
      if (v.spec.required) {
        problems.push(`${env}: required variable ${v.name} has no value: pass --var ${v.name}=...${v.spec.description ? ` (${v.spec.description})` : ''}`);
      }
      continue;
    }
    if (!hasType(v.value, v.spec.type)) {
      problems.push(`${env}: ${where} is ${JSON.stringify(v.value)}, not ${article(v.spec.type)}`);
      continue;
    }
    if (v.spec.secret && !(typeof v.value === 'string' && SECRET_NAME.test(v.value))) {
      // Never echo the value: it may be the secret itself.
      problems.push(
        `${env}: secret variable ${v.name} must hold the NAME of a secret (letters, digits, _; read from STN_SECRET_<NAME>), never the secret itself`,
      );
    }
  }
  return problems;
}

/** Entry vars that the bundle does not declare (kept, but worth a note: a typo never reaches a workflow). */
export function undeclaredVariables(manifest: Manifest, entryVars: JsonObject): string[] {
  return Object.keys(entryVars).filter((k) => !Object.hasOwn(manifest.variables ?? {}, k));
}
