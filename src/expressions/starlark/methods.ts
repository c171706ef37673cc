import {
  Callable,
  dictEntries,
  dictGet,
  dictKey,
  dictKeys,
  dictSize,
  equal,
  EvalFail,
  fail,
  isDict,
  mutableDict,
  mutableList,
  own,
  STuple,
  typeName,
  type DictKey,
  type JsonObject,
  type Kwargs,
  type Runtime,
  type Value,
} from './values.js';
import { arity, noKwargs, onlyKwargs, optInt, update, wantInt, wantString } from './args.js';
import { format, repr } from './text.js';

/* The methods of strings, lists, tuples and dicts (`x.lower()`, `l.append(v)`, `d.get(k, d)`). */

type Method = (rt: Runtime, recv: never, args: Value[], kw: Kwargs | undefined) => Value;

const STRING_METHODS: Readonly<Record<string, (rt: Runtime, s: string, args: Value[], kw: Kwargs | undefined) => Value>> = {
  lower: (_rt, s, args) => (arity('lower', args, 0), s.toLowerCase()),
  upper: (_rt, s, args) => (arity('upper', args, 0), s.toUpperCase()),
  strip: (_rt, s, args) => strip(s, args, 'strip', true, true),
  lstrip: (_rt, s, args) => strip(s, args, 'lstrip', true, false),
  rstrip: (_rt, s, args) => strip(s, args, 'rstrip', false, true),
  startswith: (_rt, s, args) => affix(s, args, 'startswith', (x, p) => x.startsWith(p)),
  endswith: (_rt, s, args) => affix(s, args, 'endswith', (x, p) => x.endsWith(p)),
  removeprefix: (_rt, s, args) => {
    arity('removeprefix', args, 1);
    const p = wantString('removeprefix', args[0]);
    return s.startsWith(p) ? s.slice(p.length) : s;
  },
  removesuffix: (_rt, s, args) => {
    arity('removesuffix', args, 1);
    const p = wantString('removesuffix', args[0]);
    return p !== '' && s.endsWith(p) ? s.slice(0, -p.length) : s;
  },
  split: (rt, s, args, kw) => split(rt, s, args, kw, 'split'),
  rsplit: (rt, s, args, kw) => split(rt, s, args, kw, 'rsplit'),
  splitlines: (rt, s, args) => {
    arity('splitlines', args, 0, 1);
    const lines = s.split(/\r\n|\r|\n/);
    if (lines[lines.length - 1] === '') lines.pop();
    rt.collection(lines.length);
    return own(lines);
  },
  join: (rt, s, args) => {
    arity('join', args, 1);
    const items = rt.iterate(args[0] as Value, 'join()');
    let n = s.length * Math.max(0, items.length - 1);
    for (const item of items) {
      if (typeof item !== 'string') throw fail(`join: expected a list of strings, found ${typeName(item)}`);
      n += item.length;
    }
    rt.string(n);
    return (items as string[]).join(s);
  },
  replace: (rt, s, args) => {
    arity('replace', args, 2, 3);
    const old = wantString('replace', args[0]);
    const by = wantString('replace', args[1]);
    const count = optInt('replace', args[2], -1);
    const pieces = s.split(old);
    const n = count < 0 ? pieces.length - 1 : Math.min(count, pieces.length - 1);
    rt.string(s.length + n * (by.length - old.length));
    if (n === pieces.length - 1) return pieces.join(by);
    return pieces.slice(0, n + 1).join(by) + old + pieces.slice(n + 1).join(old);
  },
  format: (rt, s, args, kw) => {
    const text = format(s, args, kw, rt.text);
    rt.string(text.length);
    return text;
  },
  find: (_rt, s, args) => (arity('find', args, 1), s.indexOf(wantString('find', args[0]))),
  rfind: (_rt, s, args) => (arity('rfind', args, 1), s.lastIndexOf(wantString('rfind', args[0]))),
  index: (_rt, s, args) => {
    arity('index', args, 1);
    const i = s.indexOf(wantString('index', args[0]));
    if (i < 0) throw fail('substring not found');
    return i;
  },
  count: (_rt, s, args) => {
    arity('count', args, 1);
    const sub = wantString('count', args[0]);
    return sub === '' ? s.length + 1 : s.split(sub).length - 1;
  },
  capitalize: (_rt, s, args) => (arity('capitalize', args, 0), s.charAt(0).toUpperCase() + s.slice(1).toLowerCase()),
  title: (_rt, s, args) => (arity('title', args, 0), s.toLowerCase().replace(/(^|[^a-z])([a-z])/g, (_m, a: string, b: string) => a + b.toUpperCase())),
  isdigit: (_rt, s, args) => (arity('isdigit', args, 0), /^[0-9]+$/.test(s)),
  isalpha: (_rt, s, args) => (arity('isalpha', args, 0), /^[A-Za-z]+$/.test(s)),
  isalnum: (_rt, s, args) => (arity('isalnum', args, 0), /^[A-Za-z0-9]+$/.test(s)),
  isspace: (_rt, s, args) => (arity('isspace', args, 0), /^\s+$/.test(s)),
  islower: (_rt, s, args) => (arity('islower', args, 0), /[a-z]/.test(s) && s === s.toLowerCase()),
  isupper: (_rt, s, args) => (arity('isupper', args, 0), /[A-Z]/.test(s) && s === s.toUpperCase()),
};

