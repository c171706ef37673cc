import {
  Callable,
  compare,
  dictGet,
  dictSize,
  EvalFail,
  fail,
  isDict,
  isFloat,
  makeFloat,
  makeInt,
  Module,
  numberOf,
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
import { arity, noKwargs, onlyKwargs, optInt, update, wantInt, wantString } from './args.js';
import { boundMethod } from './methods.js';
import { jsonDecode, jsonEncode, repr, str } from './text.js';

/*
 * The builtin functions. They reach the evaluator only through Runtime: its limits (every size is checked before the
 * value is built) and its step budget (copying n elements costs steps).
 */

type Fn = (rt: Runtime, args: Value[], kw: Kwargs | undefined) => Value;

const FUNCTIONS: Readonly<Record<string, Fn>> = {
  len(_rt, args, kw) {
    noKwargs('len', kw);
    arity('len', args, 1);
    const v = args[0] as Value;
    if (typeof v === 'string') return v.length;
    if (Array.isArray(v)) return v.length;
    if (v instanceof STuple) return v.items.length;
    if (isDict(v)) return dictSize(v);
    throw fail(`len() of a ${typeName(v)}`);
  },
  str(rt, args, kw) {
    noKwargs('str', kw);
    arity('str', args, 1);
    return str(args[0] as Value, rt.text);
  },
  repr(rt, args, kw) {
    noKwargs('repr', kw);
    arity('repr', args, 1);
    return repr(args[0] as Value, rt.text);
  },
  bool(_rt, args, kw) {
    noKwargs('bool', kw);
    arity('bool', args, 0, 1);
    return args.length === 0 ? false : truthy(args[0] as Value);
  },
  int(_rt, args, kw) {
    onlyKwargs('int', kw, ['base']);
    arity('int', args, 1, 2);
    return toInt(args[0] as Value, args[1] ?? kw?.base);
  },
  float(_rt, args, kw) {
    noKwargs('float', kw);
    arity('float', args, 0, 1);
    return toFloat(args.length === 0 ? 0 : (args[0] as Value));
  },
  type(_rt, args, kw) {
    noKwargs('type', kw);
    arity('type', args, 1);
    return typeName(args[0] as Value);
  },
  abs(_rt, args, kw) {
    noKwargs('abs', kw);
    arity('abs', args, 1);
    const v = args[0] as Value;
    const n = numberOf(v);
    if (n === undefined) throw fail(`abs() of a ${typeName(v)}`);
    return isFloat(v) ? makeFloat(Math.abs(n)) : Math.abs(n);
  },
  hasattr(_rt, args, kw) {
    noKwargs('hasattr', kw);
    arity('hasattr', args, 2);
    const [obj, name] = args as [Value, Value];
    wantString('hasattr', name);
    return isDict(obj) ? dictGet(obj, name) !== undefined : false;
  },
  getattr(_rt, args, kw) {
    noKwargs('getattr', kw);
    arity('getattr', args, 2, 3);
    const [obj, name, fallback] = args as [Value, Value, Value | undefined];
    const key = wantString('getattr', name);
    if (isDict(obj)) {
      const found = dictGet(obj, key);
      if (found !== undefined) return found;
    } else {
      const method = boundMethod(obj, key);
      if (method !== undefined) return method;
    }
    if (fallback !== undefined) return fallback;
    if (isDict(obj)) throw new EvalFail('STN_E_EXPR_MISSING_KEY', `no such key "${key}"`, key);
    throw fail(`${typeName(obj)} has no field or method "${key}"`);
  },
  list(rt, args, kw) {
    noKwargs('list', kw);
    arity('list', args, 0, 1);
    if (args.length === 0) return own([]);
    const items = rt.iterate(args[0] as Value, 'list()');
    rt.collection(items.length);
    return own(items.slice());
  },
  tuple(rt, args, kw) {
    noKwargs('tuple', kw);
    arity('tuple', args, 0, 1);
    if (args.length === 0) return new STuple([]);
    const v = args[0] as Value;
    if (v instanceof STuple) return v;
    const items = rt.iterate(v, 'tuple()');
    rt.collection(items.length);
    return new STuple(items.slice());
  },
  dict(rt, args, kw) {
    arity('dict', args, 0, 1);
    const out = new Map<DictKey, Value>();
    if (args.length === 1) update(rt, out, args[0] as Value, 'dict');
    for (const [k, v] of Object.entries(kw ?? {})) out.set(k, v);
    rt.collection(out.size);
    return out;
  },
  range(rt, args, kw) {
    noKwargs('range', kw);
    arity('range', args, 1, 3);
    const [a, b, c] = args.map((v) => wantInt('range', v));
    const start = args.length === 1 ? 0 : (a as number);
    const stop = args.length === 1 ? (a as number) : (b as number);
    const step = c ?? 1;
    if (step === 0) throw fail('range() step must not be zero');
    const n = Math.max(0, Math.ceil((stop - start) / step));
    rt.collection(n);
    const out: Value[] = new Array<Value>(n);
    for (let i = 0; i < n; i++) out[i] = start + i * step;
    return own(out);
  },
  sorted(rt, args, kw) {
    onlyKwargs('sorted', kw, ['key', 'reverse']);
    arity('sorted', args, 1);
    const items = rt.iterate(args[0] as Value, 'sorted()');
    rt.collection(items.length);
    rt.charge((items.length * Math.log2(items.length + 1)) / 4);
    const key = kw?.key ?? null;
    const keyed = items.map((v) => [key === null ? v : rt.call(key, [v]), v] as const);
    keyed.sort((x, y) => compare(x[0], y[0]));
    if (truthy(kw?.reverse ?? false)) keyed.reverse();
    return own(keyed.map((p) => p[1]));
  },
  reversed(rt, args, kw) {
    noKwargs('reversed', kw);
    arity('reversed', args, 1);
    const items = rt.iterate(args[0] as Value, 'reversed()');
    rt.collection(items.length);
    return own(items.slice().reverse());
  },
  min(rt, args, kw) {
    return extreme(rt, 'min', args, kw, -1);
  },
  max(rt, args, kw) {
    return extreme(rt, 'max', args, kw, 1);
  },
  sum(rt, args, kw) {
    onlyKwargs('sum', kw, ['start']);
    arity('sum', args, 1, 2);
    let total: Value = args[1] ?? kw?.start ?? 0;
    const items = rt.iterate(args[0] as Value, 'sum()');
    rt.collection(items.length);
    for (const v of items) total = add(total, v);
    return total;
  },
  any(rt, args, kw) {
    noKwargs('any', kw);
    arity('any', args, 1);
    return rt.iterate(args[0] as Value, 'any()').some(truthy);
  },
  all(rt, args, kw) {
    noKwargs('all', kw);
    arity('all', args, 1);
    return rt.iterate(args[0] as Value, 'all()').every(truthy);
  },
  enumerate(rt, args, kw) {
    onlyKwargs('enumerate', kw, ['start']);
    arity('enumerate', args, 1, 2);
    const start = optInt('enumerate', args[1] ?? kw?.start, 0);
    const items = rt.iterate(args[0] as Value, 'enumerate()');
    rt.collection(items.length);
    return own(items.map((v, i) => new STuple([start + i, v])));
  },
  zip(rt, args, kw) {
    noKwargs('zip', kw);
    const lists = args.map((a) => rt.iterate(a, 'zip()'));
    const n = lists.length === 0 ? 0 : Math.min(...lists.map((l) => l.length));
    rt.collection(n);
    const out: Value[] = [];
    for (let i = 0; i < n; i++) out.push(new STuple(lists.map((l) => l[i] as Value)));
    return own(out);
  },
  // Debug output has nowhere to go in a transform: print() is accepted and does nothing.
  print(rt, args, kw) {
    onlyKwargs('print', kw, ['sep']);
    for (const a of args) str(a, rt.text);
    return null;
  },
  fail(rt, args, kw) {
    onlyKwargs('fail', kw, ['msg']);
    const parts = [...args, ...(kw?.msg === undefined ? [] : [kw.msg])].map((a) => str(a, rt.text));
    throw fail(`fail: ${parts.join(' ')}`);
  },
};

export const BUILTINS: ReadonlyMap<string, Value> = new Map<string, Value>([
  ...Object.entries(FUNCTIONS).map(([name, fn]) => [name, builtin(name, fn)] as const),
  [
    'json',
    new Module('json', {
      encode: builtin('json.encode', (rt, args, kw) => {
        noKwargs('json.encode', kw);
        arity('json.encode', args, 1);
        const text = jsonEncode(args[0] as Value, rt.text);
        rt.string(text.length);
        return text;
      }),
      decode: builtin('json.decode', (rt, args, kw) => {
        noKwargs('json.decode', kw);
        arity('json.decode', args, 1);
        const text = wantString('json.decode', args[0]);
        rt.charge(text.length / 64);
        return jsonDecode(text, rt);
      }),
    }),
  ],
]);

function builtin(name: string, fn: Fn): Callable {
  return new Callable(name, fn);
}

function extreme(rt: Runtime, name: string, args: Value[], kw: Kwargs | undefined, sign: number): Value {
  onlyKwargs(name, kw, ['key', 'default']);
  if (args.length === 0) throw fail(`${name}() takes at least 1 argument`);
  const items = args.length === 1 ? rt.iterate(args[0] as Value, `${name}()`) : args;
  if (items.length === 0) {
    if (kw?.default !== undefined) return kw.default;
    throw fail(`${name}() of an empty sequence`);
  }
  const key = kw?.key ?? null;
  let best = items[0] as Value;
  let bestKey = key === null ? best : rt.call(key, [best]);
  for (let i = 1; i < items.length; i++) {
    const v = items[i] as Value;
    const k = key === null ? v : rt.call(key, [v]);
    if (compare(k, bestKey) * sign > 0) {
      best = v;
      bestKey = k;
    }
  }
  return best;
}

function add(a: Value, b: Value): Value {
  const x = numberOf(a);
  const y = numberOf(b);
  if (x === undefined || y === undefined) throw fail(`sum(): cannot add ${typeName(b)} to ${typeName(a)}`);
  return isFloat(a) || isFloat(b) ? makeFloat(x + y) : makeInt(x + y);
}

export function toInt(v: Value, base: Value | undefined): number {
  if (typeof v === 'string') {
    const b = base === undefined || base === null ? 10 : wantInt('int', base);
    const s = v.trim().replace(/_/g, '').toLowerCase();
    const m = /^([+-]?)(0[xob])?([0-9a-z]+)$/.exec(s);
    const prefix = m?.[2];
    const radix = b === 0 ? (prefix === '0x' ? 16 : prefix === '0o' ? 8 : prefix === '0b' ? 2 : 10) : b;
    const digits = m?.[3] ?? '';
    const valid = m !== null && (prefix === undefined || ({ '0x': 16, '0o': 8, '0b': 2 } as Record<string, number>)[prefix] === radix);
    const n = parseInt(digits, radix);
    if (!valid || Number.isNaN(n) || n.toString(radix) !== digits.replace(/^0+(?=.)/, '')) {
      throw fail(`invalid literal for int() with base ${b}: ${JSON.stringify(v)}`);
    }
    return makeInt(m?.[1] === '-' ? -n : n);
  }
  if (base !== undefined) throw fail("int() can't convert a non-string with an explicit base");
  if (typeof v === 'boolean') return v ? 1 : 0;
  const n = numberOf(v);
  if (n === undefined) throw fail(`int() argument must be a string or a number, not ${typeName(v)}`);
  if (!Number.isFinite(n)) throw fail(`cannot convert ${n} to an int`);
  return makeInt(Math.trunc(n));
}

function toFloat(v: Value): Value {
  if (typeof v === 'boolean') return new SFloat(v ? 1 : 0);
  const n = numberOf(v);
  if (n !== undefined) return makeFloat(n);
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (/^[+-]?(inf|infinity)$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
    if (/^[+-]?nan$/.test(s)) return NaN;
    if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(s)) return makeFloat(Number(s));
    throw fail(`could not convert string to float: ${JSON.stringify(v)}`);
  }
  throw fail(`float() argument must be a string or a number, not ${typeName(v)}`);
}

