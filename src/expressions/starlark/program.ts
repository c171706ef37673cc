import type { Stmt } from './ast.js';
import { parseProgram } from './parser.js';
import { SourceCache } from '../lru.js';

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

const cache = new SourceCache<StarlarkProgram>(1_000);

/** parseStarlark with a small LRU cache keyed by source (the engine calls this per step). */
export function compileStarlark(source: string): StarlarkProgram {
  return cache.get(source, parseStarlark);
}
