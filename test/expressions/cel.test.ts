import { describe, it, expect } from 'vitest';
import { checkExpressionSyntax, compileExpression, ExpressionError } from '../../src/expressions/index.js';

function evaluate(source: string, vars: Record<string, unknown> = {}): unknown {
  return compileExpression(source).evaluate(vars);
}

function thrown(fn: () => unknown): ExpressionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ExpressionError);
    return err as ExpressionError;
  }
  throw new Error('expected an ExpressionError');
}

/** Fails on anything that is not plain JSON: bigint, Map, class instances, non-finite numbers. */
function expectPlainJson(value: unknown, path = '$'): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    expect(Number.isFinite(value), `${path} is finite`).toBe(true);
    return;
  }
  expect(typeof value, `${path} type`).toBe('object');
  if (Array.isArray(value)) {
    value.forEach((v, i) => expectPlainJson(v, `${path}[${i}]`));
    return;
  }
  expect(Object.getPrototypeOf(value), `${path} is a plain object`).toBe(Object.prototype);
  for (const [k, v] of Object.entries(value as object)) expectPlainJson(v, `${path}.${k}`);
}

const ctx = {
  steps: { diagnostics: { pods: [{ name: 'a', restarts: 0 }, { name: 'b', restarts: 3 }, { name: 'c', restarts: 1 }] } },
  count: 3,
  ratio: 0.25,
  big: 1e20,
  name: 'web-1',
  tags: ['prod', 'eu'],
  flags: { enabled: true },
  nothing: null,
};

