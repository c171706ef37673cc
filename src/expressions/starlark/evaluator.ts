import { ExpressionError } from '../errors.js';
import { setKey } from '../values.js';
import type { Clause, Expr, Stmt, Target } from './ast.js';
import { BUILTINS } from './functions.js';
import { boundMethod, callMethod, DICT_METHOD_NAMES } from './methods.js';
import { ParsedProgram, type StarlarkProgram } from './program.js';
import { binary, compareOp, unary } from './operators.js';
import { str, tooLong } from './text.js';
import {
  Callable,
  dictGet,
  dictKey,
  dictKeys,
  EvalFail,
  fail,
  fromInput,
  isDict,
  isInt,
  isMutableList,
  limit,
  Module,
  mutableDict,
  mutableList,
  own,
  SFloat,
  STuple,
  truthy,
  typeName,
  type DictKey,
  type Kwargs,
  type Runtime,
  type Value,
} from './values.js';

/*
 * A tree walker over the parsed program. Every node evaluated and every statement run costs one step; building a
 * collection or a string is checked against the limits before it is built, and costs steps in proportion to its size
 * (so that many moderate allocations cannot add up to gigabytes within the step budget).
 */

export interface StarlarkLimits {
  /** Node evaluations per evaluation. */
  maxSteps: number;
  /** Elements in one list/dict/range/str repeat. */
  maxCollection: number;
  /** Characters in one string. */
  maxString: number;
  /** Nesting of the evaluation (values and the parser too). */
  maxDepth: number;
}

export const DEFAULT_STARLARK_LIMITS: Readonly<StarlarkLimits> = Object.freeze({
  maxSteps: 100_000,
  maxCollection: 100_000,
  maxString: 1_000_000,
  maxDepth: 200,
});

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Elements (or characters) built per step charged. */
const ELEMENTS_PER_STEP = 4;
const CHARS_PER_STEP = 64;

const BREAK = 1;
const CONTINUE = 2;

/**
 * Runs a program. `globals` are JSON-like values, never mutated. Returns the result as JSON (tuples → arrays): the
 * value of the final expression statement, else `__result__`, else the last variable assigned at the top level, else
 * null. Throws ExpressionError STN_E_EXPR_EVAL, STN_E_EXPR_MISSING_KEY or STN_E_TRANSFORM_LIMIT; every message starts
 * with `line N: `.
 */
export function evaluateStarlark(program: StarlarkProgram, globals: Record<string, unknown>, limits?: Partial<StarlarkLimits>): JsonValue {
  if (!(program instanceof ParsedProgram)) throw new TypeError('evaluateStarlark: not a program from parseStarlark/compileStarlark');
  const ev = new Evaluator(globals, limits === undefined ? DEFAULT_STARLARK_LIMITS : { ...DEFAULT_STARLARK_LIMITS, ...limits });
  try {
    return ev.toJson(ev.run(program.body), 0);
  } catch (err) {
    throw ev.wrap(err, program.source);
  }
}

class Evaluator implements Runtime {
  private steps = 0;
  private depth = 0;
  private readonly vars = new Map<string, Value>();
  readonly text: { maxString: number; maxDepth: number };
  private readonly maxSteps: number;
  private readonly maxCollection: number;
  private line = 1;

  constructor(
    private readonly globals: Record<string, unknown>,
    private readonly limits: Readonly<StarlarkLimits>,
  ) {
    this.maxSteps = limits.maxSteps;
    this.maxCollection = limits.maxCollection;
    this.text = { maxString: limits.maxString, maxDepth: limits.maxDepth };
  }

  run(body: readonly Stmt[]): Value {
    const last = body[body.length - 1];
    let lastName: string | undefined;
    for (const s of body) if (s.kind === 'assign' && s.target.kind === 'name') lastName = s.target.name;
    if (last?.kind === 'expr') {
      this.block(body, body.length - 1);
      this.line = last.line;
      return this.expr(last.expr);
    }
    this.block(body, body.length);
    // A result that cannot become JSON is reported at the last statement.
    this.line = last?.line ?? 1;
    const result = this.vars.get('__result__');
    if (result !== undefined) return result;
    return lastName === undefined ? null : (this.vars.get(lastName) ?? null);
  }

