import { afterEach, describe, expect, it } from 'vitest';
import {
  checkExpressionCost,
  compileExpression,
  ExpressionError,
  expressionLimits,
  Meter,
  renderTemplate,
  setExpressionLimits,
} from '../../src/expressions/index.js';
import { DEFAULTS } from '../../src/config/defaults.js';

// The CEL cost budget (docs/security.md): deterministic cost units stop runaway evaluation; a clock is a second guard.

function thrown(fn: () => unknown): ExpressionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ExpressionError);
    return err as ExpressionError;
  }
  throw new Error('expected an ExpressionError');
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const items = range(400);

/** `cel.bind` chain that doubles a two-character string `times` times. */
function doubling(times: number): string {
  let body = `size(s${times})`;
  for (let i = times; i >= 1; i--) body = `cel.bind(s${i}, s${i - 1} + s${i - 1}, ${body})`;
  return `cel.bind(s0, "ab", ${body})`;
}

afterEach(() => setExpressionLimits({}));

describe('run-time budget', () => {
  it('a nested all over a 400-item list stops with STN_E_EXPR_BUDGET, the same way every time', () => {
    const expr = compileExpression('items.all(x, items.all(y, x >= 0))');
    const first = thrown(() => expr.evaluate({ items }));
    expect(first.code).toBe('STN_E_EXPR_BUDGET');
    expect(first.message).toContain('cost budget of 100,000 units');
    expect(first.message).toContain('items.all(x, items.all(y, x >= 0))');
    expect(first.details).toEqual({ expression: 'items.all(x, items.all(y, x >= 0))' });
    // Deterministic: a restart re-evaluating it fails it the same way (cost units, not the clock).
    for (let i = 0; i < 3; i++) expect(thrown(() => expr.evaluate({ items })).message).toBe(first.message);
  });

  it('deeper nesting is stopped just as early: the outer loops do no work once the budget is spent', () => {
    const meter = new Meter();
    const e = thrown(() => compileExpression('items.all(x, items.all(y, items.all(z, items.all(w, w >= 0))))').evaluate({ items }, meter));
    expect(e.code).toBe('STN_E_EXPR_BUDGET');
    expect(meter.cost).toBeGreaterThan(DEFAULTS.expressions.maxCost);
    expect(meter.cost).toBeLessThan(DEFAULTS.expressions.maxCost + 100);
  });

  it('an operator that swallows an error of one side does not swallow the budget', () => {
    for (const src of [
      'items.all(x, items.all(y, x >= 0)) || true',
      'false && items.all(x, true) || items.exists(x, items.exists(y, x < 0)) || true',
      'items.all(x, items.all(y, y >= 0) || true)',
      'items.exists(x, items.exists(y, x < 0) || x < 0)',
    ]) {
      expect(thrown(() => compileExpression(src).evaluate({ items })).code, src).toBe('STN_E_EXPR_BUDGET');
    }
  });

  it('map and filter are charged per item like all and exists', () => {
    expect(thrown(() => compileExpression('items.map(x, items.filter(y, y == x))').evaluate({ items })).code).toBe('STN_E_EXPR_BUDGET');
  });

  it('membership in a long list is charged by its length', () => {
    const big = range(20_000);
    // 400 steps, but each `in` walks up to 20,000 items: 400 × 2,000 units.
    const e = thrown(() => compileExpression('items.all(x, x in big)').evaluate({ items, big }));
    expect(e.code).toBe('STN_E_EXPR_BUDGET');
    expect(compileExpression('items.all(x, x in small)').evaluate({ items, small: range(400) })).toBe(true);
  });

  it('string doubling is stopped by what it builds instead of reaching 67 million characters', () => {
    // Building costs 1 unit per 10 characters: the budget runs out around half a million characters.
    const e = thrown(() => compileExpression(doubling(25)).evaluate({}));
    expect(e.code).toBe('STN_E_EXPR_BUDGET');
    expect(e.message).toContain('went over its cost budget of 100,000 units while building a string of 524,288 characters');
    // With a larger budget, the size limit stops it.
    setExpressionLimits({ maxCost: 1e9 });
    expect(thrown(() => compileExpression(doubling(25)).evaluate({})).message).toContain(
      'it built a string of 1,048,576 characters, over the limit of 1,000,000',
    );
    setExpressionLimits({});
    // Well below both, the same construction works.
    expect(compileExpression(doubling(10)).evaluate({})).toBe(2048);
  });

  it('list doubling stops at the list size limit', () => {
    let expr = 'size(l16)';
    for (let i = 16; i >= 1; i--) expr = `cel.bind(l${i}, l${i - 1} + l${i - 1}, ${expr})`;
    setExpressionLimits({ maxCost: 1e9 });
    const e = thrown(() => compileExpression(`cel.bind(l0, items, ${expr})`).evaluate({ items }));
    expect(e.code).toBe('STN_E_EXPR_BUDGET');
    expect(e.message).toContain('it built a list of 102,400 items, over the limit of 100,000');
  });

  it('ordinary expressions are untouched: lists of thousands, two levels over tens, strings and joins', () => {
    const pods = range(5_000).map((i) => ({ name: `pod-${i}`, ready: true, restarts: i % 3 }));
    expect(compileExpression('pods.all(p, p.ready && p.restarts < 3)').evaluate({ pods })).toBe(true);
    expect(compileExpression('pods.filter(p, p.restarts == 2).size()').evaluate({ pods })).toBe(1666);
    expect(compileExpression('xs.all(a, xs.exists(b, a == b))').evaluate({ xs: range(60) })).toBe(true);
    expect(compileExpression('pods.map(p, p.name).join(",").size() > 0').evaluate({ pods })).toBe(true);
  });

  it('the expressions of one template share one budget', () => {
    const tooMuch = 'xs.all(a, xs.all(b, b >= 0))'; // 150 × 150 inner steps × 6 units ≈ 135,000
    const third = 'xs.all(a, ys.all(b, b >= 0))'; // 150 × 50 × 6 ≈ 45,000
    const vars = { xs: range(150), ys: range(50) };
    expect(thrown(() => compileExpression(tooMuch).evaluate(vars)).code).toBe('STN_E_EXPR_BUDGET');
    expect(renderTemplate({ a: `{{ ${third} }}` }, vars, { field: 'input' })).toEqual({ a: true });
    const e = thrown(() => renderTemplate({ a: `{{ ${third} }}`, b: `{{ ${third} }}`, c: `{{ ${third} }}` }, vars, { state: 's', field: 'input' }));
    expect(e.code).toBe('STN_E_EXPR_BUDGET');
    expect(e.message).toContain('state "s", field "input.c"');
  });

  it('a template converts each variable it reads once, however many of its expressions read it', () => {
    let reads = 0;
    const steps = { build: { artifacts: range(2_000).map((i) => ({ name: `a${i}` })), ok: true } };
    const vars = {
      get steps() {
        reads += 1;
        return steps;
      },
    };
    const out = renderTemplate(
      { ok: '{{ steps.build.ok }}', first: '{{ steps.build.artifacts[0].name }}', count: '{{ size(steps.build.artifacts) }}' },
      vars,
      { field: 'input' },
    );
    expect(out).toEqual({ ok: true, first: 'a0', count: 2000 });
    expect(reads).toBe(1);
  });

  it('maxCost can be raised for a process (station.yaml expressions.maxCost)', () => {
    setExpressionLimits({ maxCost: 2_000_000, maxMillis: 60_000 });
    expect(expressionLimits().maxCost).toBe(2_000_000);
    expect(compileExpression('items.all(x, items.all(y, x >= 0))').evaluate({ items })).toBe(true);
    setExpressionLimits({});
    expect(expressionLimits()).toEqual(DEFAULTS.expressions);
  });

  it('matches() with a catastrophically backtracking pattern on untrusted text returns at once', () => {
    const t0 = performance.now();
    expect(compileExpression('text.matches("(a+)+$")').evaluate({ text: `${'a'.repeat(40)}!` })).toBe(false);
    expect(compileExpression('text.matches("^(a|aa)+$")').evaluate({ text: 'a'.repeat(60) })).toBe(true);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  it('the clock is a second guard for an evaluation within its cost budget that runs too long', () => {
    setExpressionLimits({ maxCost: 1e12, maxMillis: 5 });
    expect(DEFAULTS.expressions.maxMillis).toBe(200);
    const t0 = performance.now();
    const e = thrown(() => compileExpression('items.all(x, items.all(y, items.all(z, x >= 0)))').evaluate({ items }));
    expect(e.code).toBe('STN_E_EXPR_BUDGET');
    expect(e.message).toContain('it ran for over 5 ms');
    expect(performance.now() - t0).toBeLessThan(2_000);
  });
});

describe('static estimate at validation', () => {
  it('plain paths and loop-free expressions get no verdict', () => {
    for (const src of ['steps.check.ok', 'a.b > 3 && c == "x"', 'size(pods) > 0', '"x-" + name']) {
      expect(checkExpressionCost(src), src).toBeUndefined();
    }
  });

  it('one loop over a context list is fine; two nested warn from which length on they stop', () => {
    expect(checkExpressionCost('pods.all(p, p.ready)')).toBeUndefined();
    const w = checkExpressionCost('pods.all(p, nodes.exists(n, n.name == p.node))');
    expect(w?.severity).toBe('warning');
    // 8 units per inner step (ternary, ==, two field reads of two nodes, true, false), 5 per outer: 8n² + 5n units,
    // within the budget up to n = 111.
    expect(w?.message).toContain('grows like n^2');
    expect(w?.message).toContain('more than about 111 items');
  });

  it('comprehensions nested four deep are refused', () => {
    const v = checkExpressionCost('a.all(w, a.all(x, a.all(y, a.all(z, z > 0))))');
    expect(v).toEqual({ severity: 'error', message: expect.stringContaining('nested 4 deep, over the limit of 3') as string });
    // Chaining is not nesting.
    expect(checkExpressionCost('a.map(x, x + 1).filter(y, y > 2).all(z, z > 3)')).toBeUndefined();
  });

  it('loops over literal lists have a known cost: over the budget whatever the data is an error', () => {
    const lit = `[${range(400).join(', ')}]`;
    const v = checkExpressionCost(`${lit}.all(x, ${lit}.all(y, x >= 0))`);
    expect(v?.severity).toBe('error');
    expect(v?.message).toContain('whatever the data');
    expect(checkExpressionCost(`${lit}.all(x, x >= 0)`)).toBeUndefined();
  });

  it('string doubling from literals is refused by the size limit', () => {
    const v = checkExpressionCost(doubling(26));
    expect(v?.severity).toBe('error');
    expect(v?.message).toContain('a string of 1,048,576 characters from the literals in it, over the limit of 1,000,000');
    expect(checkExpressionCost(doubling(10))).toBeUndefined();
  });
});