describe('compileExpression: results', () => {
  it('returns typed plain JSON', () => {
    expect(evaluate('count', ctx)).toBe(3);
    expect(evaluate('name', ctx)).toBe('web-1');
    expect(evaluate('flags.enabled', ctx)).toBe(true);
    expect(evaluate('nothing', ctx)).toBeNull();
    expect(evaluate('steps.diagnostics.pods[1]', ctx)).toEqual({ name: 'b', restarts: 3 });
    expect(evaluate('{"n": count, "l": [1, 2.5, "x", null], "m": {"k": true}}', ctx)).toEqual({
      n: 3,
      l: [1, 2.5, 'x', null],
      m: { k: true },
    });
  });

  it('never leaks BigInt, Maps or library classes', () => {
    const results = [
      evaluate('[1, 2, 3].map(i, i * 2)'),
      evaluate('{"a": [1, {"b": 2}], "c": size(tags)}', ctx),
      evaluate('steps', ctx),
      evaluate('steps.diagnostics.pods.filter(p, p.restarts > 0)', ctx),
      evaluate('{1: "int key"}'),
      evaluate('flags.?enabled', ctx),
      evaluate('[optional.of(1).value(), optional.none().orValue(2)]'),
      evaluate('[timestamp("2024-01-01T00:00:00Z"), duration("90m"), 1u]'),
    ];
    for (const r of results) expectPlainJson(r);
    expect(results[4]).toEqual({ '1': 'int key' });
    expect(results[7]).toEqual(['2024-01-01T00:00:00.000Z', '5400s', 1]);
  });

  it('refuses results JSON cannot hold exactly', () => {
    expect(thrown(() => evaluate('9223372036854775807')).code).toBe('STN_E_EXPR_EVAL');
    expect(thrown(() => evaluate('1.0 / 0.0')).message).toMatch(/not a finite number/);
    expect(evaluate('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('caches compiled expressions by source', () => {
    expect(compileExpression('count + 1')).toBe(compileExpression('count + 1'));
  });

  it('keeps prototype keys as ordinary data', () => {
    expect(thrown(() => evaluate('x.constructor', { x: {} })).code).toBe('STN_E_EXPR_MISSING_KEY');
    expect(thrown(() => evaluate('toString', {})).code).toBe('STN_E_EXPR_MISSING_KEY');
    const parsed = JSON.parse('{"__proto__": {"polluted": 1}}') as Record<string, unknown>;
    const out = evaluate('x', { x: parsed }) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__']);
  });
});

describe('compileExpression: numbers', () => {
  it('treats whole JSON numbers as ints', () => {
    expect(evaluate('count + 1', ctx)).toBe(4);
    expect(evaluate('count == 3', ctx)).toBe(true);
    expect(evaluate('count % 2', ctx)).toBe(1);
    expect(evaluate('size(tags) > 1', ctx)).toBe(true);
    expect(evaluate('steps.diagnostics.pods[count - 1].name', ctx)).toBe('c');
    expect(evaluate('count / 2', ctx)).toBe(1); // CEL int division truncates
  });

  it('mixes ints and doubles in arithmetic and comparisons', () => {
    expect(evaluate('count * 1.5', ctx)).toBe(4.5);
    expect(evaluate('ratio + 1', ctx)).toBe(1.25);
    expect(evaluate('1 - ratio', ctx)).toBe(0.75);
    expect(evaluate('count / 2.0', ctx)).toBe(1.5);
    expect(evaluate('ratio < 1', ctx)).toBe(true);
    expect(evaluate('count > 2.5', ctx)).toBe(true);
    expect(evaluate('count == 3.0', ctx)).toBe(true);
    expect(evaluate('1 == 1.0')).toBe(true);
    expect(evaluate('1 != 1.0')).toBe(false);
    expect(evaluate('big + 1', ctx)).toBe(1e20 + 1); // unsafe whole numbers stay doubles
  });

  it('evaluates one compiled expression against differently typed values', () => {
    const expr = compileExpression('x + 1');
    expect(expr.evaluate({ x: 1 })).toBe(2);
    expect(expr.evaluate({ x: 1.5 })).toBe(2.5);
    expect(thrown(() => expr.evaluate({ x: 'a' })).code).toBe('STN_E_EXPR_EVAL');
  });
});

describe('compileExpression: language features', () => {
  it('supports strings, ternary, in, has and optionals', () => {
    expect(evaluate('name.startsWith("web") && name.endsWith("-1") && name.contains("b-")', ctx)).toBe(true);
    expect(evaluate('name.matches("^web-[0-9]+$")', ctx)).toBe(true);
    expect(evaluate('count > 2 ? "many" : "few"', ctx)).toBe('many');
    expect(evaluate('"prod" in tags && !("dev" in tags)', ctx)).toBe(true);
    expect(evaluate('"enabled" in flags', ctx)).toBe(true);
    expect(evaluate('has(flags.enabled) && !has(flags.missing)', ctx)).toBe(true);
    expect(evaluate('has(steps.deploy) ? steps.deploy.url : "none"', ctx)).toBe('none');
    expect(evaluate('steps.?deploy.url.orValue("none")', ctx)).toBe('none');
    expect(evaluate('steps.?diagnostics.pods.orValue([]).size()', ctx)).toBe(3);
    expect(evaluate('steps.?deploy', ctx)).toBeNull();
    expect(evaluate('tags[?5].orValue("x")', ctx)).toBe('x');
  });

  it('supports the macros', () => {
    expect(evaluate('steps.diagnostics.pods.all(p, p.restarts < 5)', ctx)).toBe(true);
    expect(evaluate('steps.diagnostics.pods.exists(p, p.restarts > 2)', ctx)).toBe(true);
    expect(evaluate('steps.diagnostics.pods.exists_one(p, p.restarts == 1)', ctx)).toBe(true);
    expect(evaluate('steps.diagnostics.pods.filter(p, p.restarts > 0).map(p, p.name)', ctx)).toEqual(['b', 'c']);
    expect(evaluate('steps.diagnostics.pods.map(p, p.restarts * 10)', ctx)).toEqual([0, 30, 10]);
  });
});

describe('compileExpression: errors', () => {
  it('names the missing key and the expression', () => {
    const err = thrown(() => evaluate('steps.diagnostics.pods', { steps: { diagnostics: {} } }));
    expect(err.code).toBe('STN_E_EXPR_MISSING_KEY');
    expect(err.message).toBe('no such key "pods" in steps.diagnostics.pods');
    expect(err.key).toBe('pods');
    expect(err.offset).toBe(18);
    expect(err.expression).toBe('steps.diagnostics.pods');
  });

  it('treats missing intermediate keys, index keys and undeclared variables as missing keys', () => {
    expect(thrown(() => evaluate('steps.deploy.url', ctx)).key).toBe('deploy');
    expect(thrown(() => evaluate('flags["nope"]', ctx)).message).toBe('no such key "nope" in flags["nope"]');
    const err = thrown(() => evaluate('undeclared.x > 1', ctx));
    expect(err.code).toBe('STN_E_EXPR_MISSING_KEY');
    expect(err.message).toBe('no such variable "undeclared" in undeclared.x > 1');
    expect(thrown(() => evaluate('nothing.x', ctx)).code).toBe('STN_E_EXPR_MISSING_KEY');
  });

  it('reports other failures as evaluation errors', () => {
    for (const source of ['name + 1', '1 / 0', 'tags[7]', '"x".matches("[")', 'has(count)', 'type(count)']) {
      expect(thrown(() => evaluate(source, ctx)).code, source).toBe('STN_E_EXPR_EVAL');
    }
  });

  it('reports syntax errors with an offset', () => {
    const err = thrown(() => compileExpression('count + '));
    expect(err.code).toBe('STN_E_EXPR_SYNTAX');
    expect(err.offset).toBe(8);
    expect(err.message).toMatch(/^syntax error: .* in count \+ $/);
  });
});

describe('checkExpressionSyntax', () => {
  it('accepts valid expressions and locates errors', () => {
    expect(checkExpressionSyntax('steps.a.b > 1 && has(x.y) && l.all(i, i > 0)')).toBeUndefined();
    expect(checkExpressionSyntax('a.?b.orValue(1)')).toBeUndefined();
    expect(checkExpressionSyntax('a ? b')).toEqual({ message: expect.stringMatching(/colon/i) as unknown, offset: 5 });
    expect(checkExpressionSyntax('"unterminated')?.offset).toBe(0);
    expect(checkExpressionSyntax('')).toBeDefined();
  });

  it('also catches what is sure to fail at run time', () => {
    expect(checkExpressionSyntax('has(x)')).toBeDefined();
    expect(checkExpressionSyntax('sizee(x)')).toBeDefined();
    expect(checkExpressionSyntax('1 + "a"')).toBeDefined();
  });

  it('is fast enough for every expression of a large repository', () => {
    // CPU time, not wall time: other processes on a busy machine must not fail it (npm run bench has the figures).
    const start = process.cpuUsage();
    for (let i = 0; i < 50_000; i++) {
      if (checkExpressionSyntax(`steps.s${i}.result.count > ${i} && has(input.flag)`) !== undefined) {
        throw new Error(`unexpected syntax error in expression ${i}`);
      }
    }
    const used = process.cpuUsage(start);
    expect((used.user + used.system) / 1000).toBeLessThan(2000);
  });
});
