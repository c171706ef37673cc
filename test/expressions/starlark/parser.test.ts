import { describe, it, expect } from 'vitest';
import { parseStarlark, compileStarlark, StarlarkSyntaxError } from '../../../src/expressions/index.js';
import { parseProgram } from '../../../src/expressions/starlark/parser.js';

function syntaxError(src: string): StarlarkSyntaxError {
  try {
    parseStarlark(src);
  } catch (err) {
    expect(err).toBeInstanceOf(StarlarkSyntaxError);
    return err as StarlarkSyntaxError;
  }
  throw new Error(`expected a syntax error for ${src}`);
}

describe('parseStarlark', () => {
  it('parses the multi-line dict transform of the reference as one expression statement', () => {
    const body = parseProgram(`{
    "incident_id": input.incident_id,
    "severity": ctx.steps.triage.output.get("severity", "low"),
    "services": [s["name"] for s in input.services if s.get("enabled", True)],
    "summary": "Incident " + str(input.incident_id) + ": " + input.title,
    "recent_logs": input.logs[-50:] if input.get("logs") else [],
}`);
    expect(body).toHaveLength(1);
    expect(body[0]?.kind).toBe('expr');
    const dict = body[0]?.kind === 'expr' ? body[0].expr : undefined;
    expect(dict?.kind === 'dict' && dict.values.map((v) => v.kind)).toEqual(['attr', 'call', 'comprehension', 'binary', 'conditional']);
  });

  it('parses statement programs: assignments, if/elif/else blocks, for loops, comments, ; and one-line suites', () => {
    const body = parseProgram(`# leading comment
total = 0
items = []
for i, x in enumerate(input.values):   # tuple target
    if x > 10:
        items.append(x)
    elif x < 0: continue
    else:
        pass
    total += x
a, b = 1, 2; c = a + b
__result__ = {"total": total, "items": items}
`);
    expect(body.map((s) => s.kind)).toEqual(['assign', 'assign', 'for', 'assign', 'assign', 'assign']);
    const loop = body[2];
    expect(loop?.kind === 'for' && loop.body.map((s) => s.kind)).toEqual(['if', 'assign']);
  });

  it('keeps a program indented as a whole (a YAML block) and ignores newlines inside brackets', () => {
    expect(parseProgram('    x = [1,\n2,\n  3]\n    x').map((s) => s.kind)).toEqual(['assign', 'expr']);
    // Tabs, CRLF line ends, blank and comment lines inside blocks, a backslash continuation.
    expect(parseProgram('if x:\r\n\ty = 1\r\n\r\n    # note\r\n\tz = 2\r\nw = 1 + \\\n  2\r\n').map((s) => s.kind)).toEqual(['if', 'assign']);
  });

  it('reads strings with both quotes, escapes, triple quotes, raw strings and adjacent literals; numbers of each form', () => {
    const [s] = parseProgram(`["a\\tb", 'it\\'s', """x"y""", r"\\d+", "a" "b", 0x1F, 1_0 if False else 7, 1.5e3, .5]`.replace('1_0', '10'));
    const items = s?.kind === 'expr' && s.expr.kind === 'list' ? s.expr.items : [];
    const values = items.map((e) => (e.kind === 'literal' ? e.value : e.kind));
    expect(values).toEqual(['a\tb', "it's", 'x"y', '\\d+', 'ab', 31, 'conditional', 1500, 0.5]);
  });

  it('reports syntax errors with 1-based line and column and a reason without position', () => {
    const err = syntaxError('x = 1\ny = (2 +\n');
    expect(err.line).toBeGreaterThanOrEqual(2);
    expect(err.reason).toMatch(/unclosed bracket/);
    const bad = syntaxError('x = 1\nif x\n  y = 2');
    expect([bad.line, bad.col]).toEqual([2, 5]);
    expect(bad.reason).toBe('expected ":", found the end of the line');
    expect(bad.message).toBe('line 2, column 5: expected ":", found the end of the line');
    expect(syntaxError('{"a": 1 if x}').reason).toMatch(/needs "else"/);
    expect(syntaxError('"abc').reason).toBe('unterminated string literal');
    expect(syntaxError('x = 1\n  y = 2').reason).toBe('unexpected indentation');
    const str = syntaxError('x = 1\ny = "abc');
    expect([str.line, str.col, str.reason]).toEqual([2, 5, 'unterminated string literal']);
    const end = syntaxError('x = [1,\n  2,\n  3 +]');
    expect([end.line, end.col, end.reason]).toEqual([3, 6, 'unexpected "]"']);
    expect(syntaxError('x = 1 +\ny').reason).toBe('unexpected end of the line');
    expect(syntaxError('x = 1\n y = 2\nz = 3').line).toBe(2);
    expect(syntaxError('if x:\n    y = 1\n  z = 2').reason).toBe('unindent does not match any outer indentation level');
    expect(syntaxError('x = 1 $ 2').reason).toBe('unexpected "$"');
    expect(syntaxError('x = 1 @ 2').reason).toBe('unexpected character "@"');
    expect(syntaxError('x = f"{a}"').reason).toBe('f-strings are not supported: use "...{}".format(x) or "...%s" % x');
  });

  it('refuses what the subset leaves out with a clear reason', () => {
    expect(syntaxError('def f():\n  return 1').reason).toMatch(/functions \(def\) are not supported/);
    expect(syntaxError('f = lambda x: x').reason).toMatch(/lambda is not supported/);
    expect(syntaxError('load("x.star", "y")').reason).toMatch(/load\(\) is not supported/);
    expect(syntaxError('while True:\n  pass').reason).toMatch(/while loops are not supported/);
    expect(syntaxError('{1, 2}').reason).toMatch(/sets are not supported/);
    expect(syntaxError('a is None').reason).toMatch(/"is" is not supported/);
    expect(syntaxError('a && b').reason).toBe('unexpected "&&"');
    expect(syntaxError('x = 1\nbreak').reason).toBe('"break" outside a for loop');
    expect(() => parseStarlark('for x in l:\n    if x:\n        continue\n    break')).not.toThrow();
  });

  it('bounds nesting: 100,000 open brackets are a syntax error, not a stack overflow', () => {
    for (const [open, close] of <[string, string][]>[['(', ')'], ['[', ']'], ['{"a": ', '}'], ['-', ''], ['not ', ''], ['x if y else ', ''], ['2 ** ', '']]) {
      const started = performance.now();
      const err = syntaxError(open.repeat(100_000) + '1' + close.repeat(100_000));
      expect(err.reason).toBe('nested deeper than 200 levels');
      expect(syntaxError(open.repeat(100_000) + '1').reason).toMatch(/nested deeper than 200 levels|unclosed bracket/);
      expect(performance.now() - started).toBeLessThan(100);
    }
    expect(syntaxError('('.repeat(300) + '1' + ')'.repeat(300)).reason).toBe('nested deeper than 200 levels');
    expect(() => parseStarlark('('.repeat(50) + '1' + ')'.repeat(50))).not.toThrow();
  });

  it('compileStarlark returns the cached program for the same source', () => {
    const a = compileStarlark('1 + 2');
    expect(compileStarlark('1 + 2')).toBe(a);
    expect(a.source).toBe('1 + 2');
  });
});
