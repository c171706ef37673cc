import { Parser } from 'yaml';
import { describe, expect, it } from 'vitest';
import { cstDepth } from '../src/definitions/yaml-document.js';
import { jsonNestingViolation, lineColAt, MAX_NESTING_DEPTH, yamlNestingBound } from '../src/nesting.js';

// The linear depth scans that run before any recursive parser (docs/security.md, "Bounded parsing").

const arrays = (n: number) => '['.repeat(n) + ']'.repeat(n);
const objects = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);

describe('jsonNestingViolation', () => {
  it('accepts exactly the limit and refuses one level more, naming the line and column of the bracket', () => {
    expect(MAX_NESTING_DEPTH).toBe(64);
    expect(jsonNestingViolation(arrays(64))).toBeUndefined();
    expect(jsonNestingViolation(objects(64))).toBeUndefined();
    expect(jsonNestingViolation(arrays(65))).toEqual({ line: 1, col: 65, offset: 64, limit: 64 });
    const pretty = JSON.stringify(JSON.parse(objects(70)), null, 1);
    const v = jsonNestingViolation(pretty);
    expect(v?.line).toBe(65);
    expect(pretty.split('\n')[64]?.trimStart()).toMatch(/^"a": \{/);
  });

  it('brackets inside strings do not count, escaped quotes do not end a string', () => {
    expect(jsonNestingViolation(JSON.stringify({ s: '['.repeat(500), t: 'a\\"[[[[' + '{'.repeat(100) }))).toBeUndefined();
    expect(jsonNestingViolation(`["\\\\", ${arrays(70)}]`)).toBeDefined();
    expect(jsonNestingViolation(`["\\"", ${arrays(70)}]`)).toBeDefined();
  });

  it('scans a megabyte of JSON in linear time, refusing deep JSON at the first offending bracket', () => {
    const body = arrays(500_000);
    const wide = JSON.stringify(Array.from({ length: 20_000 }, (_, i) => ({ id: i, tags: ['a', 'b'], note: 'x'.repeat(20) })));
    expect(wide.length).toBeGreaterThan(1_000_000);
    const t0 = performance.now();
    expect(jsonNestingViolation(body)?.offset).toBe(64);
    expect(jsonNestingViolation(wide)).toBeUndefined();
    // About 10 ms on an idle machine; the bound only has to tell linear from the seconds a stall took.
    expect(performance.now() - t0).toBeLessThan(1_000);
  });
});

describe('yamlNestingBound', () => {
  const shapes: Record<string, string> = {
    flow: arrays(300),
    'flow maps': '{a: '.repeat(200) + '1' + '}'.repeat(200),
    'block maps': Array.from({ length: 150 }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' 1',
    'block sequences': Array.from({ length: 150 }, (_, i) => `${' '.repeat(i)}-`).join('\n') + ' 1',
    'compact sequences': '- '.repeat(300) + 'x',
    'sequences at their mapping column': Array.from({ length: 100 }, (_, i) => `${' '.repeat(2 * i)}a:\n${' '.repeat(2 * i)}- `).join('\n') + 'x',
    'mappings on one line': 'a: '.repeat(300) + 'x',
    'brackets hidden in a quote': `a: "${'x'}"\nb: '${']'.repeat(300)}'\nc: ${arrays(200)}`,
    'a plain scalar that starts a quote': `a: x\n  "y\nb: ${arrays(200)}\nc: "`,
    'a flow plain scalar with a quote': `{a:"x, b: ${arrays(200)}, c:"}`,
  };
  for (const [name, text] of Object.entries(shapes)) {
    it(`is never below the depth the yaml package parses: ${name}`, () => {
      const depth = cstDepth(Array.from(new Parser().parse(text)));
      expect(depth).toBeGreaterThan(64);
      expect(yamlNestingBound(text)).toBeGreaterThanOrEqual(depth);
    });
  }

  it('stays small for an ordinary workflow file', () => {
    const text = [
      'id: wf',
      'version: "1"',
      'name: WF',
      'states:',
      '  - name: a',
      '    type: operation',
      '    action: shell.exec',
      '    input: {command: [sh, -c, "echo [x] {y}"], env: {A: "1"}}',
      '    next: b',
      '  - {name: b, type: operation, action: noop, end: true}',
    ].join('\n');
    expect(yamlNestingBound(text)).toBeLessThan(40);
  });
});

describe('lineColAt', () => {
  it('counts lines and columns from 1', () => {
    expect(lineColAt('ab\ncd\nef', 0)).toEqual({ line: 1, col: 1 });
    expect(lineColAt('ab\ncd\nef', 4)).toEqual({ line: 2, col: 2 });
    expect(lineColAt('ab\ncd\nef', 6)).toEqual({ line: 3, col: 1 });
  });
});
