/*
 * Starlark values over JSON. The input is used as it is, without conversion: a plain object is a dict (read-only:
 * Starlark freezes globals), an array a list (read-only too), a whole number an int and a fractional number a float.
 * What the program builds is its own: dicts are Maps (insertion-ordered, any hashable key), lists are arrays it
 * registered as mutable, a float with a whole value is an SFloat (so that `str(1.0)` is "1.0"), tuples are STuples.
 * A whole number past ±2^53 is a float, as in CEL's conversion: JSON cannot hold such an int exactly anyway.
 */

export type Value =
  | null
  | boolean
  | number
  | string
  | SFloat
  | STuple
  | Value[]
  | Map<DictKey, Value>
  | JsonObject
  | Callable
  | Module;

/** A read-only dict that came from the input. */
export interface JsonObject {
  readonly [key: string]: unknown;
}

export type DictKey = string | number | boolean | null;

/** A float whose value happens to be whole (fractional floats are plain numbers). */
export class SFloat {
  constructor(readonly value: number) {}
}

export class STuple {
  constructor(readonly items: readonly Value[]) {}
}

/** What builtins need from the evaluator: its limits, its budget, iteration and calls. */
export interface Runtime {
  readonly text: { readonly maxString: number; readonly maxDepth: number };
  /** Charges the budget for building a collection of `n` elements (and checks n against the limit). */
  collection(n: number): void;
  /** Checks that a collection grown to `n` elements is within the limit (growing by one costs no more than a step). */
  fits(n: number): void;
  /** Charges the budget for work that builds nothing lasting (sorting `n` elements, parsing `n` characters). */
  charge(steps: number): void;
  /** Charges the budget for building a string of `n` characters (and checks n against the limit). */
  string(n: number): void;
  /** The elements of an iterable (a list, a tuple, a dict's keys, a string's characters). */
  iterate(v: Value, what: string): readonly Value[];
  call(fn: Value, args: Value[]): Value;
}

/** A builtin function, or a method bound to its receiver. */
export class Callable {
  constructor(
    readonly name: string,
    readonly call: (rt: Runtime, args: Value[], kwargs: Kwargs | undefined) => Value,
  ) {}
}

/** `json`: a namespace of builtins. */
export class Module {
  constructor(
    readonly name: string,
    readonly members: Readonly<Record<string, Callable>>,
  ) {}
}

export type Kwargs = Record<string, Value>;

/** Why an evaluation failed; the evaluator adds the line and turns it into an ExpressionError. */
export class EvalFail extends Error {
  line = 0;
  constructor(
    readonly code: 'STN_E_EXPR_EVAL' | 'STN_E_EXPR_MISSING_KEY' | 'STN_E_TRANSFORM_LIMIT',
    readonly reason: string,
    readonly key?: string,
  ) {
    super(reason);
  }
}

export const fail = (reason: string): EvalFail => new EvalFail('STN_E_EXPR_EVAL', reason);
export const limit = (reason: string): EvalFail => new EvalFail('STN_E_TRANSFORM_LIMIT', reason);

/** Lists the program built (and may change); arrays from the input are not in it. */
const mutable = new WeakSet<Value[]>();

export function own<T extends Value[]>(list: T): T {
  mutable.add(list);
  return list;
}

export function isMutableList(list: Value[]): boolean {
  return mutable.has(list);
}

export function isJsonObject(v: unknown): v is JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export function isDict(v: Value): v is Map<DictKey, Value> | JsonObject {
  return v instanceof Map || isJsonObject(v);
}

/** A value read from the input: `undefined` (a hole) is None; everything else is used as it is. */
export function fromInput(v: unknown): Value {
  return v === undefined ? null : (v as Value);
}

export function isInt(v: Value): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

export function isFloat(v: Value): boolean {
  return v instanceof SFloat || (typeof v === 'number' && !Number.isSafeInteger(v));
}

/** The number of an int or float; undefined for anything else (bools are not numbers in Starlark). */
export function numberOf(v: Value): number | undefined {
  if (typeof v === 'number') return v;
  if (v instanceof SFloat) return v.value;
  return undefined;
}

export function makeFloat(x: number): Value {
  return Number.isSafeInteger(x) ? new SFloat(x) : x;
}

export function makeInt(x: number): number {
  if (!Number.isSafeInteger(x)) throw fail(`integer overflow: the result is outside ±2^53`);
  return x;
}

