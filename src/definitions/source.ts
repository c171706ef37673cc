import fs from 'node:fs';
import jsYaml from 'js-yaml';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node, type Scalar } from 'yaml';
import { DEFAULTS } from '../config/defaults.js';
import type { DiagnosticCode } from '../errors.js';
import { MAX_NESTING_DEPTH } from '../nesting.js';
import type { Diagnostic } from './types.js';
import { boundedParseDocument } from './yaml-document.js';

/** A parsed document that can answer "where in the file is this JSON pointer?". */
export interface SourceDocument {
  value: unknown;
  locate(pointer: string, at?: 'key' | 'value'): { line: number; col: number };
  /**
   * Where a position inside a string value (1-based line and column of the parsed string) is in the file: through
   * the indentation of a block scalar (`|`, `>`), and the quotes and escapes of a one-line scalar. Falls back to the
   * start of the value where the text cannot be followed (multi-line plain or quoted scalars).
   */
  locateInString(pointer: string, line: number, col: number): { line: number; col: number };
}

export type SourceResult = { ok: true; doc: SourceDocument } | { ok: false; errors: Diagnostic[] };

const utf8 = new TextDecoder('utf-8', { fatal: true });

function fail(code: DiagnosticCode, message: string, line = 1, col = 1): { ok: false; errors: Diagnostic[] } {
  return { ok: false, errors: [{ severity: 'error', code, message, line, col }] };
}

/** Decodes file bytes, refusing oversized and non-UTF-8 files before any parsing happens. */
export function decodeSource(bytes: Uint8Array, maxBytes: number = DEFAULTS.definitions.maxFileBytes):
  | { ok: true; text: string }
  | { ok: false; errors: Diagnostic[] } {
  if (bytes.byteLength > maxBytes) {
    return fail(
      'STN_E_FILE_TOO_LARGE',
      `file is ${bytes.byteLength} bytes; the limit is ${maxBytes} bytes (1 MiB): split the workflow or move data out of it`,
    );
  }
  try {
    const text = utf8.decode(bytes);
    return { ok: true, text: text.charCodeAt(0) === 0xfeff ? text.slice(1) : text };
  } catch {
    const bad = firstInvalidUtf8(bytes);
    return fail('STN_E_FILE_ENCODING', 'file is not valid UTF-8: save it as UTF-8', bad.line, bad.col);
  }
}

/** Line and column of the first byte that breaks UTF-8 (a strict decoder only says that something does). */
function firstInvalidUtf8(bytes: Uint8Array): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    let ok = need >= 0 && i + need < bytes.length;
    for (let k = 1; ok && k <= need; k++) ok = ((bytes[i + k] as number) & 0xc0) === 0x80;
    if (!ok) return { line, col: i - lineStart + 1 };
    if (b === 0x0a) {
      line++;
      lineStart = i + 1;
    }
    i += need + 1;
  }
  return { line, col: i - lineStart + 1 };
}

/** Reads a definition file with the size check done on stat, before the bytes are read. */
export function readSourceFile(file: string): { ok: true; text: string } | { ok: false; errors: Diagnostic[] } {
  try {
    const size = fs.statSync(file).size;
    if (size > DEFAULTS.definitions.maxFileBytes) return decodeSource(new Uint8Array(size));
    return decodeSource(fs.readFileSync(file));
  } catch (err) {
    return fail('STN_E_FILE_READ', `cannot read file: ${(err as Error).message}`);
  }
}

/**
 * Parses YAML (JSON is YAML too). The value always comes from js-yaml (about ten times faster than the `yaml` package);
 * the `yaml` package, with a LineCounter, is only asked for positions: lazily, when a diagnostic needs a line, and
 * to word the error when js-yaml refuses a file. js-yaml shares aliased nodes instead of copying them, so a file with
 * aliases is measured as it would expand: past the budget it is an alias bomb and refused.
 *
 * Nesting is bounded before anything recursive runs (docs/security.md): js-yaml counts levels as it parses and stops
 * past MAX_NESTING_DEPTH, aliases are measured in the expanded value, and the `yaml` package (whose composer recurses
 * without a limit) only sees texts it cannot nest deeper than it safely can (yaml-document.ts).
 */