  // ---- budget ----

  private tick(): void {
    if (++this.steps > this.maxSteps) throw limit(`the evaluation went over its budget of ${this.maxSteps} steps`);
  }

  collection(n: number): void {
    this.fits(n);
    this.steps += Math.floor(n / ELEMENTS_PER_STEP);
    this.tick();
  }

  fits(n: number): void {
    if (n > this.maxCollection) throw limit(`a list or dict would hold ${n} elements, more than the limit of ${this.maxCollection}`);
  }

  charge(steps: number): void {
    this.steps += Math.floor(steps);
    this.tick();
  }

  string(n: number): void {
    if (n > this.limits.maxString) throw tooLong(this.limits.maxString);
    this.steps += Math.floor(n / CHARS_PER_STEP);
    this.tick();
  }

  // ---- statements ----

  private block(body: readonly Stmt[], end = body.length): number {
    for (let i = 0; i < end; i++) {
      const flow = this.stmt(body[i] as Stmt);
      if (flow !== 0) return flow;
    }
    return 0;
  }

  private stmt(s: Stmt): number {
    this.tick();
    this.line = s.line;
    try {
      switch (s.kind) {
        case 'expr':
          this.expr(s.expr);
          return 0;
        case 'assign': {
          let value = this.expr(s.value);
          if (s.op !== undefined) {
            const current = this.read(s.target as Exclude<Target, { kind: 'tuple' }>);
            value = s.op === '+' && Array.isArray(current) && isMutableList(current) && (Array.isArray(value) || value instanceof STuple)
              ? this.extendInPlace(current, value)
              : binary(this, s.op, current, value);
          }
          this.assign(s.target, value);
          return 0;
        }
        case 'if':
          for (let i = 0; i < s.tests.length; i++) {
            if (truthy(this.expr(s.tests[i] as Expr))) return this.block(s.bodies[i] as Stmt[]);
          }
          return s.otherwise === undefined ? 0 : this.block(s.otherwise);
        case 'for': {
          const items = this.iterate(this.expr(s.iterable), 'for');
          for (let i = 0; i < items.length; i++) {
            this.tick();
            this.assign(s.target, items[i] as Value);
            const flow = this.block(s.body);
            if (flow === BREAK) break;
          }
          return 0;
        }
        case 'break':
          return BREAK;
        case 'continue':
          return CONTINUE;
        case 'pass':
          return 0;
      }
    } catch (err) {
      if (err instanceof EvalFail && err.line === 0) err.line = s.line;
      throw err;
    }
  }

  private extendInPlace(list: Value[], more: Value[] | STuple): Value[] {
    const items = Array.isArray(more) ? more.slice() : more.items;
    this.collection(items.length);
    this.fits(list.length + items.length);
    for (const v of items) list.push(v);
    return list;
  }

  /** The current value of an augmented assignment's target. */
  private read(t: Exclude<Target, { kind: 'tuple' }>): Value {
    switch (t.kind) {
      case 'name':
        return this.lookup(t.name);
      case 'index':
        return this.index(this.expr(t.object), this.expr(t.index));
      case 'attr':
        return this.attr(this.expr(t.object), t.name);
    }
  }

  private assign(t: Target, value: Value): void {
    switch (t.kind) {
      case 'name':
        this.vars.set(t.name, value);
        return;
      case 'tuple': {
        const items = this.iterate(value, 'unpacking');
        if (items.length !== t.items.length) {
          throw fail(`cannot unpack ${items.length} values into ${t.items.length} variables`);
        }
        t.items.forEach((target, i) => this.assign(target, items[i] as Value));
        return;
      }
      case 'index': {
        const object = this.expr(t.object);
        const key = this.expr(t.index);
        if (Array.isArray(object)) {
          const list = mutableList(object, 'assign to an element of');
          list[this.position(list.length, key)] = value;
        } else if (isDict(object)) {
          const d = mutableDict(object, 'assign to a key of');
          d.set(dictKey(key), value);
          this.fits(d.size);
        } else {
          throw fail(`cannot assign to an element of a ${typeName(object)}`);
        }
        return;
      }
      case 'attr': {
        const object = this.expr(t.object);
        if (!isDict(object)) throw fail(`cannot assign to field "${t.name}" of a ${typeName(object)}`);
        const d = mutableDict(object, 'assign to a key of');
        d.set(t.name, value);
        this.fits(d.size);
      }
    }
  }