export function typeName(v: Value): string {
  if (v === null) return 'NoneType';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isSafeInteger(v) ? 'int' : 'float';
    case 'string':
      return 'string';
  }
  if (v instanceof SFloat) return 'float';
  if (Array.isArray(v)) return 'list';
  if (v instanceof STuple) return 'tuple';
  if (v instanceof Callable) return 'builtin_function_or_method';
  if (v instanceof Module) return 'module';
  return 'dict';
}

export function truthy(v: Value): boolean {
  if (v === null) return false;
  switch (typeof v) {
    case 'boolean':
      return v;
    case 'number':
      return v !== 0;
    case 'string':
      return v.length > 0;
  }
  if (v instanceof SFloat) return v.value !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof STuple) return v.items.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (v instanceof Callable || v instanceof Module) return true;
  for (const _ in v) return true;
  return false;
}

// ---- dicts ----

/** The key a value has in a Map: 2.0 and 2 are one key; lists, dicts and tuples are not hashable here. */
export function dictKey(v: Value): DictKey {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (v instanceof SFloat) return v.value;
  throw fail(`unhashable type: ${typeName(v)} (dict keys are strings, numbers, bools or None)`);
}

export function keyValue(k: DictKey): Value {
  return k;
}

export function dictGet(d: Map<DictKey, Value> | JsonObject, key: Value): Value | undefined {
  if (d instanceof Map) return d.get(dictKey(key));
  if (typeof key !== 'string') {
    dictKey(key); // unhashable keys fail the same way on both kinds of dict
    return undefined;
  }
  return Object.hasOwn(d, key) ? fromInput(d[key]) : undefined;
}

export function dictKeys(d: Map<DictKey, Value> | JsonObject): Value[] {
  return d instanceof Map ? Array.from(d.keys()) : Object.keys(d);
}

export function dictSize(d: Map<DictKey, Value> | JsonObject): number {
  return d instanceof Map ? d.size : Object.keys(d).length;
}

export function dictEntries(d: Map<DictKey, Value> | JsonObject): [Value, Value][] {
  if (d instanceof Map) return Array.from(d.entries());
  return Object.keys(d).map((k) => [k, fromInput(d[k])]);
}

export function mutableDict(d: Map<DictKey, Value> | JsonObject, what: string): Map<DictKey, Value> {
  if (d instanceof Map) return d;
  throw fail(`cannot ${what} a dict that comes from the input (it is read-only): copy it first with dict(...)`);
}

export function mutableList(l: Value[], what: string): Value[] {
  if (isMutableList(l)) return l;
  throw fail(`cannot ${what} a list that comes from the input (it is read-only): copy it first with list(...)`);
}

// ---- equality and order ----

export function equal(a: Value, b: Value, depth = 0): boolean {
  if (a === b) return true;
  if (depth > 200) throw limit('values nested deeper than 200 levels');
  const na = numberOf(a);
  if (na !== undefined) return na === numberOf(b);
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) || a instanceof STuple) {
    const x = Array.isArray(a) ? a : a.items;
    if (Array.isArray(a) !== Array.isArray(b) || !(Array.isArray(b) || b instanceof STuple)) return false;
    const y = Array.isArray(b) ? b : b.items;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!equal(x[i] as Value, y[i] as Value, depth + 1)) return false;
    return true;
  }
  if (isDict(a) && isDict(b)) {
    if (dictSize(a) !== dictSize(b)) return false;
    for (const [k, v] of dictEntries(a)) {
      const w = dictGet(b, k);
      if (w === undefined || !equal(v, w, depth + 1)) return false;
    }
    return true;
  }
  return false;
}

/** Python's ordering of two values of one kind: numbers, strings, lists, tuples. */
export function compare(a: Value, b: Value, depth = 0): number {
  const na = numberOf(a);
  const nb = numberOf(b);
  if (na !== undefined && nb !== undefined) return na < nb ? -1 : na > nb ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if ((Array.isArray(a) && Array.isArray(b)) || (a instanceof STuple && b instanceof STuple)) {
    if (depth > 200) throw limit('values nested deeper than 200 levels');
    const x = Array.isArray(a) ? a : (a as STuple).items;
    const y = Array.isArray(b) ? b : (b as STuple).items;
    for (let i = 0; i < x.length && i < y.length; i++) {
      const c = compare(x[i] as Value, y[i] as Value, depth + 1);
      if (c !== 0) return c;
    }
    return x.length - y.length;
  }
  throw fail(`cannot compare ${typeName(a)} with ${typeName(b)}`);
}
