import v8 from 'node:v8';
import { Environment, EvaluationError, ParseError, TypeError as CelTypeError } from '@marcbachmann/cel-js';
import type { ASTNode } from '@marcbachmann/cel-js';
import { instrument, Meter, metered } from './budget.js';
import { estimateCost, type CostVerdict } from './cost.js';
import { expressionLimits, type ExpressionLimits } from './limits.js';
import { ExpressionError } from './errors.js';
import type { ExpressionErrorCode } from './errors.js';
import { JsonConversionError, toCel, toJson } from './values.js';
import { SourceCache } from './lru.js';

/** A parsed CEL expression, ready to evaluate many times. */
export interface CompiledExpression {
  readonly source: string;
  /**
   * Evaluates against plain JSON variables and returns plain JSON. Throws ExpressionError (`STN_E_EXPR_BUDGET` when
   * it goes over its cost budget). Pass `meter` to share one budget between several expressions (a template, a
   * switch); without it the evaluation gets a budget of its own.
   */
  evaluate(vars: Record<string, unknown>, meter?: Meter): unknown;
}

// `matches()` runs a JavaScript RegExp, one call the cost budget cannot stop: a pattern such as `(a+)+$` on 30
// characters of untrusted data backtracks for minutes. With this flag V8 switches a regular expression that backtracks
// excessively to its linear-time engine (same results; patterns with backreferences or lookaround keep backtracking).
v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

// Creating an Environment is expensive: one for the process. Variables are undeclared (every context key may be one),
// list/map literals may mix types (templates build objects such as `{"name": n, "count": 3}`), `.?` is on.
const env = new Environment({
  unlistedVariablesAreDyn: true,
  homogeneousAggregateLiterals: false,
  enableOptionalTypes: true,
});

// CEL has no int/double arithmetic. Because whole JSON numbers become ints (values.ts), `price * 1.2` would work or
// fail depending on whether the price happens to be whole; mixed operators make the result a double either way.
const arithmetic = {
  '+': (a: number, b: number) => a + b,
  '-': (a: number, b: number) => a - b,
  '*': (a: number, b: number) => a * b,
  '/': (a: number, b: number) => a / b,
};
for (const [op, fn] of Object.entries(arithmetic)) {
  env.registerOperator(`int ${op} double: double`, (a: bigint, b: number) => fn(Number(a), b));
  env.registerOperator(`double ${op} int: double`, (a: number, b: bigint) => fn(a, Number(b)));
}
// Variables compare across int/double at run time already; this covers literals (`1 == 1.0`). `!=` and
// `double == int` come with it.
env.registerOperator('int == double', (a: bigint, b: number) => Number(a) === b);

const cache = new SourceCache<CompiledExpression>(5_000);

/**
 * Parses a CEL expression once; the result is cached by source text (least recently used entries are dropped past
 * 5,000). Throws ExpressionError `STN_E_EXPR_SYNTAX`.
 */
export function compileExpression(source: string): CompiledExpression {
  return cache.get(source, compile);
}

function compile(source: string): CompiledExpression {
  let program: ReturnType<Environment['parse']>;
  try {
    program = env.parse(source);
  } catch (err) {
    throw toExpressionError(err, source);
  }
  // Only the variables the expression names are converted, not the whole (possibly large) context.
  const roots = [...collectIdentifiers(program.ast)];
  // Most expressions (paths, comparisons of scalars) have nothing to meter: they skip the meter altogether.
  const hasCost = instrument(program.ast);
  return {
    source,
    evaluate(vars, meter) {
      const celVars = Object.create(null) as Record<string, unknown>;
      const done = meter?.conversionsOf(vars);
      for (const name of roots) {
        if (!Object.hasOwn(vars, name)) continue;
        let value = done?.get(name);
        if (value === undefined) {
          value = toCel(vars[name]);
          done?.set(name, value);
        }
        celVars[name] = value;
      }
      if (!hasCost) {
        try {
          return toJson(program(celVars));
        } catch (err) {
          throw toExpressionError(err, source);
        }
      }
      const m = meter ?? new Meter();
      let result: unknown;
      try {
        result = metered(m, () => program(celVars));
      } catch (err) {
        throw m.exceeded !== undefined ? budgetError(m.exceeded, source) : toExpressionError(err, source);
      }
      // `||`, `&&` and `all`/`exists` swallow errors of one side when the other decides: a budget error must not be.
      if (m.exceeded !== undefined) throw budgetError(m.exceeded, source);
      try {
        return toJson(result);
      } catch (err) {
        throw toExpressionError(err, source);
      }
    },
  };
}

function budgetError(why: string, source: string): ExpressionError {
  const reason = `the expression was stopped: ${why}`;
  return new ExpressionError('STN_E_EXPR_BUDGET', `${reason} in ${source}`, { expression: source, reason });
}

/**
 * Checks an expression without evaluating it, for validation at sync time: syntax, plus the static checks that are
 * sure to fail at run time whatever the data (unknown functions, `has()` without a field, `1 + "a"`).
 */
export function checkExpressionSyntax(source: string): { message: string; offset?: number } | undefined {
  if (isSimplePath(source)) return undefined;
  return staticVerdict(source).syntax;
}

/**
 * The static cost check of an expression, for validation at sync time (cost.ts): an error when it is sure to go over
 * the budget or nests comprehensions too deeply, a warning when long lists in the context would make it go over.
 * Expressions that do not parse get no verdict here (checkExpressionSyntax reports them).
 */
