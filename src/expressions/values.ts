import { Optional } from '@marcbachmann/cel-js';
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';

/*
 * Conversions between JSON values and the values the CEL library works with.
 *
 * The library treats a JS `number` as a CEL double and a `bigint` as a CEL int, and CEL has no implicit int/double
 * arithmetic: with raw JSON, `count + 1` fails ("no such overload: double + int"). So on the way in every whole number
 * becomes an int (bigint), like a JSON Schema `integer`; fractional numbers stay doubles. On the way out ints become
 * numbers again, so nothing outside this folder ever sees a bigint or a library class.
 */

/** Converts a JSON value into the CEL library's representation (whole safe-integer numbers → bigint). */
export function toCel(value: unknown): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(toCel);
  if (!isPlainObject(value)) return value; // Date (CEL timestamp), Map, bytes: the library handles them as they are
  const obj = value as Record<string, unknown>;
  // The library tells a map from other objects by its `constructor` property, which a key of that name would shadow:
  // such an object goes in as a Map (field access, has() and `in` work the same), so `body.constructor` is data.
  if (Object.hasOwn(obj, 'constructor')) {
    const map = new Map<string, unknown>();
    for (const key of Object.keys(obj)) map.set(key, toCel(obj[key]));
    return map;
  }
  // A null prototype keeps keys such as `__proto__` ordinary data, and inherited names (`toString`) absent.
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(obj)) out[key] = toCel(obj[key]);
  return out;
}

/** Why a CEL result could not be turned into JSON. The caller wraps it into an ExpressionError. */
export class JsonConversionError extends Error {}

/**
 * Converts a CEL result into plain JSON: ints → numbers, maps → objects, lists/sets → arrays, optionals unwrapped
 * (empty → null), timestamps → ISO strings, durations → `"90s"`, bytes → base64. Anything else is refused.
 */
export function toJson(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'bigint':
      return bigintToNumber(value);
    case 'number':
      if (!Number.isFinite(value)) throw new JsonConversionError(`the result ${value} is not a finite number`);
      return value;
    case 'undefined':
      return null;
    case 'object':
      return objectToJson(value);
    default:
      throw new JsonConversionError(`the result is a ${typeof value}, which has no JSON form`);
  }
}

function objectToJson(value: object | null): unknown {
  if (value === null) return null;
  if (Array.isArray(value) || value instanceof Set) return Array.from(value, toJson);
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) setKey(out, String(k), toJson(v));
    return out;
  }
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) setKey(out, key, toJson((value as Record<string, unknown>)[key]));
    return out;
  }
  if (value instanceof Optional) return value.hasValue() ? toJson(value.value()) : null;
  if (value instanceof UnsignedInt) return bigintToNumber(value.value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Duration) return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  const kind = (value.constructor as { name?: string } | undefined)?.name ?? 'object';
  throw new JsonConversionError(`the result is a CEL ${kind} value, which has no JSON form`);
}

function bigintToNumber(value: bigint): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    throw new JsonConversionError(`the integer ${value} is outside the range JSON numbers hold exactly (±2^53-1)`);
  }
  return n;
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Assigns without tripping the `__proto__` setter, so a key of that name stays data. */
export function setKey(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key !== '__proto__') out[key] = value;
  else Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}