const LIST_METHODS: Readonly<Record<string, (rt: Runtime, l: Value[], args: Value[], kw: Kwargs | undefined) => Value>> = {
  append: (rt, l, args) => {
    arity('append', args, 1);
    mutableList(l, 'append to').push(args[0] as Value);
    rt.fits(l.length);
    return null;
  },
  extend: (rt, l, args) => {
    arity('extend', args, 1);
    const items = rt.iterate(args[0] as Value, 'extend()');
    mutableList(l, 'extend');
    rt.collection(items.length);
    rt.fits(l.length + items.length);
    for (const v of items.slice()) l.push(v);
    return null;
  },
  insert: (rt, l, args) => {
    arity('insert', args, 2);
    const i = wantInt('insert', args[0]);
    mutableList(l, 'insert into').splice(i < 0 ? Math.max(0, l.length + i) : i, 0, args[1] as Value);
    rt.fits(l.length);
    return null;
  },
  pop: (_rt, l, args) => {
    arity('pop', args, 0, 1);
    mutableList(l, 'pop from');
    const i = optInt('pop', args[0], -1);
    const at = i < 0 ? l.length + i : i;
    if (at < 0 || at >= l.length) throw fail(`pop: index ${i} out of range (length ${l.length})`);
    return l.splice(at, 1)[0] as Value;
  },
  remove: (_rt, l, args) => {
    arity('remove', args, 1);
    mutableList(l, 'remove from');
    const at = l.findIndex((v) => equal(v, args[0] as Value));
    if (at < 0) throw fail(`remove: ${repr(args[0] as Value, { maxString: 200, maxDepth: 5 }).slice(0, 200)} is not in the list`);
    l.splice(at, 1);
    return null;
  },
  clear: (_rt, l, args) => {
    arity('clear', args, 0);
    mutableList(l, 'clear').length = 0;
    return null;
  },
  index: (_rt, l, args) => listIndex(l, args),
  count: (_rt, l, args) => (arity('count', args, 1), l.filter((v) => equal(v, args[0] as Value)).length),
};

const TUPLE_METHODS: Readonly<Record<string, (rt: Runtime, t: STuple, args: Value[], kw: Kwargs | undefined) => Value>> = {
  index: (_rt, t, args) => listIndex(t.items, args),
  count: (_rt, t, args) => (arity('count', args, 1), t.items.filter((v) => equal(v, args[0] as Value)).length),
};

type DictValue = Map<DictKey, Value> | JsonObject;

export const DICT_METHOD_NAMES = new Set(['get', 'keys', 'values', 'items', 'pop', 'setdefault', 'update', 'clear', 'popitem']);

const DICT_METHODS: Readonly<Record<string, (rt: Runtime, d: DictValue, args: Value[], kw: Kwargs | undefined) => Value>> = {
  get: (_rt, d, args) => {
    arity('get', args, 1, 2);
    return dictGet(d, args[0] as Value) ?? args[1] ?? null;
  },
  keys: (rt, d, args) => (arity('keys', args, 0), rt.collection(dictSize(d)), own(dictKeys(d))),
  values: (rt, d, args) => (arity('values', args, 0), rt.collection(dictSize(d)), own(dictEntries(d).map((e) => e[1]))),
  items: (rt, d, args) => (arity('items', args, 0), rt.collection(dictSize(d)), own(dictEntries(d).map((e) => new STuple(e)))),
  pop: (_rt, d, args) => {
    arity('pop', args, 1, 2);
    const m = mutableDict(d, 'pop from');
    const k = dictKey(args[0] as Value);
    const found = m.get(k);
    if (found !== undefined) {
      m.delete(k);
      return found;
    }
    if (args[1] !== undefined) return args[1];
    throw new EvalFail('STN_E_EXPR_MISSING_KEY', `no such key ${JSON.stringify(k)}`, String(k));
  },
  setdefault: (rt, d, args) => {
    arity('setdefault', args, 1, 2);
    const m = mutableDict(d, 'change');
    const k = dictKey(args[0] as Value);
    const found = m.get(k);
    if (found !== undefined) return found;
    m.set(k, args[1] ?? null);
    rt.fits(m.size);
    return args[1] ?? null;
  },
  update: (rt, d, args, kw) => {
    arity('update', args, 0, 1);
    const m = mutableDict(d, 'update');
    const before = m.size;
    if (args.length === 1) update(rt, m, args[0] as Value, 'update');
    for (const [k, v] of Object.entries(kw ?? {})) m.set(k, v);
    rt.collection(Math.max(0, m.size - before));
    rt.fits(m.size);
    return null;
  },
  clear: (_rt, d, args) => (arity('clear', args, 0), mutableDict(d, 'clear').clear(), null),
  popitem: (_rt, d, args) => {
    arity('popitem', args, 0);
    const m = mutableDict(d, 'pop from');
    const first = m.entries().next();
    if (first.done === true) throw fail('popitem: the dict is empty');
    m.delete(first.value[0]);
    return new STuple(first.value);
  },
};