  // ---- expressions ----

  private expr(e: Expr): Value {
    if (++this.steps > this.maxSteps) this.tick();
    // The parser bounds nesting already; this holds a smaller maxDepth given for this evaluation.
    if (++this.depth > this.limits.maxDepth) throw limit(`the expression is nested deeper than ${this.limits.maxDepth} levels`);
    try {
      return this.evaluate(e);
    } catch (err) {
      if (err instanceof EvalFail && err.line === 0) err.line = e.line;
      throw err;
    } finally {
      this.depth--;
    }
  }

  private evaluate(e: Expr): Value {
    switch (e.kind) {
      case 'literal':
        return e.float && Number.isSafeInteger(e.value) ? new SFloat(e.value as number) : e.value;
      case 'name':
        return this.lookup(e.name);
      case 'attr':
        return this.attr(this.expr(e.object), e.name);
      case 'index':
        return this.index(this.expr(e.object), this.expr(e.index));
      case 'call':
        return this.callExpr(e);
      case 'binary':
        return binary(this, e.op, this.expr(e.left), this.expr(e.right));
      case 'compare': {
        let left = this.expr(e.operands[0] as Expr);
        for (let i = 0; i < e.ops.length; i++) {
          const right = this.expr(e.operands[i + 1] as Expr);
          if (!compareOp(e.ops[i] as string, left, right)) return false;
          left = right;
        }
        return true;
      }
      case 'and': {
        const left = this.expr(e.left);
        return truthy(left) ? this.expr(e.right) : left;
      }
      case 'or': {
        const left = this.expr(e.left);
        return truthy(left) ? left : this.expr(e.right);
      }
      case 'unary':
        return unary(e.op, this.expr(e.operand));
      case 'conditional':
        return truthy(this.expr(e.test)) ? this.expr(e.then) : this.expr(e.otherwise);
      case 'list': {
        const out: Value[] = new Array<Value>(e.items.length);
        for (let i = 0; i < e.items.length; i++) out[i] = this.expr(e.items[i] as Expr);
        return own(out);
      }
      case 'tuple':
        return new STuple(e.items.map((x) => this.expr(x)));
      case 'dict': {
        const out = new Map<DictKey, Value>();
        for (let i = 0; i < e.keys.length; i++) out.set(dictKey(this.expr(e.keys[i] as Expr)), this.expr(e.values[i] as Expr));
        return out;
      }
      case 'slice':
        return this.slice(e);
      case 'comprehension':
        return this.comprehension(e);
      case 'root':
        throw fail('"$" is not Starlark');
    }
  }

  private lookup(name: string): Value {
    const local = this.vars.get(name);
    if (local !== undefined) return local;
    if (Object.hasOwn(this.globals, name)) return fromInput(this.globals[name]);
    const builtin = BUILTINS.get(name);
    if (builtin !== undefined) return builtin;
    throw fail(`name "${name}" is not defined`);
  }

  /** `x.k`: a dict's key (except its method names), else a method of the value. */
  private attr(object: Value, name: string): Value {
    if (isDict(object) && !DICT_METHOD_NAMES.has(name)) {
      const found = dictGet(object, name);
      if (found === undefined) throw new EvalFail('STN_E_EXPR_MISSING_KEY', `no such key "${name}"`, name);
      return found;
    }
    if (object instanceof Module) {
      const member = object.members[name];
      if (member !== undefined && Object.hasOwn(object.members, name)) return member;
    }
    const method = boundMethod(object, name);
    if (method !== undefined) return method;
    throw fail(`${typeName(object)} has no field or method "${name}"`);
  }

  private index(object: Value, key: Value): Value {
    if (Array.isArray(object)) return fromInput(object[this.position(object.length, key)]);
    if (object instanceof STuple) return object.items[this.position(object.items.length, key)] as Value;
    if (typeof object === 'string') return object.charAt(this.position(object.length, key));
    if (isDict(object)) {
      const found = dictGet(object, key);
      if (found === undefined) {
        const shown = typeof key === 'string' ? key : str(key, this.text);
        throw new EvalFail('STN_E_EXPR_MISSING_KEY', `no such key ${typeof key === 'string' ? JSON.stringify(key) : shown}`, shown);
      }
      return found;
    }
    throw fail(`a ${typeName(object)} cannot be indexed`);
  }

