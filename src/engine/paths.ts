import { RESERVED_KEYS } from '../definitions/context-paths.js';
import { normalizePath, splitPath } from '../expressions/index.js';
import { setKey } from '../expressions/values.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A context path that names a reserved segment, met at run time: the step fails with STN_E_CONTEXT_PATH. */
export class ContextPathError extends Error {
  readonly code = 'STN_E_CONTEXT_PATH';
}

/**
 * The segments of a context path (`ctx.`/`$.` prefixes dropped); [] is the scope root. Throws ContextPathError for a
 * path through `__proto__`, `constructor` or `prototype`.
 */
export function pathSegments(path: string): string[] {
  const p = normalizePath(path);
  const segments = p === '' ? [] : splitPath(p);
  const bad = segments.find((seg) => RESERVED_KEYS.has(seg));
  if (bad !== undefined) {
    throw new ContextPathError(`the context path "${path}" uses "${bad}", which is reserved: name the key differently`);
  }
  return segments;
}

/** Reads own properties only: a key that is not in the data is undefined, never something inherited. */
export function getPath(root: unknown, segments: string[]): unknown {
  let v: unknown = root;
  for (const seg of segments) {
    if (Array.isArray(v)) v = v[Number(seg)];
    else if (isObj(v)) v = Object.hasOwn(v, seg) ? v[seg] : undefined;
    else return undefined;
  }
  return v;
}

/**
 * Sets a value at a path, creating objects on the way; returns the new root (the root itself is replaced for []).
 * Only own properties are followed and keys are defined as data, so even a stored patch written before paths were
 * checked (`__proto__.x`) replays into an ordinary key instead of into `Object.prototype`.
 */
export function setPath(root: Obj, segments: string[], value: unknown): Obj {
  if (segments.length === 0) return isObj(value) ? { ...value } : { value };
  let node: Obj = root;
  for (let i = 0; i < segments.length - 1; i++) {
    const seg = segments[i] as string;
    const next = Object.hasOwn(node, seg) ? node[seg] : undefined;
    if (isObj(next)) {
      node = next;
    } else {
      const fresh: Obj = {};
      setKey(node, seg, fresh);
      node = fresh;
    }
  }
  setKey(node, segments[segments.length - 1] as string, value);
  return root;
}

/** Shallow-merges an object into the object at a path (inject without resultPath merges into the scope root). */
export function mergePath(root: Obj, segments: string[], value: unknown): Obj {
  const target = getPath(root, segments);
  // Spread defines keys (a `__proto__` key stays data); Object.assign would set them, and so replace the prototype.
  const merged = isObj(target) && isObj(value) ? { ...target, ...value } : value;
  return setPath(root, segments, merged);
}

/**
 * What a nested scope sees: its ancestors' scopes with its own writes over them, merged deeply (a branch writing
 * `steps.a` still sees the parent's `steps.b`). The parent's data is never modified.
 */
export function overlay(base: unknown, top: unknown): unknown {
  if (!isObj(base) || !isObj(top)) return top === undefined ? base : top;
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(top)) setKey(out, k, overlay(Object.hasOwn(base, k) ? base[k] : undefined, v));
  return out;
}
