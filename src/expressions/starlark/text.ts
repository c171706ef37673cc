import {
  Callable,
  dictEntries,
  EvalFail,
  fail,
  isDict,
  isInt,
  limit,
  Module,
  numberOf,
  own,
  SFloat,
  STuple,
  typeName,
  type DictKey,
  type Runtime,
  type Value,
} from './values.js';

/*
 * Values as text: str() and repr() (Starlark's forms: strings in double quotes, `None`, `True`, `1.0`), `%`
 * formatting, str.format, and json.encode/decode. Every builder checks the length as it grows, so `str()` of a list
 * holding the same long string a thousand times fails at the limit instead of allocating the whole text.
 */

export interface TextLimits {
  maxString: number;
  maxDepth: number;
}

class Builder {
  private parts: string[] = [];
  private length = 0;

  constructor(private readonly limits: TextLimits) {}

  add(s: string): void {
    this.length += s.length;
    if (this.length > this.limits.maxString) throw tooLong(this.limits.maxString);
    this.parts.push(s);
  }

  done(): string {
    return this.parts.join('');
  }
}

export function tooLong(max: number): ReturnType<typeof limit> {
  return limit(`a string would be longer than ${max} characters`);
}

export function str(v: Value, limits: TextLimits): string {
  if (typeof v === 'string') return v;
  const b = new Builder(limits);
  write(v, b, limits, 0);
  return b.done();
}

export function repr(v: Value, limits: TextLimits): string {
  const b = new Builder(limits);
  write(v, b, limits, 0);
  return b.done();
}

export function quote(s: string): string {
  return JSON.stringify(s);
}

function write(v: Value, b: Builder, limits: TextLimits, depth: number): void {
  if (depth > limits.maxDepth) throw limit(`values nested deeper than ${limits.maxDepth} levels`);
  if (v === null) return b.add('None');
  switch (typeof v) {
    case 'boolean':
      return b.add(v ? 'True' : 'False');
    case 'number':
      return b.add(Number.isSafeInteger(v) ? String(v) : floatText(v));
    case 'string':
      return b.add(quote(v));
  }
  if (v instanceof SFloat) return b.add(floatText(v.value));
  if (Array.isArray(v) || v instanceof STuple) {
    const items = Array.isArray(v) ? v : v.items;
    b.add(Array.isArray(v) ? '[' : '(');
    items.forEach((item, i) => {
      if (i > 0) b.add(', ');
      write(item, b, limits, depth + 1);
    });
    return b.add(Array.isArray(v) ? ']' : items.length === 1 ? ',)' : ')');
  }
  if (v instanceof Callable) return b.add(`<built-in function ${v.name}>`);
  if (v instanceof Module) return b.add(`<module ${v.name}>`);
  b.add('{');
  dictEntries(v).forEach(([k, item], i) => {
    if (i > 0) b.add(', ');
    write(k, b, limits, depth + 1);
    b.add(': ');
    write(item, b, limits, depth + 1);
  });
  b.add('}');
}

/** Python's repr of a float: shortest round-trip digits, `.0` on whole values, exponent past 1e16 or below 1e-4. */
export function floatText(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const ax = Math.abs(x);
  if (ax >= 1e16 || ax < 1e-4) {
    const [mantissa = '', exponent = ''] = x.toExponential().split('e');
    const sign = exponent.startsWith('-') ? '-' : '+';
    const digits = exponent.replace(/^[+-]/, '').padStart(2, '0');
    return `${mantissa}e${sign}${digits}`;
  }
  const s = String(x);
  return s.includes('.') ? s : `${s}.0`;
}

// ---- % formatting ----

