import { expect } from 'vitest';
import type { Diagnostic } from '../../src/definitions/types.js';
import { validateDefinitionText, type DefinitionResult } from '../../src/definitions/validate.js';

/**
 * Inline YAML fixture: drops the newline right after the opening backtick, so line 1 of the fixture is the first line
 * written under it and the line numbers in assertions match what the reader sees.
 */
export function yml(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = strings.reduce((acc, s, i) => acc + s + (i < values.length ? String(values[i]) : ''), '');
  return text.startsWith('\n') ? text.slice(1) : text;
}

/** Validates a fixture as if it were a YAML definition file. */
export function check(text: string, displayPath = 'test.workflow.yaml'): DefinitionResult {
  return validateDefinitionText(text, displayPath);
}

/**
 * The 1-based position of `colNeedle` on the only line of `text` that contains `lineNeedle`. Lets a test say "the error
 * is at the value of `next: bb`" exactly, without hand-counted numbers that drift when the fixture is edited.
 */
export function at(text: string, lineNeedle: string, colNeedle: string = lineNeedle): { line: number; col: number } {
  const lines = text.split('\n');
  const hits = lines.flatMap((l, i) => (l.includes(lineNeedle) ? [i] : []));
  if (hits.length !== 1) throw new Error(`fixture: ${JSON.stringify(lineNeedle)} is on ${hits.length} lines, need exactly 1`);
  const index = hits[0] as number;
  const col = (lines[index] as string).indexOf(colNeedle);
  if (col < 0) throw new Error(`fixture: ${JSON.stringify(colNeedle)} is not on the line of ${JSON.stringify(lineNeedle)}`);
  return { line: index + 1, col: col + 1 };
}

/** Every diagnostic of the result (errors, warnings, notes). */
export function allDiagnostics(r: DefinitionResult): Diagnostic[] {
  return [...r.errors, ...r.warnings, ...r.notes];
}

/** The one diagnostic with this code; fails the test when there is none or more than one. */
export function only(r: DefinitionResult, code: string): Diagnostic {
  const found = allDiagnostics(r).filter((d) => d.code === code);
  expect(found, `diagnostics with code ${code} in ${JSON.stringify(allDiagnostics(r), null, 2)}`).toHaveLength(1);
  return found[0] as Diagnostic;
}

/** Asserts a definition is valid with no errors, and returns the result for further checks. */
export function expectValid(r: DefinitionResult): DefinitionResult {
  expect(r.errors, JSON.stringify(r.errors, null, 2)).toEqual([]);
  expect(r.valid).toBe(true);
  expect(r.spec).toBeDefined();
  expect(r.hash).toMatch(/^[0-9a-f]{64}$/);
  return r;
}

/** Asserts a definition is invalid: no spec and no hash are handed out. */
export function expectInvalid(r: DefinitionResult): DefinitionResult {
  expect(r.valid).toBe(false);
  expect(r.errors.length).toBeGreaterThan(0);
  expect(r.spec).toBeUndefined();
  expect(r.hash).toBeUndefined();
  return r;
}