/** Calls method `name` of `recv`; undefined when it has none (the caller decides what that means). */
export function callMethod(rt: Runtime, recv: Value, name: string, args: Value[], kw: Kwargs | undefined): Value | undefined {
  const m = methodOf(recv, name);
  if (m === undefined) return undefined;
  if (kw !== undefined && m !== STRING_METHODS.format && m !== DICT_METHODS.update && m !== STRING_METHODS.split && m !== STRING_METHODS.rsplit) {
    noKwargs(name, kw);
  }
  return (m as Method)(rt, recv as never, args, kw);
}

function methodOf(recv: Value, name: string): Method | undefined {
  let table: Readonly<Record<string, unknown>> | undefined;
  if (typeof recv === 'string') table = STRING_METHODS;
  else if (Array.isArray(recv)) table = LIST_METHODS;
  else if (recv instanceof STuple) table = TUPLE_METHODS;
  else if (isDict(recv)) table = DICT_METHODS;
  return table !== undefined && Object.hasOwn(table, name) ? (table[name] as Method) : undefined;
}

/** `s.lower` without a call: a callable bound to its receiver. */
export function boundMethod(recv: Value, name: string): Callable | undefined {
  const m = methodOf(recv, name);
  if (m === undefined) return undefined;
  return new Callable(name, (rt, args, kw) => m(rt, recv as never, args, kw));
}

function listIndex(items: readonly Value[], args: Value[]): number {
  arity('index', args, 1);
  const at = items.findIndex((v) => equal(v, args[0] as Value));
  if (at < 0) throw fail('index: the value is not in the list');
  return at;
}

function strip(s: string, args: Value[], name: string, left: boolean, right: boolean): string {
  arity(name, args, 0, 1);
  const chars = args[0] === undefined || args[0] === null ? undefined : wantString(name, args[0]);
  if (chars === undefined) return left && right ? s.trim() : left ? s.trimStart() : s.trimEnd();
  let a = 0;
  let b = s.length;
  if (left) while (a < b && chars.includes(s[a] ?? '')) a++;
  if (right) while (b > a && chars.includes(s[b - 1] ?? '')) b--;
  return s.slice(a, b);
}

function affix(s: string, args: Value[], name: string, test: (s: string, p: string) => boolean): boolean {
  arity(name, args, 1);
  const p = args[0] as Value;
  if (p instanceof STuple) return p.items.some((x) => test(s, wantString(name, x)));
  return test(s, wantString(name, p));
}

function split(rt: Runtime, s: string, args: Value[], kw: Kwargs | undefined, name: 'split' | 'rsplit'): Value {
  onlyKwargs(name, kw, ['sep', 'maxsplit']);
  arity(name, args, 0, 2);
  const sepArg = args[0] ?? kw?.sep ?? null;
  const max = optInt(name, args[1] ?? kw?.maxsplit, -1);
  let parts: string[];
  if (sepArg === null) {
    const words = s.trim() === '' ? [] : s.trim().split(/\s+/);
    parts = max < 0 || words.length <= max + 1 ? words : name === 'split' ? [...words.slice(0, max), rest(s, max, true)] : [rest(s, words.length - max - 1, false), ...words.slice(words.length - max)];
  } else {
    const sep = wantString(name, sepArg);
    if (sep === '') throw fail(`${name}: empty separator`);
    const all = s.split(sep);
    if (max < 0 || all.length <= max + 1) parts = all;
    else if (name === 'split') parts = [...all.slice(0, max), all.slice(max).join(sep)];
    else parts = [all.slice(0, all.length - max).join(sep), ...all.slice(all.length - max)];
  }
  rt.collection(parts.length);
  return own(parts);
}

/** What follows the first `n` whitespace-separated words (split), or precedes the last ones (rsplit). */
function rest(s: string, n: number, fromStart: boolean): string {
  const t = s.trim();
  if (fromStart) {
    const m = new RegExp(`^(?:\\S+\\s+){${n}}`).exec(t);
    return t.slice(m?.[0].length ?? 0);
  }
  const m = new RegExp(`^(?:\\S+\\s+){${n}}\\S+`).exec(t);
  return m?.[0] ?? t;
}
