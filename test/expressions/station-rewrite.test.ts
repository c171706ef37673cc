import { describe, it, expect } from 'vitest';
import {
  checkExpressionSyntax,
  compileExpression,
  ExpressionError,
  renderTemplate,
  rewriteStationExpression,
  rewriteStationTemplate,
} from '../../src/expressions/index.js';
import type { StationRewriteOptions } from '../../src/expressions/index.js';

const localRoots = new Set(['input', 'run', 'vars', 'secrets', 'data', 'ctx', 'steps', 'index', 'item']);
const opts: StationRewriteOptions = { localRoots };

/** Variables as the engine builds them: the context keys at the top level and under `ctx`, plus the run's roots. */
function vars(context: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...context, ctx: context, ...extra };
}

function run(src: string, context: Record<string, unknown>, o: StationRewriteOptions = opts, extra: Record<string, unknown> = {}): unknown {
  const { expr } = rewriteStationExpression(src, o);
  expect(checkExpressionSyntax(expr), expr).toBeUndefined();
  return compileExpression(expr).evaluate(vars(context, extra));
}

function refused(src: string, o: StationRewriteOptions = opts): ExpressionError {
  try {
    rewriteStationExpression(src, o);
  } catch (err) {
    expect(err).toBeInstanceOf(ExpressionError);
    expect((err as ExpressionError).code).toBe('STN_E_EXPR_SYNTAX');
    return err as ExpressionError;
  }
  throw new Error(`expected ${src} to be refused`);
}

