import { Cron } from 'croner';
import {
  checkExpressionCost,
  checkExpressionSyntax,
  collectTemplateExpressions,
  escapePointer,
  parseStarlark,
  StarlarkSyntaxError,
} from '../expressions/index.js';
import { ACTION_CATALOG, type ActionName } from '../executors/catalog.js';
import type { DiagnosticCode } from '../errors.js';
import { reservedContextPaths } from './context-paths.js';
import { ajv, compileSchema, formatSchemaErrors } from '../json-schema.js';
import { schemaIssues } from './schema-check.js';
import type { JsonValue, State, WorkflowSpec } from './types.js';
import { didYouMean } from './where.js';

export interface SemanticIssue {
  severity: 'error' | 'warning';
  code: DiagnosticCode;
  message: string;
  pointer: string;
  at: 'key' | 'value';
  /** A position inside the string at `pointer` (1-based line and column of the string's own text). */
  inString?: { line: number; col: number };
}

/** The semantic checks (README "What validation checks"), run on a definition that already matches the schema. */
export function checkSemantics(spec: WorkflowSpec): SemanticIssue[] {
  const out: SemanticIssue[] = [];
  const err = (code: DiagnosticCode, message: string, pointer: string, at: 'key' | 'value' = 'value') =>
    out.push({ severity: 'error', code, message, pointer, at });

  checkScope(spec.states, spec.start, '', 'the workflow', out);
  checkTriggers(spec, err, out);
  templates(spec.output, '/output', err, out);
  for (const r of reservedContextPaths(spec)) {
    err(
      'STN_E_PATH_RESERVED',
      `state "${r.state}" ${r.field} "${r.value}" uses "${r.key}", which is reserved (__proto__, constructor and prototype reach into the daemon's objects): name the key differently`,
      r.pointer,
    );
  }
  if (spec.inputSchema !== undefined && !ajv.validateSchema(spec.inputSchema)) {
    err('STN_E_INPUT_SCHEMA', `inputSchema is not a valid JSON Schema: ${formatSchemaErrors(ajv.errors)}`, '/inputSchema');
  }
  if (spec.outputSchema !== undefined && !ajv.validateSchema(spec.outputSchema)) {
    err('STN_E_OUTPUT_SCHEMA', `outputSchema is not a valid JSON Schema: ${formatSchemaErrors(ajv.errors)}`, '/outputSchema');
  }
  return out;
}

type Err = (code: DiagnosticCode, message: string, pointer: string, at?: 'key' | 'value') => void;