const DIRECTIVE = /%(?:\(([^)]*)\))?([-+ 0#]*)(\d+)?(?:\.(\d+))?([sdirxXofFeEgG%])?/g;

export function percent(format: string, arg: Value, limits: TextLimits): string {
  const positional = arg instanceof STuple ? arg.items : [arg];
  const byName = isDict(arg) ? arg : undefined;
  let next = 0;
  const b = new Builder(limits);
  let last = 0;
  for (const m of format.matchAll(DIRECTIVE)) {
    b.add(format.slice(last, m.index));
    last = m.index + m[0].length;
    const [, name, flags = '', width, precision, conv] = m;
    if (conv === undefined) throw fail(`incomplete format directive "${m[0]}"`);
    if (conv === '%') {
      b.add('%');
      continue;
    }
    let value: Value;
    if (name !== undefined) {
      if (byName === undefined) throw fail('format requires a dict for %(name) directives');
      const found = dictEntries(byName).find(([k]) => k === name);
      if (found === undefined) throw new EvalFail('STN_E_EXPR_MISSING_KEY', `no such key "${name}"`, name);
      value = found[1];
    } else {
      if (next >= positional.length) throw fail('not enough arguments for format string');
      value = positional[next++] as Value;
    }
    b.add(pad(convert(value, conv, precision, flags, limits), width, flags));
  }
  b.add(format.slice(last));
  // A dict may go unused (`"x" % {}`); other arguments must all be consumed.
  if (next === positional.length || (byName !== undefined && next === 0)) return b.done();
  throw fail('not all arguments converted during string formatting');
}

function convert(v: Value, conv: string, precision: string | undefined, flags: string, limits: TextLimits): string {
  switch (conv) {
    case 's':
      return str(v, limits);
    case 'r':
      return repr(v, limits);
    case 'd':
    case 'i': {
      const n = numberOf(v) ?? (typeof v === 'boolean' ? Number(v) : undefined);
      if (n === undefined) throw fail(`%${conv} format requires a number, not ${typeName(v)}`);
      return sign(String(Math.trunc(n)), flags);
    }
    case 'x':
    case 'X':
    case 'o': {
      if (!isInt(v)) throw fail(`%${conv} format requires an int, not ${typeName(v)}`);
      const text = Math.abs(v).toString(conv === 'o' ? 8 : 16);
      return sign((v < 0 ? '-' : '') + (conv === 'X' ? text.toUpperCase() : text), flags);
    }
    default: {
      const n = numberOf(v);
      if (n === undefined) throw fail(`%${conv} format requires a number, not ${typeName(v)}`);
      const p = precision === undefined ? 6 : Number(precision);
      const lower = conv.toLowerCase();
      let text = lower === 'f' ? n.toFixed(p) : lower === 'e' ? exp(n.toExponential(p)) : general(n, p);
      if (conv === 'E' || conv === 'G') text = text.toUpperCase();
      return sign(text, flags);
    }
  }
}

function exp(s: string): string {
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

function general(n: number, p: number): string {
  const precision = p === 0 ? 1 : p;
  const e = n === 0 ? 0 : Math.floor(Math.log10(Math.abs(n)));
  if (e < -4 || e >= precision) return exp(n.toExponential(precision - 1).replace(/\.?0+e/, 'e'));
  return String(Number(n.toFixed(Math.max(0, precision - 1 - e))));
}

function sign(text: string, flags: string): string {
  if (text.startsWith('-')) return text;
  if (flags.includes('+')) return `+${text}`;
  if (flags.includes(' ')) return ` ${text}`;
  return text;
}

function pad(text: string, width: string | undefined, flags: string): string {
  const w = width === undefined ? 0 : Number(width);
  if (text.length >= w) return text;
  if (flags.includes('-')) return text.padEnd(w);
  if (flags.includes('0') && /^[-+ ]?\d/.test(text)) {
    const s = /^[-+ ]/.test(text) ? (text[0] ?? '') : '';
    return s + text.slice(s.length).padStart(w - s.length, '0');
  }
  return text.padStart(w);
}

// ---- str.format ----

export function format(template: string, args: Value[], kwargs: Record<string, Value> | undefined, limits: TextLimits): string {
  const b = new Builder(limits);
  let auto = 0;
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    const close = template.indexOf('}', i);
    if (open < 0 && close < 0) break;
    if (close >= 0 && (open < 0 || close < open)) {
      if (template[close + 1] !== '}') throw fail('single "}" in format string');
      b.add(template.slice(i, close + 1));
      i = close + 2;
      continue;
    }
    b.add(template.slice(i, open));
    if (template[open + 1] === '{') {
      b.add('{');
      i = open + 2;
      continue;
    }
    const end = template.indexOf('}', open);
    if (end < 0) throw fail('unmatched "{" in format string');
    const field = template.slice(open + 1, end);
    const m = /^([^!:]*)(?:!([rs]))?(?::(.*))?$/.exec(field);
    if (!m) throw fail(`invalid format field "{${field}}"`);
    const [, name = '', conversion, spec] = m;
    if (spec !== undefined && spec !== '') throw fail(`format specifications such as "{${field}}" are not supported: use % formatting`);
    let value: Value | undefined;
    if (name === '') value = args[auto++];
    else if (/^\d+$/.test(name)) value = args[Number(name)];
    else value = kwargs?.[name];
    if (value === undefined) {
      throw fail(name === '' || /^\d+$/.test(name) ? `format: not enough arguments for "{${field}}"` : `format: no keyword argument "${name}"`);
    }
    b.add(conversion === 'r' ? repr(value, limits) : str(value, limits));
    i = end + 1;
  }
  b.add(template.slice(i));
  return b.done();
}

// ---- JSON ----

export function jsonEncode(v: Value, limits: TextLimits): string {
  const b = new Builder(limits);
  encode(v, b, limits, 0);
  return b.done();
}

function encode(v: Value, b: Builder, limits: TextLimits, depth: number): void {
  if (depth > limits.maxDepth) throw limit(`values nested deeper than ${limits.maxDepth} levels`);
  if (v === null) return b.add('null');
  switch (typeof v) {
    case 'boolean':
    case 'string':
      return b.add(JSON.stringify(v));
    case 'number':
      if (!Number.isFinite(v)) throw fail(`json.encode: cannot encode the non-finite float ${floatText(v)}`);
      return b.add(String(v));
  }
  if (v instanceof SFloat) {
    if (!Number.isFinite(v.value)) throw fail(`json.encode: cannot encode the non-finite float ${floatText(v.value)}`);
    return b.add(String(v.value));
  }
  if (Array.isArray(v) || v instanceof STuple) {
    b.add('[');
    (Array.isArray(v) ? v : v.items).forEach((item, i) => {
      if (i > 0) b.add(',');
      encode(item, b, limits, depth + 1);
    });
    return b.add(']');
  }
  if (v instanceof Callable || v instanceof Module) throw fail(`json.encode: cannot encode a ${typeName(v)}`);
  b.add('{');
  dictEntries(v).forEach(([k, item], i) => {
    if (typeof k !== 'string') throw fail(`json.encode: dict keys must be strings, not ${typeName(k)}`);
    if (i > 0) b.add(',');
    b.add(JSON.stringify(k));
    b.add(':');
    encode(item, b, limits, depth + 1);
  });
  b.add('}');
}

export function jsonDecode(text: string, rt: Runtime): Value {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    if (err instanceof RangeError) throw limit(`json.decode: the document is nested too deeply`);
    throw fail(`json.decode: ${err instanceof Error ? err.message : String(err)}`);
  }
  return fromJson(parsed, rt, 0);
}

/** Decoded JSON becomes the program's own (mutable) lists and dicts. */
function fromJson(v: unknown, rt: Runtime, depth: number): Value {
  if (v === null || typeof v !== 'object') return v as Value;
  if (depth > rt.text.maxDepth) throw limit(`json.decode: values nested deeper than ${rt.text.maxDepth} levels`);
  if (Array.isArray(v)) {
    rt.fits(v.length);
    return own(v.map((item) => fromJson(item, rt, depth + 1)));
  }
  const out = new Map<DictKey, Value>();
  for (const [k, item] of Object.entries(v)) out.set(k, fromJson(item, rt, depth + 1));
  rt.fits(out.size);
  return out;
}