describe('rewriteStationExpression', () => {
  it('returns plain CEL unchanged, with no rewrites', () => {
    for (const cel of ['a < 1u && b > 2u', 'x.split(",").size() > 1 && y < 2', 'x == true && !y', 'size(steps.a.items) > 0', 'a.?b.orValue(1) == 1', 'x > 1e5 && y == 0xFF', 'l.exists(i, i > 2u)', 'msg == "len(x) if a else b"']) {
      expect(rewriteStationExpression(cel, opts)).toEqual({ expr: cel, rewrites: [] });
    }
  });

  it('keeps the exact output of the word-level rewrite (True, and, not, $.)', () => {
    expect(rewriteStationExpression('$.approved == True and not ($.comment == None)', opts)).toEqual({
      expr: 'approved == true && ! (comment == null)',
      rewrites: ['True/False/None → true/false/null', 'and/or/not → &&/||/!', '$.a.b → a.b'],
    });
    expect(rewriteStationExpression('$.retry == False or $.forced', opts).expr).toBe('retry == false || forced');
    expect(rewriteStationExpression('size($["items"]) > 0', opts).expr).toBe('size(ctx["items"]) > 0');
  });

  it('A if hasattr(x, k) else B: the reference template gives "J-1" when ticket_result is absent', () => {
    const src = "ticket_result.key if hasattr(ticket_result, 'key') else jira_check.existing_ticket_id";
    const r = rewriteStationExpression(src, opts);
    expect(r).toEqual({
      expr: 'ctx.?ticket_result.?key.hasValue() ? ticket_result.key : jira_check.existing_ticket_id',
      rewrites: ['A if C else B → C ? A : B', "hasattr(x, 'k') → ctx.?x.?k.hasValue()"],
    });
    expect(run(src, { jira_check: { existing_ticket_id: 'J-1' } })).toBe('J-1');
    expect(run(src, { jira_check: { existing_ticket_id: 'J-1' }, ticket_result: { key: 'J-2' } })).toBe('J-2');
    expect(run(src, { jira_check: { existing_ticket_id: 'J-1' }, ticket_result: { other: 1 } })).toBe('J-1');
  });

  it('hasattr on a local root roots there; getattr with a default', () => {
    expect(rewriteStationExpression("hasattr(item, 'k')", opts).expr).toBe('item.?k.hasValue()');
    expect(run("hasattr(item, 'k')", {}, opts, { item: { k: 1 } })).toBe(true);
    expect(run("hasattr(item.sub, 'k')", {}, opts, { item: {} })).toBe(false);
    expect(rewriteStationExpression("getattr(a.b, 'k', 5)", opts).expr).toBe('ctx.?a.?b.?k.orValue(5)');
    expect(run("getattr(a.b, 'k', 5) + 1", { a: { b: {} } })).toBe(6);
    expect(run("getattr(a.b, 'k', 5)", { a: { b: { k: 2 } } })).toBe(2);
    expect(run("getattr(a, 'k', 'none')", {})).toBe('none');
    expect(run("hasattr(a, 'odd-key')", { a: { 'odd-key': 1 } })).toBe(true);
  });

  it('.get(k, d) and .get(k), chained', () => {
    expect(rewriteStationExpression("x.get('k', 3) == 3", opts)).toEqual({ expr: 'x[?"k"].orValue(3) == 3', rewrites: ["x.get('k', d) → x[?'k'].orValue(d)"] });
    expect(run("x.get('k', 3) == 3", { x: {} })).toBe(true);
    expect(run("x.get('k')", { x: {} })).toBeNull();
    expect(run('steps.get("checks", {}).get("output", [])', {}, opts, { steps: { checks: { output: [1] } } })).toEqual([1]);
    expect(run('steps.get("none", {}).get("output", [])', {}, opts, { steps: {} })).toEqual([]);
  });

  it('len → size, str → string, int stays, float → double, startswith → startsWith', () => {
    expect(rewriteStationExpression('len(steps.x.items) > 0', opts)).toEqual({ expr: 'size(steps.x.items) > 0', rewrites: ['len() → size()'] });
    expect(run('len(items) > 2', { items: [1, 2, 3] })).toBe(true);
    expect(run('len(name) == 3 and len(cfg) == 1', { name: 'abc', cfg: { a: 1 } })).toBe(true);
    expect(run('str(count) + " items"', { count: 3 })).toBe('3 items');
    expect(run('int(level) >= 2', { level: '3' })).toBe(true);
    expect(run('float(n) / 2.0', { n: 3 })).toBe(1.5);
    expect(run('name.startswith("ab") and not name.endswith("x")', { name: 'abc' })).toBe(true);
    expect(rewriteStationExpression('", ".join(names) if len(names) > 0 else "none"', opts).expr).toBe(
      'size(names) > 0 ? names.join(", ") : "none"',
    );
    expect(run('", ".join(names) if len(names) > 0 else "none"', { names: ['a', 'b'] })).toBe('a, b');
  });

  it('A if C else B with a membership test; not in; chained comparisons', () => {
    expect(run('"page" if severity in ["high", "critical"] else "ticket"', { severity: 'high' })).toBe('page');
    expect(run('"page" if severity in ["high", "critical"] else "ticket"', { severity: 'low' })).toBe('ticket');
    expect(rewriteStationExpression('x not in [1, 2]', opts).expr).toBe('!(x in [1, 2])');
    expect(run('x not in [1, 2]', { x: 3 })).toBe(true);
    expect(rewriteStationExpression('0 < x <= 10', opts).expr).toBe('(0 < x) && (x <= 10)');
    expect(run('0 < x <= 10', { x: 5 })).toBe(true);
    expect(run('0 < x <= 10', { x: 11 })).toBe(false);
    expect(run('a if b else c if d else e', { a: 1, b: false, c: 2, d: false, e: 3 })).toBe(3);
  });

  it('N5: _value, val and result become data in a switch with dataPath', () => {
    const o = { ...opts, dataAliases: true };
    expect(rewriteStationExpression('_value.severity == "high"', o)).toEqual({ expr: 'data.severity == "high"', rewrites: ['_value → data'] });
    expect(rewriteStationExpression('val > 3 and result != None', o).expr).toBe('data > 3 && data != null');
    expect(run('_value.severity == "high"', {}, o, { data: { severity: 'high' } })).toBe(true);
    // Not a root: left alone; and without dataAliases nothing changes.
    expect(rewriteStationExpression('steps.a.result == 1', o)).toEqual({ expr: 'steps.a.result == 1', rewrites: [] });
    expect(rewriteStationExpression('_value == 1', opts)).toEqual({ expr: '_value == 1', rewrites: [] });
  });

  it('state aliases read a step output under steps.<id>', () => {
    const o = { ...opts, stateAliases: new Set(['triage', 'item']) };
    expect(rewriteStationExpression('triage.severity == "high"', o)).toEqual({ expr: 'steps.triage.severity == "high"', rewrites: ['triage → steps.triage'] });
    expect(run('triage.severity == "high"', {}, o, { steps: { triage: { severity: 'high' } } })).toBe(true);
    expect(rewriteStationExpression("hasattr(triage, 'summary')", o).expr).toBe('steps.?triage.?summary.hasValue()');
    // A local root wins over a state of the same name; a field of that name is no root.
    expect(rewriteStationExpression('item.x == 1 && a.triage == 2', o)).toEqual({ expr: 'item.x == 1 && a.triage == 2', rewrites: [] });
  });

  it('N7: workflow.input → input, _cronTriggeredAt → the trigger time', () => {
    expect(rewriteStationExpression('workflow.input.service == "web"', opts)).toEqual({ expr: 'input.service == "web"', rewrites: ['workflow.input → input'] });
    expect(rewriteStationExpression('ctx.workflow.input.service', opts).expr).toBe('input.service');
    const cron = 'run.trigger.?scheduledAt.orValue(run.startedAt)';
    expect(rewriteStationExpression('ctx._cronTriggeredAt', opts).expr).toBe(cron);
    expect(rewriteStationExpression('_cronTriggeredAt', opts).expr).toBe(cron);
    const startedAt = '2026-01-01T00:00:00Z';
    expect(run('ctx._cronTriggeredAt', {}, opts, { run: { trigger: { type: 'manual' }, startedAt } })).toBe(startedAt);
    expect(run('ctx._cronTriggeredAt', {}, opts, { run: { trigger: { scheduledAt: 'S' }, startedAt } })).toBe('S');
  });

  it('mixes Python and CEL spellings in one expression', () => {
    expect(rewriteStationExpression('len(items) > 0 && items[0].ok == True', opts).expr).toBe('size(items) > 0 && items[0].ok == true');
    expect(rewriteStationExpression('len($.items) > 0 and $["x"]', opts)).toEqual({
      expr: 'size(items) > 0 && ctx["x"]',
      rewrites: ['and/or/not → &&/||/!', 'len() → size()', '$.a.b → a.b'],
    });
    expect(run('not len(items) == 0 and (x.?y.orValue(2) == 2 ? true : false)', { items: [1], x: {} })).toBe(true);
  });

  it('leaves broken CEL with nothing Python in it to the CEL check, as before', () => {
    expect(rewriteStationExpression('a +', opts)).toEqual({ expr: 'a +', rewrites: [] });
    expect(rewriteStationExpression('x == True and', opts)).toEqual({ expr: 'x == true &&', rewrites: ['True/False/None → true/false/null', 'and/or/not → &&/||/!'] });
    expect(checkExpressionSyntax('x == true &&')).toBeDefined();
  });

  it('refuses what CEL cannot say, with a hint', () => {
    expect(refused('"critical" in str(s).lower()').message).toBe(
      '"str(s).lower()" has no CEL equivalent in a condition (.lower()): compare exact values, or compute it in a transform state',
    );
    expect(refused('"Hello %s" % name').message).toMatch(/^"\\"Hello %s\\" % name" has no CEL equivalent in a condition \(% formatting\)/);
    expect(refused('[x for x in l if x]').message).toMatch(/comprehensions\): compare exact values/);
    expect(refused('items[-1] == 2').message).toMatch(/negative indexes/);
    expect(refused('logs[-5:]').message).toMatch(/slices/);
    expect(refused('"error" in "some error text"').message).toMatch(/substring tests/);
    expect(refused('sum(values) > 3').message).toMatch(/"sum\(values\)" has no CEL equivalent/);
    expect(refused('x if y').message).toMatch(/needs "else"/);
  });
});