function checkScope(states: State[], start: string | undefined, base: string, scope: string, out: SemanticIssue[]): void {
  const err: Err = (code, message, pointer, at = 'value') =>
    out.push({ severity: 'error', code, message, pointer, at });
  const names = new Map<string, number>();
  states.forEach((s, i) => {
    if (names.has(s.name)) {
      err('STN_E_DUPLICATE_NAME', `state name "${s.name}" is used twice in ${scope}: rename one`, `${base}/states/${i}/name`);
    } else names.set(s.name, i);
  });
  const target = (name: string | undefined, pointer: string, what: string) => {
    if (name === undefined || names.has(name)) return;
    const guess = didYouMean(name, names.keys());
    err(
      'STN_E_UNKNOWN_TARGET',
      `${what} "${name}" is not a state in ${scope}` + (guess ? `: did you mean "${guess}"?` : `: states here are ${[...names.keys()].join(', ')}`),
      pointer,
    );
  };
  target(start, `${base}/start`, 'start');

  states.forEach((s, i) => {
    const p = `${base}/states/${i}`;
    const label = `state "${s.name}"`;
    if (s.type === 'switch') {
      s.conditions.forEach((c, j) => {
        target(c.next, `${p}/conditions/${j}/next`, `${label} condition target`);
        const bad = checkExpressionSyntax(c.if);
        if (bad) err('STN_E_CEL_SYNTAX', `${label} condition "${c.if}" is not valid CEL: ${bad.message}`, `${p}/conditions/${j}/if`);
        else costIssue(c.if, `${label} condition "${c.if}"`, `${p}/conditions/${j}/if`, out);
      });
      target(s.defaultNext, `${p}/defaultNext`, `${label} defaultNext`);
      return;
    }
    if (s.next !== undefined && s.end === true) {
      err('STN_E_NO_TRANSITION', `${label} has both "next" and "end: true": keep one`, `${p}/next`, 'key');
    } else if (s.next === undefined && s.end !== true) {
      err('STN_E_NO_TRANSITION', `${label} needs "next: <state>" or "end: true"`, p, 'key');
    }
    target(s.next, `${p}/next`, `${label} next`);
    switch (s.type) {
      case 'operation':
        target(s.onError, `${p}/onError`, `${label} onError`);
        checkActionInput(s.action, s.input, `${p}/input`, label, out);
        templates(s.input, `${p}/input`, err, out);
        if (s.compensation) {
          checkActionInput(s.compensation.action, s.compensation.input, `${p}/compensation/input`, `${label} compensation`, out);
          templates(s.compensation.input, `${p}/compensation/input`, err, out);
        }
        break;
      case 'inject':
        templates(s.data, `${p}/data`, err, out);
        break;
      case 'parallel': {
        const branchNames = new Set<string>();
        s.branches.forEach((b, j) => {
          if (branchNames.has(b.name)) {
            err('STN_E_DUPLICATE_NAME', `branch name "${b.name}" is used twice in ${label}`, `${p}/branches/${j}/name`);
          }
          branchNames.add(b.name);
          checkScope(b.states, b.start, `${p}/branches/${j}`, `branch "${b.name}" of ${label}`, out);
        });
        break;
      }
      case 'foreach':
        checkScope(s.iterator.states, s.iterator.start, `${p}/iterator`, `the iterator of ${label}`, out);
        break;
      case 'transform':
        checkTransform(s.expression, `${p}/expression`, label, out);
        break;
      default: {
        const never: never = s;
        throw new Error(`unhandled state type ${JSON.stringify(never)}`);
      }
    }
  });
  warnUnreachable(states, start, base, out);
}

/** A transform's expression must parse in the Starlark subset; the error names the line and column of the mistake. */
function checkTransform(expression: string, pointer: string, label: string, out: SemanticIssue[]): void {
  try {
    parseStarlark(expression);
  } catch (e) {
    if (!(e instanceof StarlarkSyntaxError)) throw e;
    out.push({
      severity: 'error',
      code: 'STN_E_STARLARK_SYNTAX',
      message: `${label} expression is not valid Starlark (line ${e.line} of the expression): ${e.reason}`,
      pointer,
      at: 'value',
      inString: { line: e.line, col: e.col },
    });
  }
}

function successors(s: State): string[] {
  switch (s.type) {
    case 'switch':
      return [...s.conditions.map((c) => c.next), ...(s.defaultNext ? [s.defaultNext] : [])];
    case 'operation':
      return [s.next, s.onError].filter((x): x is string => x !== undefined);
    default:
      return s.next !== undefined ? [s.next] : [];
  }
}

function warnUnreachable(states: State[], start: string | undefined, base: string, out: SemanticIssue[]): void {
  const byName = new Map(states.map((s) => [s.name, s]));
  const first = start ?? states[0]?.name;
  const seen = new Set<string>();
  const queue = first !== undefined ? [first] : [];
  while (queue.length > 0) {
    const name = queue.pop() as string;
    const s = byName.get(name);
    if (!s || seen.has(name)) continue;
    seen.add(name);
    queue.push(...successors(s));
  }
  states.forEach((s, i) => {
    if (!seen.has(s.name)) {
      out.push({
        severity: 'warning',
        code: 'STN_W_UNREACHABLE_STATE',
        message: `state "${s.name}" can never be reached from "${first ?? ''}": link it with next, or delete it`,
        pointer: `${base}/states/${i}/name`,
        at: 'value',
      });
    }
  });
}

function templates(value: JsonValue | undefined, pointer: string, err: Err, out: SemanticIssue[]): void {
  if (value === undefined) return;
  for (const found of collectTemplateExpressions(value, pointer)) {
    if ('error' in found) {
      err('STN_E_TEMPLATE_SYNTAX', `template at ${found.pointer} is malformed: ${found.error.message}`, found.pointer);
    } else {
      const bad = checkExpressionSyntax(found.source);
      if (bad) err('STN_E_CEL_SYNTAX', `{{ ${found.source} }} is not valid CEL: ${bad.message}`, found.pointer);
      else costIssue(found.source, `{{ ${found.source} }}`, found.pointer, out);
    }
  }
}

