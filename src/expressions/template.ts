import { Meter } from './budget.js';
import { compileExpression } from './cel.js';
import { ExpressionError } from './errors.js';
import { isQuote, skipString } from './lexer.js';
import { setKey } from './values.js';

/*
 * `{{ <CEL> }}` templates (docs/runs.md "Context, paths and templates"). There is no escape syntax: a literal `{{` is
 * written as a CEL string, `{{ "{{" }}`, which is why the scanner must understand string literals.
 */

export type TemplatePart = { kind: 'text'; text: string } | { kind: 'expr'; source: string; offset: number };

/** Where a template sits, for error messages: `state "notify", field "input.text"`. */
export interface TemplateLocation {
  state?: string;
  field: string;
}

/** Cheap test for "may contain a template"; parseTemplate decides whether it is a well-formed one. */
export function hasTemplate(s: string): boolean {
  return s.includes('{{');
}

/**
 * Splits a string into text and `{{ }}` expressions. `offset` is where the (trimmed) CEL source starts in `s`.
 * A stray `}}` is text. Throws ExpressionError `STN_E_EXPR_SYNTAX` (with `offset`) for an unclosed or empty `{{ }}`.
 */
export function parseTemplate(s: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let text = '';
  let i = 0;
  while (i < s.length) {
    const open = s.indexOf('{{', i);
    if (open < 0) {
      text += s.slice(i);
      break;
    }
    text += s.slice(i, open);
    const close = findClose(s, open);
    const inner = s.slice(open + 2, close);
    const source = inner.trim();
    if (source === '') throw templateError(s, 'empty "{{ }}"', open);
    if (text) parts.push({ kind: 'text', text });
    text = '';
    parts.push({ kind: 'expr', source, offset: open + 2 + (inner.length - inner.trimStart().length) });
    i = close + 2;
  }
  if (text) parts.push({ kind: 'text', text });
  return parts;
}

/** Index of the `}}` closing the `{{` at `open`, skipping string literals and balanced `{ }` of map literals. */
function findClose(s: string, open: number): number {
  let depth = 0;
  let i = open + 2;
  while (i < s.length) {
    const ch = s[i];
    if (isQuote(ch)) {
      const end = skipString(s, i);
      if (end < 0) throw templateError(s, 'unterminated string literal inside "{{ }}"', i);
      i = end;
      continue;
    }
    if (ch === '{') depth += 1;
    else if (ch === '}') {
      if (depth === 0 && s[i + 1] === '}') return i;
      depth = Math.max(0, depth - 1);
    }
    i += 1;
  }
  throw templateError(s, 'unclosed "{{"', open);
}

function templateError(s: string, what: string, offset: number): ExpressionError {
  const reason = `${what} at offset ${offset}`;
  return new ExpressionError('STN_E_EXPR_SYNTAX', `${reason} in ${JSON.stringify(s)}`, { expression: s, reason, offset });
}

/**
 * Renders every string inside `value` (objects and arrays are walked; keys are left alone). A string that is exactly
 * one `{{ … }}` (surrounding whitespace allowed) yields the typed value; otherwise pieces are interpolated as text
 * (objects and arrays as JSON). Errors are ExpressionErrors naming the state, the field and the expression.
 * All expressions of one rendering share one cost budget (`meter`, a fresh one by default).
 */
export function renderTemplate(
  value: unknown,
  vars: Record<string, unknown>,
  where: TemplateLocation,
  meter?: Meter,
  options: RenderOptions = {},
): unknown {
  let shared = meter;
  const budget = (): Meter => (shared ??= new Meter());
  const prefix = where.state === undefined ? '' : `state ${JSON.stringify(where.state)}, `;
  const render = (v: unknown, field: string): unknown => {
    if (typeof v === 'string') {
      return v.includes('{{') ? renderString(v, vars, `${prefix}field ${JSON.stringify(field)}`, budget, options) : v;
    }
    if (Array.isArray(v)) return v.map((item, i) => render(item, `${field}[${i}]`));
    if (isPlainObject(v)) {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(v)) setKey(out, key, render(item, `${field}.${key}`));
      return out;
    }
    return v;
  };
  return render(value, where.field);
}

export interface RenderOptions {
  /**
   * Free text (an agent's task, an approval's message in Station-compatible workflows): an expression that reads a
   * missing key is left as written (`{{ … }}`) and reported here instead of failing the rendering.
   */
  onMissingKey?: (err: ExpressionError) => void;
}

function renderString(s: string, vars: Record<string, unknown>, where: string, budget: () => Meter, options: RenderOptions): unknown {
  let parts: TemplatePart[];
  try {
    parts = parseTemplate(s);
  } catch (err) {
    throw relocate(err, where, JSON.stringify(s), 0);
  }
  const exprs = parts.filter((p) => p.kind === 'expr');
  const onlyExpr = exprs.length === 1 && parts.every((p) => p.kind === 'expr' || p.text.trim() === '');
  const evaluate = (part: { source: string; offset: number }): unknown => {
    try {
      return compileExpression(part.source).evaluate(vars, budget());
    } catch (err) {
      const moved = relocate(err, where, `{{ ${part.source} }}`, part.offset);
      if (options.onMissingKey && moved instanceof ExpressionError && moved.code === 'STN_E_EXPR_MISSING_KEY') {
        options.onMissingKey(moved);
        return s.slice(s.lastIndexOf('{{', part.offset), s.indexOf('}}', part.offset + part.source.length) + 2);
      }
      throw moved;
    }
  };
  if (onlyExpr && exprs[0]) return evaluate(exprs[0]);
  return parts.map((p) => (p.kind === 'text' ? p.text : toText(evaluate(p)))).join('');
}

/** Re-throws with the state and field in the message; the offset becomes an offset in the template string. */
function relocate(err: unknown, where: string, shown: string, base: number): unknown {
  if (!(err instanceof ExpressionError)) return err;
  const info = {
    expression: err.expression,
    reason: err.reason,
    ...(err.offset === undefined ? {} : { offset: base + err.offset }),
    ...(err.key === undefined ? {} : { key: err.key }),
  };
  return new ExpressionError(err.code, `${where}: ${err.reason} in ${shown}`, info, { cause: err });
}

function toText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') return String(value);
  return JSON.stringify(value);
}

export type CollectedExpression =
  | { source: string; pointer: string; offset: number }
  | { error: ExpressionError; pointer: string };

/**
 * Every `{{ }}` expression in a JSON value, with the JSON pointer of the string it sits in (`/states/0/input/args/1`)
 * and its offset in that string. Malformed templates are returned as `{ error }` entries, not thrown. The CEL of each
 * `source` is not checked here: pass it to checkExpressionSyntax (and add `offset` to the offset it reports).
 */
export function collectTemplateExpressions(value: unknown, pointer: string): CollectedExpression[] {
  const found: CollectedExpression[] = [];
  const walk = (v: unknown, at: string): void => {
    if (typeof v === 'string') {
      if (!v.includes('{{')) return;
      try {
        for (const part of parseTemplate(v)) {
          if (part.kind === 'expr') found.push({ source: part.source, pointer: at, offset: part.offset });
        }
      } catch (err) {
        if (!(err instanceof ExpressionError)) throw err;
        found.push({ error: err, pointer: at });
      }
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, `${at}/${i}`));
    } else if (isPlainObject(v)) {
      for (const [key, item] of Object.entries(v)) walk(item, `${at}/${escapePointer(key)}`);
    }
  };
  walk(value, pointer);
  return found;
}

/** A key as one JSON pointer segment (RFC 6901: `~` → `~0`, `/` → `~1`). */
export function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
