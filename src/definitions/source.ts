import fs from 'node:fs';
import jsYaml from 'js-yaml';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node } from 'yaml';
import { DEFAULTS } from '../config/defaults.js';
import type { DiagnosticCode } from '../errors.js';
import { MAX_NESTING_DEPTH } from '../nesting.js';
import type { Diagnostic } from './types.js';
import { boundedParseDocument } from './yaml-document.js';

/** A parsed document that can answer "where in the file is this JSON pointer?". */
export interface SourceDocument {
  value: unknown;
  locate(pointer: string, at?: 'key' | 'value'): { line: number; col: number };
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
  let positions: ((pointer: string, at: 'key' | 'value') => { line: number; col: number }) | undefined;
  return {
    ok: true,
    doc: {
      value: value ?? null,
      locate: (pointer, at) => (positions ??= positionsOf(text))(pointer, at ?? 'value'),
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

function positionsOf(text: string): (pointer: string, at: 'key' | 'value') => { line: number; col: number } {
  const lineCounter = new LineCounter();
  const doc = boundedParseDocument(text, lineCounter, { uniqueKeys: false, merge: false }, true);
  // A text the `yaml` package would nest too deeply (js-yaml read it differently): positions at the file's start.
  if (!doc) return () => ({ line: 1, col: 1 });
  return (pointer, at) => locate(doc, lineCounter, pointer, at);
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