  /** A list/tuple/string index, negative ones counting from the end. */
  private position(length: number, key: Value): number {
    if (!isInt(key)) throw fail(`indexes must be ints, not ${typeName(key)}`);
    const i = key < 0 ? key + length : key;
    if (i < 0 || i >= length) throw fail(`index ${key} out of range (length ${length})`);
    return i;
  }

  private slice(e: Extract<Expr, { kind: 'slice' }>): Value {
    const object = this.expr(e.object);
    const bound = (x: Expr | undefined): number | undefined => {
      if (x === undefined) return undefined;
      const v = this.expr(x);
      if (v === null) return undefined;
      if (!isInt(v)) throw fail(`slice indexes must be ints, not ${typeName(v)}`);
      return v;
    };
    const start = bound(e.start);
    const stop = bound(e.stop);
    const step = bound(e.step) ?? 1;
    if (step === 0) throw fail('slice step cannot be zero');
    const items = typeof object === 'string' ? object : Array.isArray(object) ? object : object instanceof STuple ? object.items : undefined;
    if (items === undefined) throw fail(`a ${typeName(object)} cannot be sliced`);
    const n = items.length;
    const clamp = (v: number | undefined, fallback: number, lo: number, hi: number): number => {
      if (v === undefined) return fallback;
      const x = v < 0 ? v + n : v;
      return Math.min(Math.max(x, lo), hi);
    };
    const from = step > 0 ? clamp(start, 0, 0, n) : clamp(start, n - 1, -1, n - 1);
    const to = step > 0 ? clamp(stop, n, 0, n) : clamp(stop, -1, -1, n - 1);
    if (typeof items === 'string' && step === 1) return items.slice(from, Math.max(from, to));
    if (Array.isArray(items) && step === 1) {
      const out = items.slice(from, Math.max(from, to)).map(fromInput);
      this.collection(out.length);
      return own(out);
    }
    const picked: Value[] = [];
    for (let i = from; step > 0 ? i < to : i > to; i += step) picked.push(fromInput(items[i]));
    this.collection(picked.length);
    if (typeof items === 'string') return (picked as string[]).join('');
    return object instanceof STuple ? new STuple(picked) : own(picked);
  }

  private callExpr(e: Extract<Expr, { kind: 'call' }>): Value {
    const args: Value[] = new Array<Value>(e.args.length);
    let kwargs: Kwargs | undefined;
    const callee = e.callee;
    // A method call: looked up without building a bound method.
    if (callee.kind === 'attr' && !callee.optional) {
      const object = this.expr(callee.object);
      for (let i = 0; i < e.args.length; i++) args[i] = this.expr(e.args[i] as Expr);
      kwargs = this.kwargs(e);
      if (!(isDict(object) && !DICT_METHOD_NAMES.has(callee.name))) {
        if (object instanceof Module) return this.invoke(this.attr(object, callee.name), args, kwargs);
        const result = callMethod(this, object, callee.name, args, kwargs);
        if (result !== undefined) return result;
      }
      return this.invoke(this.attr(object, callee.name), args, kwargs);
    }
    const fn = this.expr(callee);
    for (let i = 0; i < e.args.length; i++) args[i] = this.expr(e.args[i] as Expr);
    kwargs = this.kwargs(e);
    return this.invoke(fn, args, kwargs);
  }

  private kwargs(e: Extract<Expr, { kind: 'call' }>): Kwargs | undefined {
    if (e.kwargs.length === 0) return undefined;
    const out: Kwargs = Object.create(null) as Kwargs;
    for (const k of e.kwargs) out[k.name] = this.expr(k.value);
    return out;
  }

  private invoke(fn: Value, args: Value[], kwargs: Kwargs | undefined): Value {
    if (!(fn instanceof Callable)) throw fail(`a ${typeName(fn)} is not callable`);
    return fn.call(this, args, kwargs);
  }

