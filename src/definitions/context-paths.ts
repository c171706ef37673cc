import { escapePointer, normalizePath, splitPath } from '../expressions/index.js';
import type { State, WorkflowSpec } from './types.js';

/**
 * Keys that name a JavaScript object's machinery rather than data: a context path through them would write into
 * `Object.prototype` of the daemon (prototype pollution), so no context path may use them (docs/security.md).
 */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** A context path (or itemName) of a definition that uses a reserved key. */
export interface ReservedPath {
  /** JSON pointer of the field in the normalized definition. */
  pointer: string;
  state: string;
  field: 'resultPath' | 'dataPath' | 'itemsPath' | 'itemName' | 'input.summaryPath' | 'output key' | 'output path';
  value: string;
  key: string;
}

/** The first reserved key among a path's segments (malformed paths have none: other checks report them). */
export function reservedKeyOf(path: string): string | undefined {
  let segments: string[];
  try {
    const p = normalizePath(path);
    segments = p === '' ? [] : splitPath(p);
  } catch {
    return undefined;
  }
  return segments.find((s) => RESERVED_KEYS.has(s));
}

/**
 * Every context path of a definition (resultPath, dataPath, itemsPath, itemName, the keys and paths of output
 * mappings, and a literal summaryPath of human.approval) that uses `__proto__`, `constructor` or `prototype`, in every scope. Validation reports them; the
 * engine refuses to start a run of a version stored before this check existed.
 */
export function reservedContextPaths(spec: WorkflowSpec): ReservedPath[] {
  let found = checked.get(spec);
  if (found) return found;
  found = collect(spec);
  checked.set(spec, found);
  return found;
}

/** The engine asks once per run start, about the same few (cached) specs: remember the answer per spec object. */
const checked = new WeakMap<WorkflowSpec, ReservedPath[]>();

function collect(spec: WorkflowSpec): ReservedPath[] {
  const found: ReservedPath[] = [];
  const visit = (states: State[], base: string): void => {
    states.forEach((s, i) => {
      const p = `${base}/states/${i}`;
      const check = (field: ReservedPath['field'], value: unknown, pointer: string, whole = false): void => {
        if (typeof value !== 'string') return;
        const key = whole ? (RESERVED_KEYS.has(value) ? value : undefined) : reservedKeyOf(value);
        if (key !== undefined) found.push({ pointer, state: s.name, field, value, key });
      };
      if ('resultPath' in s) check('resultPath', s.resultPath, `${p}/resultPath`);
      if (s.type === 'switch') check('dataPath', s.dataPath, `${p}/dataPath`);
      if (s.type === 'operation' && s.output !== undefined) {
        // Output mappings write each key into the context and read a path of the step output.
        for (const [key, path] of Object.entries(s.output)) {
          const at = `${p}/output/${escapePointer(key)}`;
          check('output key', key, at, true);
          check('output path', path, at);
        }
      }
      if (s.type === 'operation' && s.action === 'human.approval') {
        const input = s.input as { summaryPath?: unknown } | undefined;
        const summary = typeof input === 'object' && input !== null ? input.summaryPath : undefined;
        if (typeof summary === 'string' && !summary.includes('{{')) check('input.summaryPath', summary, `${p}/input/summaryPath`);
      }
      if (s.type === 'foreach') {
        check('itemsPath', s.itemsPath, `${p}/itemsPath`);
        check('itemName', s.itemName, `${p}/itemName`, true);
        visit(s.iterator.states, `${p}/iterator`);
      }
      if (s.type === 'parallel') s.branches.forEach((b, j) => visit(b.states, `${p}/branches/${j}`));
    });
  };
  visit(spec.states, '');
  return found;
}
