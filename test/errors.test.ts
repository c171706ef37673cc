import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DIAGNOSTIC_CODES, ERROR_CODES, STEP_ERROR_CODES } from '../src/errors.js';

const doc = fs.readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

describe('error codes', () => {
  it('every code is documented in docs/errors.md with its exit code and HTTP status', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      expect(doc).toContain(`| \`${code}\` | ${info.exit} | ${info.http} |`);
    }
    for (const code of [...Object.keys(DIAGNOSTIC_CODES), ...Object.keys(STEP_ERROR_CODES)]) expect(doc).toContain(`| \`${code}\` |`);
  });

  it('docs/errors.md names no code that does not exist', () => {
    const known = new Set([...Object.keys(ERROR_CODES), ...Object.keys(DIAGNOSTIC_CODES), ...Object.keys(STEP_ERROR_CODES)]);
    const named = [...doc.matchAll(/`(STN_[EWN]_[A-Z0-9_]+)`/g)].map((m) => m[1]);
    expect(named.filter((c) => !known.has(c as string))).toEqual([]);
  });

  it('codes follow the STN_E_ / STN_W_ / STN_N_ scheme', () => {
    for (const code of Object.keys(ERROR_CODES)) expect(code).toMatch(/^STN_E_[A-Z0-9_]+$/);
    for (const code of Object.keys(DIAGNOSTIC_CODES)) expect(code).toMatch(/^STN_[EWN]_[A-Z0-9_]+$/);
  });
});
