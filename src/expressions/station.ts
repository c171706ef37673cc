import { ExpressionError } from './errors.js';
import { isIdentChar, isQuote, skipString } from './lexer.js';

/*
 * Station's own engine accepts Python-flavoured conditions and `$.a.b` paths. They are rewritten into
 * CEL once, at parse time, so the rest of the system only ever sees CEL.
 */

const WORDS: Readonly<Record<string, string>> = {
  True: 'true',
  False: 'false',
  None: 'null',
  and: '&&',
  or: '||',
  not: '!',
};

/** Cheap pre-check: most conditions are plain CEL and need no rewriting. */
const MAYBE_STATION = /\$|\b(True|False|None|and|or|not)\b/;

/**
 * Rewrites `True`/`False`/`None`, `and`/`or`/`not` and `$.a.b` / `$` into CEL, leaving string literals and field
 * names (`x.and`) alone. `changed` tells the caller to report a normalization note.
 */
export function normalizeCondition(src: string): { expr: string; changed: boolean } {
  if (!MAYBE_STATION.test(src)) return { expr: src, changed: false };
  let out = '';
  let i = 0;
  while (i < src.length) {
    const ch = src[i] ?? '';
    if (isQuote(ch)) {
      const end = skipString(src, i);
      const stop = end < 0 ? src.length : end; // unterminated: leave it for the CEL parser to report
      out += src.slice(i, stop);
      i = stop;
    } else if (ch === '$' && !isIdentChar(src[i - 1])) {
      // `$.a.b` → `a.b`; `$` alone or `$["k"]` → `ctx`, the whole context.
      if (src[i + 1] === '.') i += 2;
      else {
        out += 'ctx';
        i += 1;
      }
    } else if (/[A-Za-z_]/.test(ch)) {
      const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))?.[0] ?? ch;
      const replacement = WORDS[word];
      out += replacement !== undefined && !isFieldName(out) ? replacement : word;
      i += word.length;
    } else if (/[0-9]/.test(ch)) {
      // Numbers are copied whole so `1e5` or `0xFF` never look like words.
      const num = /^[0-9][A-Za-z0-9_.]*/.exec(src.slice(i))?.[0] ?? ch;
      out += num;
      i += num.length;
    } else {
      out += ch;
      i += 1;
    }
  }
  return { expr: out, changed: out !== src };
}

/** A word right after `.` is a field name (`steps.or`), not an operator. */
function isFieldName(before: string): boolean {
  return before.trimEnd().endsWith('.');
}

/** Strips the optional root prefix of a dot path: `$.a.b` and `ctx.a.b` → `a.b`; `$` and `ctx` → `` (the root). */
export function normalizePath(path: string): string {
  const p = path.trim();
  if (p === '$' || p === 'ctx') return '';
  if (p.startsWith('$.')) return p.slice(2);
  if (p.startsWith('ctx.')) return p.slice(4);
  return p;
}

/**
 * Splits a dot path into keys after normalizePath: `steps.items[0].name` → `['steps', 'items', '0', 'name']`;
 * the root is `[]`. Throws ExpressionError `STN_E_EXPR_SYNTAX` for empty segments or malformed brackets.
 */
export function splitPath(path: string): string[] {
  const p = normalizePath(path);
  if (p === '') return [];
  const pieces = p.split('.');
  // The common case, plain keys: no pattern to match per piece.
  if (!p.includes('[') && !p.includes(']') && !pieces.includes('')) return pieces;
  const keys: string[] = [];
  for (const piece of pieces) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(piece);
    const name = m?.[1] ?? '';
    const indexes = m?.[2] ?? '';
    if (!m || (name === '' && indexes === '')) {
      const reason = `invalid path ${JSON.stringify(path)}: ${piece === '' ? 'empty segment' : `bad segment "${piece}"`}`;
      throw new ExpressionError('STN_E_EXPR_SYNTAX', reason, { expression: path, reason });
    }
    if (name) keys.push(name);
    for (const idx of indexes.matchAll(/\[(\d+)\]/g)) keys.push(idx[1] ?? '');
  }
  return keys;
}
