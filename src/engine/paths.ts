import { normalizePath, splitPath } from '../expressions/index.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The segments of a context path (`ctx.`/`$.` prefixes dropped); [] is the scope root. */
export function pathSegments(path: string): string[] {
  const p = normalizePath(path);
  return p === '' ? [] : splitPath(p);
}

export function getPath(root: unknown, segments: string[]): unknown {
  let v: unknown = root;
  for (const seg of segments) {
    if (Array.isArray(v)) v = v[Number(seg)];
    else if (isObj(v)) v = Object.hasOwn(v, seg) ? v[seg] : undefined;
    else return undefined;
  }
  return v;
}

/** Sets a value at a path, creating objects on the way; returns the new root (the root itself is replaced for []). */
export function setPath(root: Obj, segments: string[], value: unknown): Obj {
  if (segments.length === 0) return isObj(value) ? { ...value } : { value };
  let node: Obj = root;
  for (let i = 0; i < segments.length - 1; i++) {
    const seg = segments[i] as string;
    const next = node[seg];
    if (!isObj(next)) node[seg] = {};
    node = node[seg] as Obj;
  }
  node[segments[segments.length - 1] as string] = value;
  return root;
}

/** Shallow-merges an object into the object at a path (inject without resultPath merges into the scope root). */
export function mergePath(root: Obj, segments: string[], value: unknown): Obj {
  const target = getPath(root, segments);
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
  for (const [k, v] of Object.entries(top)) out[k] = overlay(base[k], v);
  return out;
}