describe('rewriteStationTemplate', () => {
  it('rewrites each {{ }} segment and keeps the text around byte for byte', () => {
    const text = "Ticket: {{ ticket_result.key if hasattr(ticket_result, 'key') else jira_check.existing_ticket_id }}\n  plain {{ a.b }} {{len(l)}}!";
    const r = rewriteStationTemplate(text, opts);
    expect(r.text).toBe(
      "Ticket: {{ ctx.?ticket_result.?key.hasValue() ? ticket_result.key : jira_check.existing_ticket_id }}\n  plain {{ a.b }} {{size(l)}}!",
    );
    expect(r.rewrites).toEqual(['A if C else B → C ? A : B', "hasattr(x, 'k') → ctx.?x.?k.hasValue()", 'len() → size()']);
    const context = { jira_check: { existing_ticket_id: 'J-1' }, a: { b: 'B' }, l: [1, 2] };
    expect(renderTemplate(r.text, vars(context), { field: 'task' })).toBe('Ticket: J-1\n  plain B 2!');
  });

  it('leaves templates that need nothing (or are malformed) alone, and refuses what has no CEL form', () => {
    expect(rewriteStationTemplate('{{ len(x) ', opts)).toEqual({ text: '{{ len(x) ', rewrites: [] });
    expect(rewriteStationTemplate('no template here', opts)).toEqual({ text: 'no template here', rewrites: [] });
    expect(rewriteStationTemplate('{{ a.b }} and {{ size(x) }}', opts)).toEqual({ text: '{{ a.b }} and {{ size(x) }}', rewrites: [] });
    expect(() => rewriteStationTemplate('{{ name.upper() }}', opts)).toThrow(
      '"name.upper()" has no CEL equivalent in a template (.upper()): compute the value in a transform state and use it here',
    );
  });
});
