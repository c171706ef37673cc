import type { Stmt } from './ast.js';
import { parseProgram } from './parser.js';

/** A parsed program (opaque to callers). */
export interface StarlarkProgram {
  readonly source: string;
}

/** The parsed form behind a StarlarkProgram. */
export class ParsedProgram implements StarlarkProgram {
  constructor(
    readonly source: string,
    readonly body: readonly Stmt[],
  ) {}
}

/** Parses a transform expression or statement program. Throws StarlarkSyntaxError (1-based line/col in `source`). */
export function parseStarlark(source: string): StarlarkProgram {
  return new ParsedProgram(source, parseProgram(source));
}

const CACHE_LIMIT = 1_000;
const cache = new Map<string, StarlarkProgram>();

/** parseStarlark with a small LRU cache keyed by source (the engine calls this per step). */
export function compileStarlark(source: string): StarlarkProgram {
  const hit = cache.get(source);
  if (hit) {
    cache.delete(source); // re-insert: Map order is the recency order
    cache.set(source, hit);
    return hit;
  }
  const program = parseStarlark(source);
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(source, program);
  return program;
}
