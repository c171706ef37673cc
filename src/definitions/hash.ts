import { createHash } from 'node:crypto';

/** Replaces each object whose keys are out of order with a sorted copy; native JSON.stringify does the rest. */
function sortKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = (keys[i - 1] as string) <= (keys[i] as string);
  if (sorted) return value;
  const copy: Record<string, unknown> = {};
  for (const k of keys.sort()) copy[k] = (value as Record<string, unknown>)[k];
  return copy;
}

/** JSON with object keys sorted at every level: the same data always gives the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, sortKeys) ?? 'null';
}

/**
 * sha256 hex. The content hash of a definition is `sha256(canonicalJson(normalized))`: taken over the data, not the
 * text, so whitespace, comments, key order and YAML-vs-JSON spelling never make a new version.
 */
export function sha256(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}
