/**
 * Nesting-depth limits of untrusted text (docs/security.md, "Bounded parsing"). Parsers, schema checks and template
 * rendering are recursive: a document nested tens of thousands of levels deep exhausts the stack, and V8 can then
 * abort the whole process (not a catchable RangeError). So every text is measured with a linear scan before a
 * recursive parser sees it, and refused past `DEFAULTS.maxNestingDepth`.
 */
import { DEFAULTS } from './config/defaults.js';
import { StationError } from './errors.js';

/** The deepest nesting of objects/lists accepted (64). */
export const MAX_NESTING_DEPTH: number = DEFAULTS.maxNestingDepth;

/** Where a text first nests deeper than the limit. */
export interface NestingViolation {
  line: number;
  col: number;
  /** Character offset of the opening bracket that went past the limit. */
  offset: number;
  limit: number;
}

/**
 * The first place a JSON text nests deeper than `limit`, counting `[` and `{` outside strings; undefined when it
 * does not. Exact for valid JSON, linear, and allocation-free: run it before JSON.parse on untrusted bodies.
 */
export function jsonNestingViolation(text: string, limit: number = MAX_NESTING_DEPTH): NestingViolation | undefined {
  const n = text.length;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: jump to its closing quote, one not escaped by an odd run of backslashes.
      let end = text.indexOf('"', i + 1);
      while (end > 0 && escaped(text, end)) end = text.indexOf('"', end + 1);
      if (end < 0) return undefined; // unterminated: JSON.parse refuses it
      i = end;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return violationAt(text, i, limit);
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return undefined;
}

function escaped(text: string, quote: number): boolean {
  let backslashes = 0;
  for (let k = quote - 1; k >= 0 && text.charCodeAt(k) === 0x5c; k--) backslashes++;
  return backslashes % 2 === 1;
}

/**
 * An upper bound of how deep the `yaml` package could nest a text, whatever it makes of its quotes: every `[` and `{`
 * counts as a level (even inside strings, so no string can hide a level), and block nesting is bounded by the widest
 * run of indentation and indicators (`- `, `? `, `: `) on one line, twice (a sequence may sit at its mapping's column).
 * Loose for files with many flow collections, never too low; linear.
 */
export function yamlNestingBound(text: string): number {
  const n = text.length;
  let flow = 0;
  let widest = 0;
  let lineWidth = 0;
  let leading = true;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      if (lineWidth > widest) widest = lineWidth;
      lineWidth = 0;
      leading = true;
      continue;
    }
    if (c === 0x5b || c === 0x7b) flow++;
    const indicator = c === 0x2d || c === 0x3f || c === 0x3a; // - ? :
    if (leading && (c === 0x20 || c === 0x09 || indicator)) {
      lineWidth++;
      continue;
    }
    leading = false;
    if (indicator) {
      const next = i + 1 < n ? text.charCodeAt(i + 1) : 0x0a;
      if (next === 0x20 || next === 0x09 || next === 0x0a || next === 0x0d) lineWidth++;
    }
  }
  if (lineWidth > widest) widest = lineWidth;
  return flow + 2 * widest + 2;
}

/** STN_E_BODY_TOO_DEEP (400) naming where a JSON body went past the limit. */
export function bodyTooDeep(what: string, at: NestingViolation): StationError {
  return new StationError(
    'STN_E_BODY_TOO_DEEP',
    `the ${what} nests objects/arrays deeper than ${at.limit} levels (line ${at.line}, column ${at.col})`,
    { limit: at.limit, line: at.line, col: at.col },
  );
}

/** Line and column (1-based) of an offset. */
export function lineColAt(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, col: offset - lineStart + 1 };
}

function violationAt(text: string, offset: number, limit: number): NestingViolation {
  return { ...lineColAt(text, offset), offset, limit };
}