export function parseSource(text: string): SourceResult {
  let value: unknown;
  try {
    value = jsYaml.load(text, LOAD_OPTIONS);
  } catch (err) {
    const deep = tooDeep(err);
    return { ok: false, errors: deep ? [deep] : explainRefusal(text, err) };
  }
  if (text.includes('*')) {
    const expanded = measureExpansion(value, text.length + 1000);
    if (expanded !== 'ok') {
      const alias = /(^|[\s[{,:-])\*[^\s,\]}]/m.exec(text);
      const pos = alias ? lineCol(text, alias.index + alias[0].indexOf('*')) : { line: 1, col: 1 };
      const message =
        expanded === 'depth'
          ? `YAML aliases nest this file deeper than ${MAX_NESTING_DEPTH} levels: remove the anchors (&) and aliases (*)`
          : 'YAML aliases expand this file far beyond its own size (an alias bomb): remove the anchors (&) and aliases (*)';
      return fail(expanded === 'depth' ? 'STN_E_NESTING_TOO_DEEP' : 'STN_E_YAML_ALIAS_LIMIT', message, pos.line, pos.col);
    }
  }
  let positions: Positions | undefined;
  return {
    ok: true,
    doc: {
      value: value ?? null,
      locate: (pointer, at) => (positions ??= positionsOf(text)).locate(pointer, at ?? 'value'),
      locateInString: (pointer, line, col) => (positions ??= positionsOf(text)).inString(pointer, line, col),
    },
  };
}

/** js-yaml ≥ 4.3 stops at maxDepth (its types do not know the option yet). */
const LOAD_OPTIONS: jsYaml.LoadOptions & { maxDepth: number } = {
  schema: jsYaml.CORE_SCHEMA,
  // maxDepth counts the scalar inside the deepest collection too: +2 allows exactly the limit's levels of lists.
  maxDepth: MAX_NESTING_DEPTH + 2,
};

/** js-yaml's refusal of a file nested past its maxDepth, as a diagnostic at the place it stopped. */
function tooDeep(err: unknown): Diagnostic | undefined {
  const e = err as { reason?: unknown; mark?: { line: number; column: number } };
  if (typeof e.reason !== 'string' || !e.reason.startsWith('nesting exceeded maxDepth')) return undefined;
  return {
    severity: 'error',
    code: 'STN_E_NESTING_TOO_DEEP',
    message: `mappings and lists are nested deeper than ${MAX_NESTING_DEPTH} levels here: flatten the structure`,
    line: (e.mark?.line ?? 0) + 1,
    col: (e.mark?.column ?? 0) + 1,
  };
}

function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  const nl = before.lastIndexOf('\n');
  return { line: before.split('\n').length, col: offset - nl };
}

interface Positions {
  locate(pointer: string, at: 'key' | 'value'): { line: number; col: number };
  inString(pointer: string, line: number, col: number): { line: number; col: number };
}

function positionsOf(text: string): Positions {
  const lineCounter = new LineCounter();
  const doc = boundedParseDocument(text, lineCounter, { uniqueKeys: false, merge: false }, true);
  // A text the `yaml` package would nest too deeply (js-yaml read it differently): positions at the file's start.
  if (!doc) return { locate: () => ({ line: 1, col: 1 }), inString: () => ({ line: 1, col: 1 }) };
  return {
    locate: (pointer, at) => locate(doc, lineCounter, pointer, at),
    inString: (pointer, line, col) => {
      const node = nodeAt(doc, pointer);
      const offset = node && isScalar(node) && typeof node.value === 'string' ? offsetInScalar(text, node, line, col) : undefined;
      return offset === undefined ? locate(doc, lineCounter, pointer, 'value') : lineCounter.linePos(offset);
    },
  };
}

/** The node at a pointer, when it exists. */
function nodeAt(doc: Document, pointer: string): Node | undefined {
  let node: Node | null = doc.contents;
  for (const seg of pointerSegments(pointer)) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === seg);
      node = (pair?.value as Node | null | undefined) ?? null;
    } else if (isSeq(node)) {
      node = (node.items[Number(seg)] as Node | undefined) ?? null;
    } else return undefined;
  }
  return node ?? undefined;
}