  /** For builtins that call a function they were given (sorted(key=...)). */
  call(fn: Value, args: Value[]): Value {
    return this.invoke(fn, args, undefined);
  }

  iterate(v: Value, what: string): readonly Value[] {
    if (Array.isArray(v)) return v;
    if (v instanceof STuple) return v.items;
    if (isDict(v)) return dictKeys(v);
    if (typeof v === 'string') {
      this.collection(v.length);
      return Array.from(v);
    }
    throw fail(`${what}: a ${typeName(v)} is not iterable`);
  }

  private comprehension(e: Extract<Expr, { kind: 'comprehension' }>): Value {
    const out: Value[] | Map<DictKey, Value> = e.dict ? new Map<DictKey, Value>() : own([]);
    // Comprehension variables are local to it: save what they shadow and put it back afterwards.
    const names = new Set<string>();
    for (const c of e.clauses) if (c.kind === 'for') targetNames(c.target, names);
    const saved = [...names].map((n) => [n, this.vars.get(n)] as const);
    try {
      this.clauses(e, e.clauses, 0, out);
    } finally {
      for (const [n, v] of saved) {
        if (v === undefined) this.vars.delete(n);
        else this.vars.set(n, v);
      }
    }
    return out;
  }

  private clauses(e: Extract<Expr, { kind: 'comprehension' }>, clauses: Clause[], i: number, out: Value[] | Map<DictKey, Value>): void {
    const c = clauses[i];
    if (c === undefined) {
      if (out instanceof Map) {
        out.set(dictKey(this.expr(e.element)), this.expr(e.value as Expr));
        this.fits(out.size);
      } else {
        out.push(this.expr(e.element));
        this.fits(out.length);
      }
      return;
    }
    if (c.kind === 'if') {
      if (truthy(this.expr(c.test))) this.clauses(e, clauses, i + 1, out);
      return;
    }
    const items = this.iterate(this.expr(c.iterable), 'comprehension');
    for (let k = 0; k < items.length; k++) {
      this.tick();
      this.assign(c.target, items[k] as Value);
      this.clauses(e, clauses, i + 1, out);
    }
  }

  // ---- results and errors ----

  toJson(v: Value, depth: number): JsonValue {
    if (depth > this.limits.maxDepth) throw limit(`the result is nested deeper than ${this.limits.maxDepth} levels`);
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number' || v instanceof SFloat) {
      const n = typeof v === 'number' ? v : v.value;
      if (!Number.isFinite(n)) throw fail(`the result holds the float ${n}, which JSON cannot represent`);
      return n;
    }
    if (Array.isArray(v)) return v.map((x) => this.toJson(fromInput(x), depth + 1));
    if (v instanceof STuple) return v.items.map((x) => this.toJson(x, depth + 1));
    if (v instanceof Callable || v instanceof Module) throw fail(`the result holds a ${typeName(v)}, which has no JSON form`);
    if (v instanceof Map) {
      const out: Record<string, JsonValue> = {};
      for (const [k, x] of v) setKey(out, typeof k === 'string' ? k : str(k, this.text), this.toJson(x, depth + 1));
      return out;
    }
    // A dict from the input is JSON already.
    return v as JsonValue;
  }

  wrap(err: unknown, source: string): ExpressionError {
    if (err instanceof ExpressionError) return err;
    let code: ExpressionError['code'];
    let reason: string;
    let key: string | undefined;
    let line = this.line;
    if (err instanceof EvalFail) {
      code = err.code;
      reason = err.reason;
      key = err.key;
      if (err.line !== 0) line = err.line;
    } else if (err instanceof RangeError) {
      // A JavaScript limit (stack depth, string or array size) the checks above did not anticipate.
      code = 'STN_E_TRANSFORM_LIMIT';
      reason = `the evaluation ran out of room: ${err.message}`;
    } else {
      throw err;
    }
    const info = { expression: source, reason, ...(key === undefined ? {} : { key }) };
    return new ExpressionError(code, `line ${line}: ${reason}`, info, { cause: err });
  }
}

function targetNames(t: Target, into: Set<string>): void {
  if (t.kind === 'name') into.add(t.name);
  else if (t.kind === 'tuple') for (const x of t.items) targetNames(x, into);
}
