import { describe, expect, it } from 'vitest';
import { parseSource } from '../../src/definitions/source.js';
import { validateDefinitionBytes } from '../../src/definitions/validate.js';
import { at, check, expectInvalid, expectValid, only, yml } from '../helpers/definitions-fixtures.js';

// Nesting is bounded before anything recursive runs (docs/security.md, "Bounded parsing"): a deep file is one clear
// diagnostic, quickly, and never takes the process down.

const arrays = (n: number) => '['.repeat(n) + ']'.repeat(n);

function timed<T>(fn: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t0 };
}

function workflowWithInput(input: string): string {
  return `id: wf\nversion: "1"\nname: WF\nstates:\n  - name: a\n    type: operation\n    action: noop\n    end: true\n    input:\n      deep: ${input}\n`;
}

describe('deeply nested definition files', () => {
  it('20,000 nested arrays are refused with STN_E_NESTING_TOO_DEEP, three times over, without crashing', () => {
    for (let i = 0; i < 3; i++) {
      const { value: r, ms } = timed(() => check(arrays(20_000), 'deep.workflow.json'));
      expect(ms).toBeLessThan(500);
      const d = only(expectInvalid(r), 'STN_E_NESTING_TOO_DEEP');
      expect(d).toMatchObject({ severity: 'error', line: 1 });
      expect(d.col).toBeGreaterThan(60);
      expect(d.col).toBeLessThan(70);
      expect(d.message).toMatch(/deeper than 64 levels/);
    }
  });

  it('a 600 KB nested JSON file is refused in milliseconds, at the line where it goes too deep', () => {
    const levels = 41_000;
    const text = `{\n${Array.from({ length: levels }, (_, i) => `${' '.repeat(Math.min(i, 8))}"k":{`).join('\n')}\n1${'}'.repeat(levels)}}\n`;
    expect(text.length).toBeGreaterThan(600_000);
    const { value: r, ms } = timed(() => validateDefinitionBytes(new TextEncoder().encode(text), 'big.workflow.json'));
    expect(ms).toBeLessThan(500);
    const d = only(expectInvalid(r), 'STN_E_NESTING_TOO_DEEP');
    expect(d.line).toBeGreaterThan(60);
    expect(d.line).toBeLessThan(70);
  });

  it('deep block YAML (indentation) is refused too, at its line', () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `${' '.repeat(i)}k:`);
    const { value: r, ms } = timed(() => check(`${lines.join('\n')} 1\n`));
    expect(ms).toBeLessThan(500);
    const d = only(expectInvalid(r), 'STN_E_NESTING_TOO_DEEP');
    expect(d.line).toBeGreaterThan(60);
    expect(d.line).toBeLessThan(70);
  });

  it('a workflow with 60 levels of input data is valid; 70 levels are refused at the input', () => {
    expectValid(check(workflowWithInput(arrays(58).replace('[]', '[1]'))));
    const text = workflowWithInput(arrays(70));
    const d = only(expectInvalid(check(text)), 'STN_E_NESTING_TOO_DEEP');
    expect(d.line).toBe(at(text, 'deep:').line);
  });

  it('aliases that nest a small file deeper than the limit are refused (the limit counts the expanded value)', () => {
    const lines = ['a0: &a0 [[[[[[[[[[1]]]]]]]]]]'];
    for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [[[[[[[[[[*a${i - 1}]]]]]]]]]]`);
    const r = check(`${lines.join('\n')}\n`);
    const d = only(expectInvalid(r), 'STN_E_NESTING_TOO_DEEP');
    expect(d.message).toMatch(/aliases/);
    expect(d.line).toBe(2);
  });

  it('a broken file that is also deep gets the nesting error, not a crash of the error wording', () => {
    const text = `id: wf\nstates: [\n  - a\n]\nx: ${arrays(5000)}\n`;
    const parsed = parseSource(text);
    expect(parsed.ok).toBe(false);
    // Whatever js-yaml stops at first, the answer is a diagnostic with a line.
    if (!parsed.ok) expect(parsed.errors[0]?.line).toBeGreaterThan(0);
    const broken = `a: [\nb: ${'{x: '.repeat(3000)}\n`;
    const r2 = parseSource(broken);
    expect(r2.ok).toBe(false);
  });

  it('environment files go through the same parser', () => {
    const env = parseSource(`vars:\n  x: ${arrays(100)}\n`);
    expect(env.ok).toBe(false);
    if (!env.ok) expect(env.errors[0]).toMatchObject({ code: 'STN_E_NESTING_TOO_DEEP', line: 2 });
  });
});

describe('positions of a valid file with many flow collections', () => {
  it('diagnostics still carry their line when the cheap nesting bound is exceeded', () => {
    const many = Array.from({ length: 300 }, (_, i) => `      k${i}: [a, {b: [c]}]`).join('\n');
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: noop
    next: nowhere
    input:
${many}
`;
    const d = only(expectInvalid(check(text)), 'STN_E_UNKNOWN_TARGET');
    expect(d).toMatchObject(at(text, 'next: nowhere', 'nowhere'));
  });
});