/** The file offset of (line, col) of a string scalar's value, or undefined when it cannot be followed. */
function offsetInScalar(text: string, node: Scalar, line: number, col: number): number | undefined {
  const [start, end] = node.range ?? [0, 0];
  const value = node.value as string;
  if (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') return offsetInBlock(text, start, end, value, node.type, line, col);
  if (line !== 1) return undefined;
  const source = text.slice(start, end);
  if (source.includes('\n') || source.includes('\r')) return undefined;
  if (node.type === 'PLAIN') return source === value ? start + col - 1 : undefined;
  // Quoted: walk the source, one value character at a time (escapes and '' are one character).
  let i = 1;
  for (let c = 1; c < col; c++) {
    if (i >= source.length - 1) return undefined;
    if (node.type === 'QUOTE_SINGLE') i += source.startsWith("''", i) ? 2 : 1;
    else if (source[i] !== '\\') i += 1;
    else i += ({ x: 4, u: 6, U: 10 } as Record<string, number>)[source[i + 1] ?? ''] ?? 2;
  }
  return start + i;
}

/**
 * A block scalar's value is its content lines without their indentation; a folded one (`>`) also joins lines with
 * a space where YAML folds them. The lines are replayed to find where each value line starts in the file; when the
 * replay does not give the parsed value back, the position is not guessed.
 */
function offsetInBlock(
  text: string,
  start: number,
  end: number,
  value: string,
  type: 'BLOCK_LITERAL' | 'BLOCK_FOLDED',
  line: number,
  col: number,
): number | undefined {
  const header = text.indexOf('\n', start);
  if (header < 0 || header >= end) return undefined;
  const explicit = /^[|>][+-]?([1-9])|^[|>]([1-9])/.exec(text.slice(start, header));
  const lines: Array<{ offset: number; text: string }> = [];
  for (let at = header + 1; at < end; ) {
    const nl = text.indexOf('\n', at);
    const stop = nl < 0 || nl > end ? end : nl;
    lines.push({ offset: at, text: text.slice(at, stop).replace(/\r$/, '') });
    at = stop + 1;
  }
  const firstContent = lines.find((l) => l.text.trim() !== '');
  if (!firstContent) return undefined;
  const parentIndent = (() => {
    const ls = text.lastIndexOf('\n', start) + 1;
    return /^ */.exec(text.slice(ls, start))?.[0].length ?? 0;
  })();
  const indent = explicit ? parentIndent + Number(explicit[1] ?? explicit[2]) : (/^ */.exec(firstContent.text)?.[0].length ?? 0);
  // Value lines, each with the file offset of its first character (folded lines continue the previous value line).
  type Piece = { valueCol: number; offset: number; length: number };
  const starts: Piece[][] = [[]];
  let rebuilt = '';
  let prev: 'none' | 'text' | 'more' = 'none';
  let empties = 0;
  for (const l of lines) {
    const body = l.text.length >= indent ? l.text.slice(indent) : '';
    if (l.text.trim() === '') {
      empties++;
      continue;
    }
    const more = /^[ \t]/.test(body);
    // Between two lines of text a folded scalar has a space, or one break per empty line; elsewhere breaks are kept.
    const breaks =
      prev === 'none' ? empties : type === 'BLOCK_FOLDED' && prev === 'text' && !more ? empties : empties + 1;
    if (breaks === 0 && prev !== 'none') rebuilt += ' ';
    for (let k = 0; k < breaks; k++) {
      rebuilt += '\n';
      starts.push([]);
    }
    empties = 0;
    const current = starts[starts.length - 1] as Piece[];
    current.push({ valueCol: rebuilt.length - rebuilt.lastIndexOf('\n'), offset: l.offset + indent, length: body.length });
    rebuilt += body;
    prev = more ? 'more' : 'text';
  }
  if (rebuilt.replace(/\n+$/, '') !== value.replace(/\n+$/, '')) return undefined;
  const pieces = starts[line - 1];
  if (!pieces) {
    // Past the last line (an error at the end of the text): the end of the last line.
    const last = starts[starts.length - 1]?.at(-1);
    return line === starts.length + 1 && last ? last.offset + last.length : undefined;
  }
  for (let k = pieces.length - 1; k >= 0; k--) {
    const piece = pieces[k] as Piece;
    if (col >= piece.valueCol) return piece.offset + Math.min(col - piece.valueCol, piece.length);
  }
  return undefined;
}

const MESSAGES: Record<string, { code: DiagnosticCode; message?: string }> = {
  DUPLICATE_KEY: { code: 'STN_E_YAML_DUPLICATE_KEY' },
  MULTIPLE_DOCS: {
    code: 'STN_E_YAML_MULTI_DOC',
    message: 'the file holds more than one YAML document: keep one workflow per file (remove the "---" line)',
  },
};

/** Says why js-yaml refused a file, in the words and at the position of the `yaml` package where it can. */
function explainRefusal(text: string, err: unknown): Diagnostic[] {
  const lineCounter = new LineCounter();
  const doc = boundedParseDocument(text, lineCounter, { uniqueKeys: true, merge: false }, false);
  const at = (offset: number) => lineCounter.linePos(offset);
  if (!doc) return jsYamlWords(err);
  if (doc.errors.length > 0) {
    const seen = new Set<string>();
    return doc.errors.filter((e) => {
      const key = `${e.pos[0]}|${e.code}|${e.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    }).map((e) => {
      const known = MESSAGES[e.code];
      const first = e.message.split('\n')[0] ?? e.message;
      const message = known?.message ?? (e.code === 'DUPLICATE_KEY' ? `${first}: remove or rename the repeated key` : first);
      return { severity: 'error', code: known?.code ?? 'STN_E_YAML_SYNTAX', message, ...at(e.pos[0]) };
    });
  }
  const tag = doc.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED');
  if (tag) {
    const message = `${tag.message.split('\n')[0] ?? tag.message}: Station files use plain YAML; remove the tag`;
    return [{ severity: 'error', code: 'STN_E_YAML_SYNTAX', message, ...at(tag.pos[0]) }];
  }
  const dup = duplicateKey(doc.contents);
  if (dup) {
    const message = `the key "${dup.key}" appears twice in one mapping (as different YAML scalars): remove or rename one`;
    return [{ severity: 'error', code: 'STN_E_YAML_DUPLICATE_KEY', message, ...at(dup.offset) }];
  }
  return jsYamlWords(err);
}

/** js-yaml's own words, at its own position. */
function jsYamlWords(err: unknown): Diagnostic[] {
  const e = err as { reason?: string; message?: string; mark?: { line: number; column: number } };
  const pos = e.mark ? { line: e.mark.line + 1, col: e.mark.column + 1 } : { line: 1, col: 1 };
  return [{ severity: 'error', code: 'STN_E_YAML_SYNTAX', message: e.reason ?? e.message ?? String(err), ...pos }];
}

/** Keys that differ as YAML scalars but are the same JSON key (`1` and `"1"`). */
function duplicateKey(node: unknown): { key: string; offset: number } | undefined {
  if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      if (isScalar(pair.key)) {
        const key = String(pair.key.value);
        if (seen.has(key)) return { key, offset: pair.key.range?.[0] ?? 0 };
        seen.add(key);
      }
      const inner = duplicateKey(pair.value);
      if (inner) return inner;
    }
  } else if (isSeq(node)) {
    for (const item of node.items) {
      const inner = duplicateKey(item);
      if (inner) return inner;
    }
  }
  return undefined;
}

/**
 * Without aliases a document cannot hold more nodes, or more string characters, than its text has characters, nor
 * nest deeper than js-yaml allowed. Walks the value as it would expand (iteratively: aliases can nest it deeper than
 * the text) and stops as soon as a count passes its budget.
 */
function measureExpansion(value: unknown, budget: number): 'ok' | 'size' | 'depth' {
  let nodes = 0;
  let chars = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (++nodes > budget) return 'size';
    if (typeof v === 'string') {
      chars += v.length;
      if (chars > budget) return 'size';
    } else if (Array.isArray(v)) {
      if (depth >= MAX_NESTING_DEPTH) return 'depth';
      for (const item of v) stack.push([item, depth + 1]);
    } else if (v !== null && typeof v === 'object') {
      if (depth >= MAX_NESTING_DEPTH) return 'depth';
      for (const [k, item] of Object.entries(v)) {
        chars += k.length;
        stack.push([item, depth + 1]);
      }
    }
  }
  return 'ok';
}

/** Splits a JSON pointer into unescaped segments. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Walks the YAML AST along the pointer; stops at the deepest node that exists. */
function locate(doc: Document, lc: LineCounter, pointer: string, at: 'key' | 'value'): { line: number; col: number } {
  let node: Node | null = doc.contents;
  let offset = node?.range?.[0] ?? 0;
  const segments = pointerSegments(pointer);
  for (let i = 0; i < segments.length && node; i++) {
    const seg = segments[i] as string;
    const last = i === segments.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === seg);
      if (!pair) break;
      const key = pair.key as Node;
      if (last && at === 'key') {
        offset = key.range?.[0] ?? offset;
        break;
      }
      node = (pair.value as Node | null) ?? null;
      offset = node?.range?.[0] ?? key.range?.[0] ?? offset;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)] as Node | undefined;
      if (!item) break;
      node = item;
      offset = item.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return lc.linePos(offset);
}
