import { dictEntries, dictKey, fail, isDict, isInt, STuple, typeName, type DictKey, type Kwargs, type Runtime, type Value } from './values.js';

/* Argument checks shared by the builtin functions and the methods, with Python's wording. */

export function arity(name: string, args: Value[], min: number, max = min): void {
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw fail(`${name}() takes ${want} argument${want === '1' ? '' : 's'} (${args.length} given)`);
  }
}

export function noKwargs(name: string, kw: Kwargs | undefined): void {
  if (kw !== undefined) throw fail(`${name}() takes no keyword arguments (got ${Object.keys(kw).join(', ')})`);
}

export function onlyKwargs(name: string, kw: Kwargs | undefined, allowed: string[]): void {
  for (const k of Object.keys(kw ?? {})) if (!allowed.includes(k)) throw fail(`${name}() got an unexpected keyword argument "${k}"`);
}

export function wantString(name: string, v: Value | undefined): string {
  if (typeof v !== 'string') throw fail(`${name}: expected a string, got ${typeName(v ?? null)}`);
  return v;
}

export function wantInt(name: string, v: Value | undefined): number {
  if (!isInt(v ?? null)) throw fail(`${name}: expected an int, got ${typeName(v ?? null)}`);
  return v as number;
}

export function optInt(name: string, v: Value | undefined, fallback: number): number {
  return v === undefined || v === null ? fallback : wantInt(name, v);
}

/** dict(x) and d.update(x): from a dict, or from an iterable of (key, value) pairs. */
export function update(rt: Runtime, into: Map<DictKey, Value>, source: Value, name: string): void {
  if (isDict(source)) {
    for (const [k, v] of dictEntries(source)) into.set(dictKey(k), v);
    return;
  }
  for (const pair of rt.iterate(source, `${name}()`)) {
    const kv = Array.isArray(pair) ? pair : pair instanceof STuple ? pair.items : undefined;
    if (kv?.length !== 2) throw fail(`${name}(): each element must be a pair (key, value)`);
    into.set(dictKey(kv[0] as Value), kv[1] as Value);
  }
}
