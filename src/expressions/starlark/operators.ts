import type { BinaryOp } from './ast.js';
import { percent } from './text.js';
import {
  compare,
  dictGet,
  dictKey,
  dictKeys,
  equal,
  fail,
  fromInput,
  isDict,
  isFloat,
  isInt,
  makeFloat,
  makeInt,
  numberOf,
  own,
  STuple,
  truthy,
  typeName,
  type DictKey,
  type Runtime,
  type Value,
} from './values.js';

/* Python's operators on Starlark values: arithmetic with int/float promotion, sequence + and *, `%`, comparisons. */

export function unary(op: string, v: Value): Value {
  switch (op) {
    case 'not':
    case '!':
      return !truthy(v);
    case '-': {
      const n = numberOf(v);
      if (n === undefined) throw fail(`bad operand for unary -: ${typeName(v)}`);
      return isFloat(v) ? makeFloat(-n) : -n + 0;
    }
    case '+':
      if (numberOf(v) === undefined) throw fail(`bad operand for unary +: ${typeName(v)}`);
      return v;
    default:
      if (!isInt(v)) throw fail(`bad operand for unary ~: ${typeName(v)}`);
      return ~v;
  }
}

export function compareOp(op: string, a: Value, b: Value): boolean {
  switch (op) {
    case '==':
      return equal(a, b);
    case '!=':
      return !equal(a, b);
    case '<':
      return compare(a, b) < 0;
    case '<=':
      return compare(a, b) <= 0;
    case '>':
      return compare(a, b) > 0;
    case '>=':
      return compare(a, b) >= 0;
    case 'in':
      return contains(b, a);
    default:
      return !contains(b, a);
  }
}

export function contains(container: Value, item: Value): boolean {
  if (typeof container === 'string') {
    if (typeof item !== 'string') throw fail(`'in <string>' requires a string as left operand, not ${typeName(item)}`);
    return container.includes(item);
  }
  if (Array.isArray(container)) return container.some((v) => equal(fromInput(v), item));
  if (container instanceof STuple) return container.items.some((v) => equal(v, item));
  if (isDict(container)) return dictGet(container, item) !== undefined;
  throw fail(`'in' needs a string, list, tuple or dict on the right, not ${typeName(container)}`);
}

export function binary(rt: Runtime, op: BinaryOp, a: Value, b: Value): Value {
  const x = numberOf(a);
  const y = numberOf(b);
  if (x !== undefined && y !== undefined) return arithmetic(op, a, b, x, y);
  switch (op) {
    case '+':
      if (typeof a === 'string' && typeof b === 'string') {
        rt.string(a.length + b.length);
        return a + b;
      }
      if (Array.isArray(a) && Array.isArray(b)) {
        rt.collection(a.length + b.length);
        return own(a.concat(b));
      }
      if (a instanceof STuple && b instanceof STuple) {
        rt.collection(a.items.length + b.items.length);
        return new STuple([...a.items, ...b.items]);
      }
      break;
    case '*': {
      const [seq, times] = isInt(b) ? [a, b] : isInt(a) ? [b, a] : [undefined, 0];
      const n = Math.max(0, times);
      if (typeof seq === 'string') {
        rt.string(seq.length * n);
        return seq.repeat(n);
      }
      if (Array.isArray(seq) || seq instanceof STuple) {
        const items = Array.isArray(seq) ? seq : seq.items;
        rt.collection(items.length * n);
        const out: Value[] = new Array<Value>(items.length * n);
        for (let i = 0, k = 0; i < n; i++) for (let j = 0; j < items.length; j++) out[k++] = items[j] as Value;
        return Array.isArray(seq) ? own(out) : new STuple(out);
      }
      break;
    }
    case '%':
      if (typeof a === 'string') {
        const text = percent(a, b, rt.text);
        rt.string(text.length);
        return text;
      }
      break;
    case '|':
      if (isDict(a) && isDict(b)) {
        const out = new Map<DictKey, Value>();
        for (const k of dictKeys(a)) out.set(dictKey(k), dictGet(a, k) as Value);
        for (const k of dictKeys(b)) out.set(dictKey(k), dictGet(b, k) as Value);
        rt.collection(out.size);
        return out;
      }
      break;
  }
  throw fail(`unsupported operand types for ${op}: ${typeName(a)} and ${typeName(b)}`);
}

function arithmetic(op: BinaryOp, a: Value, b: Value, x: number, y: number): Value {
  const float = isFloat(a) || isFloat(b);
  switch (op) {
    case '+':
      return float ? makeFloat(x + y) : makeInt(x + y);
    case '-':
      return float ? makeFloat(x - y) : makeInt(x - y);
    case '*':
      return float ? makeFloat(x * y) : makeInt(x * y);
    case '/':
      if (y === 0) throw fail('division by zero');
      return makeFloat(x / y);
    case '//':
      if (y === 0) throw fail('integer division by zero');
      return float ? makeFloat(Math.floor(x / y)) : makeInt(Math.floor(x / y));
    case '%': {
      if (y === 0) throw fail('modulo by zero');
      const m = x - y * Math.floor(x / y);
      return float ? makeFloat(m) : makeInt(m);
    }
    case '**':
      if (!float && y >= 0) return makeInt(x ** y);
      return makeFloat(x ** y);
    default: {
      if (float) throw fail(`unsupported operand types for ${op}: ${typeName(a)} and ${typeName(b)}`);
      const p = BigInt(x);
      const q = BigInt(y);
      if ((op === '<<' || op === '>>') && (y < 0 || y > 64)) throw fail(`shift count ${y} out of range`);
      const r = op === '|' ? p | q : op === '&' ? p & q : op === '^' ? p ^ q : op === '<<' ? p << q : p >> q;
      return makeInt(Number(r));
    }
  }
}