/** The static cost estimate of a valid expression (docs/security.md): an error, a warning, or nothing. */
function costIssue(source: string, what: string, pointer: string, out: SemanticIssue[]): void {
  const verdict = checkExpressionCost(source);
  if (!verdict) return;
  const error = verdict.severity === 'error';
  out.push({
    severity: verdict.severity,
    code: error ? 'STN_E_CEL_COST' : 'STN_W_CEL_COST',
    message: `${what} ${error ? 'is refused' : 'may be stopped at run time'}: ${verdict.message}`,
    pointer,
    at: 'value',
  });
}

/** Pointers of every string holding a template: their type is only known at run time. */
function templatePointers(value: unknown, pointer: string, out: string[]): void {
  if (typeof value === 'string') {
    if (value.includes('{{')) out.push(pointer);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => templatePointers(v, `${pointer}/${i}`, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) templatePointers(v, `${pointer}/${escapePointer(k)}`, out);
  }
}

/** Literal inputs must match the action's input schema; values that are templates are checked at run time instead. */
function checkActionInput(action: string, input: JsonValue | undefined, pointer: string, label: string, out: SemanticIssue[]): void {
  const spec = (ACTION_CATALOG as Record<string, { inputSchema: object } | undefined>)[action as ActionName];
  if (!spec) return; // unknown actions are reported by the schema check
  const value = input ?? {};
  if (typeof value === 'string' && value.includes('{{')) return;
  const validate = compileSchema(spec.inputSchema);
  if (validate(value)) return;
  const dynamic: string[] = [];
  templatePointers(value, '', dynamic);
  const errors = (validate.errors ?? []).filter(
    (e) => !dynamic.some((d) => e.instancePath === d || e.instancePath.startsWith(`${d}/`)),
  );
  for (const issue of schemaIssues(value, errors, `the ${action} input`)) {
    out.push({
      severity: 'error',
      code: 'STN_E_ACTION_INPUT',
      message: `${label}: ${issue.message}`,
      pointer: pointer + issue.pointer,
      at: issue.at,
    });
  }
}

const zoneCache = new Map<string, boolean>();
function validTimeZone(tz: string): boolean {
  let ok = zoneCache.get(tz);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      ok = true;
    } catch {
      ok = false;
    }
    zoneCache.set(tz, ok);
  }
  return ok;
}

const cronCache = new Map<string, string | undefined>();

/** Validates a cron schedule (5 or 6 fields); returns an error message or undefined. Verdicts are cached. */
export function cronError(schedule: string): string | undefined {
  if (cronCache.has(schedule)) return cronCache.get(schedule);
  const verdict = checkCron(schedule);
  if (cronCache.size > 10_000) cronCache.clear();
  cronCache.set(schedule, verdict);
  return verdict;
}

function checkCron(schedule: string): string | undefined {
  const fields = schedule.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) return `has ${fields} fields; use 5 (minute hour day month weekday) or 6 (with seconds first)`;
  try {
    new Cron(schedule, { paused: true });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function checkTriggers(spec: WorkflowSpec, err: Err, out: SemanticIssue[]): void {
  const names = new Set<string>();
  (spec.triggers ?? []).forEach((t, i) => {
    const p = `/triggers/${i}`;
    if (names.has(t.name)) err('STN_E_TRIGGER_NAME', `trigger name "${t.name}" is used twice: rename one`, `${p}/name`);
    names.add(t.name);
    templates(t.input, `${p}/input`, err, out);
    if (t.type !== 'cron') return;
    const bad = cronError(t.schedule);
    if (bad) err('STN_E_CRON_INVALID', `trigger "${t.name}" schedule "${t.schedule}" is not a valid cron expression: ${bad}`, `${p}/schedule`);
    if (t.timezone !== undefined && !validTimeZone(t.timezone)) {
      err('STN_E_TIMEZONE_INVALID', `trigger "${t.name}" time zone "${t.timezone}" is not an IANA zone (e.g. Europe/Berlin, UTC)`, `${p}/timezone`);
    }
  });
}
