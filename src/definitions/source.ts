import fs from 'node:fs';
import jsYaml from 'js-yaml';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { DEFAULTS } from '../config/defaults.js';
import type { DiagnosticCode } from '../errors.js';
import type { Diagnostic } from './types.js';

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

function firstInvalidUtf8(bytes: Uint8Array): { line: number; col: number } {
  // Decode leniently and find the first replacement character to point at the offending line.
  const text = new TextDecoder('utf-8').decode(bytes);
  const at = text.indexOf('\uFFFD');
  const before = text.slice(0, Math.max(at, 0)).split('\n');
  return { line: before.length, col: (before[before.length - 1]?.length ?? 0) + 1 };
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

const YAML_CODES: Record<string, DiagnosticCode> = {
  DUPLICATE_KEY: 'STN_E_YAML_DUPLICATE_KEY',
  MULTIPLE_DOCS: 'STN_E_YAML_MULTI_DOC',
};

/**
 * Parses YAML (JSON is YAML too). Most files are read by js-yaml, about ten times faster than the `yaml` package; the
 * `yaml` package (with a LineCounter) builds the position map only when a diagnostic needs a line. js-yaml shares
 * aliased nodes instead of copying them, so text that may hold aliases is measured as it would expand: past the budget
 * (an alias bomb) it goes to `yaml`, which bounds alias expansion and words the error. Text js-yaml refuses goes to
 * `yaml` too, for the precise error and position.
 */
export function parseSource(text: string): SourceResult {
  try {
    const value: unknown = jsYaml.load(text, { schema: jsYaml.CORE_SCHEMA, json: false });
    const mayAlias = text.includes('*');
    if (!mayAlias || withinExpansionBudget(value, text.length + 1000)) {
      let full: SourceDocument | undefined;
      const locateLazily = (pointer: string, at?: 'key' | 'value') => {
        if (!full) {
          const slow = parseWithPositions(text);
          if (!slow.ok) return { line: 1, col: 1 };
          full = slow.doc;
        }
        return full.locate(pointer, at);
      };
      return { ok: true, doc: { value: value ?? null, locate: locateLazily } };
    }
  } catch {
    // Fall through: the `yaml` package words the error with its position.
  }
  return parseWithPositions(text);
}

/**
 * Without aliases a document cannot hold more nodes, or more string characters, than its text has characters. Walks
 * the value as it would expand and stops as soon as either count passes the budget.
 */
function withinExpansionBudget(value: unknown, budget: number): boolean {
  let nodes = 0;
  let chars = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (++nodes > budget) return false;
    if (typeof v === 'string') {
      chars += v.length;
      if (chars > budget) return false;
    } else if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        chars += k.length;
        stack.push(item);
      }
    }
  }
  return true;
}

/** Parses with the `yaml` package, keeping the document for position look-ups. */
export function parseWithPositions(text: string): SourceResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, merge: false });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        const message = e.message.split('\n')[0] ?? e.message;
        return {
          severity: 'error',
          code: YAML_CODES[e.code] ?? 'STN_E_YAML_SYNTAX',
          message: e.code === 'DUPLICATE_KEY' ? `${message}: remove or rename the repeated key` : message,
          line: pos.line,
          col: pos.col,
        };
      }),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: DEFAULTS.definitions.maxAliasCount });
  } catch (err) {
    if (err instanceof ReferenceError) {
      return fail(
        'STN_E_YAML_ALIAS_LIMIT',
        `YAML aliases expand beyond the limit of ${DEFAULTS.definitions.maxAliasCount}: remove the anchors/aliases (${err.message})`,
      );
    }
    return fail('STN_E_YAML_SYNTAX', (err as Error).message);
  }
  return { ok: true, doc: { value: value ?? null, locate: (pointer, at) => locate(doc, lineCounter, pointer, at ?? 'value') } };
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