export function checkExpressionCost(source: string): CostVerdict | undefined {
  if (isSimplePath(source)) return undefined;
  return staticVerdict(source).cost;
}

/** `a.b.c`: by far the most common expression, and always valid CEL unless it starts with a reserved word. */
const SIMPLE_PATH = /^\s*[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\s*$/;
const RESERVED = new Set([
  'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace',
  'return', 'var', 'void', 'while', 'in',
]);
const LITERALS = new Set(['true', 'false', 'null']);
const isSimplePath = (source: string): boolean => {
  if (!SIMPLE_PATH.test(source)) return false;
  const parts = source.trim().split('.');
  return !parts.some((p) => RESERVED.has(p)) && !(parts.length > 1 && LITERALS.has(parts[0] ?? ''));
};

interface StaticVerdict {
  syntax: { message: string; offset?: number } | undefined;
  cost: CostVerdict | undefined;
  /** The limits the cost was judged against (station.yaml can change them). */
  limits: object;
}

/** The verdict of most expressions, one object per set of limits (a large repository caches thousands). */
let validVerdict: StaticVerdict | undefined;
const valid = (limits: object): StaticVerdict =>
  validVerdict?.limits === limits ? validVerdict : (validVerdict = Object.freeze({ syntax: undefined, cost: undefined, limits }));

/** Both static verdicts from one parse, cached by source text. */
const verdicts = new Map<string, StaticVerdict>();

function staticVerdict(source: string): StaticVerdict {
  const limits = expressionLimits();
  const hit = verdicts.get(source);
  if (hit && hit.limits === limits) return hit;
  const verdict = checkUncached(source, limits);
  if (verdicts.size >= 10_000) verdicts.clear();
  verdicts.set(source, verdict);
  return verdict;
}

function checkUncached(source: string, limits: ExpressionLimits): StaticVerdict {
  let failure: unknown;
  try {
    const program = env.parse(source);
    const result = program.check();
    // Without a comprehension or cel.bind there is no loop and no doubling: nothing for the cost estimate to find.
    if (result.valid) {
      const cost = mayLoopOrBind(source) ? safeEstimate(program.ast, limits) : undefined;
      return cost ? { syntax: undefined, cost, limits } : valid(limits);
    }
    failure = result.error;
  } catch (err) {
    failure = err;
  }
  const error = toExpressionError(failure, source);
  const syntax = error.offset === undefined ? { message: error.reason } : { message: error.reason, offset: error.offset };
  return { syntax, cost: undefined, limits };
}

/**
 * Whether the text may hold a comprehension (`all`, `exists`, `exists_one`, `map`, `filter`) or `cel.bind`: a cheap
 * filter before the estimate walks the AST (a name that is no macro only costs that walk).
 */
const mayLoopOrBind = (source: string): boolean =>
  source.includes('all') || source.includes('exists') || source.includes('map') || source.includes('filter') || source.includes('bind');

/** The estimate is advice on a valid expression: an AST shape it does not know never turns into a syntax error. */
function safeEstimate(ast: ASTNode, limits: ExpressionLimits): CostVerdict | undefined {
  try {
    return estimateCost(ast, limits);
  } catch {
    return undefined;
  }
}

/** Names used as identifiers: the top-level variables (plus macro variables, which are harmless extras). */
function collectIdentifiers(ast: ASTNode, into = new Set<string>()): Set<string> {
  if (ast.op === 'id') {
    into.add(ast.args);
    return into;
  }
  const visit = (arg: unknown): void => {
    if (Array.isArray(arg)) arg.forEach(visit);
    else if (typeof arg === 'object' && arg !== null && 'op' in arg) collectIdentifiers(arg as ASTNode, into);
  };
  visit(ast.args);
  return into;
}

/** Maps whatever the library (or our JSON conversion) threw to an ExpressionError with a stable code. */
function toExpressionError(err: unknown, source: string): ExpressionError {
  if (err instanceof ExpressionError) return err;
  let code: ExpressionErrorCode = 'STN_E_EXPR_EVAL';
  let reason: string;
  let key: string | undefined;
  let offset: number | undefined;
  if (err instanceof ParseError || err instanceof EvaluationError || err instanceof CelTypeError) {
    offset = err.range?.start;
    reason = lowerFirst(err.summary);
    if (err instanceof ParseError) {
      code = 'STN_E_EXPR_SYNTAX';
      reason = `syntax error: ${reason}`;
    } else if (err.code === 'no_such_key' || err.code === 'unknown_variable') {
      code = 'STN_E_EXPR_MISSING_KEY';
      key = missingKey(err);
      reason = err.code === 'unknown_variable' ? `no such variable "${key}"` : `no such key "${key}"`;
    }
  } else if (err instanceof JsonConversionError) {
    reason = err.message;
  } else {
    reason = err instanceof Error ? err.message : String(err);
  }
  const info = { expression: source, reason, ...(offset === undefined ? {} : { offset }), ...(key ? { key } : {}) };
  return new ExpressionError(code, `${reason} in ${source}`, info, { cause: err });
}

function missingKey(err: EvaluationError | CelTypeError): string {
  const node = err.node;
  if (node?.op === 'id') return node.args;
  if (node?.op === '.' || node?.op === '.?') return node.args[1];
  // `a["k"]` and `a[k]`: the key is only in the summary ("No such key: k").
  return err.summary.replace(/^No such key: /, '');
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
