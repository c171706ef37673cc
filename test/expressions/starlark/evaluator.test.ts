import { describe, it, expect } from 'vitest';
import { compileStarlark, evaluateStarlark, ExpressionError, parseStarlark } from '../../../src/expressions/index.js';
import type { StarlarkLimits } from '../../../src/expressions/index.js';

function run(src: string, globals: Record<string, unknown> = {}, limits?: Partial<StarlarkLimits>): unknown {
  return evaluateStarlark(parseStarlark(src), globals, limits);
}

function failure(src: string, globals: Record<string, unknown> = {}, limits?: Partial<StarlarkLimits>): ExpressionError {
  try {
    run(src, globals, limits);
  } catch (err) {
    expect(err).toBeInstanceOf(ExpressionError);
    return err as ExpressionError;
  }
  throw new Error(`expected ${src} to fail`);
}

const input = {
  incident_id: 42,
  title: 'checkout down',
  services: [
    { name: 'api', enabled: true },
    { name: 'db', enabled: false },
    { name: 'cache' },
  ],
  logs: Array.from({ length: 60 }, (_, i) => `log ${i}`),
};
const ctx = { steps: { triage: { output: { severity: 'high', incident: { id: 7 } } } }, workflow: { input: { service: 'web' } } };

describe('evaluateStarlark: the transforms of the reference', () => {
  it('evaluates the typical multi-line dict transform', () => {
    const src = `{
    "incident_id": input.incident_id,
    "severity": ctx.steps.triage.output.get("severity", "low"),
    "services": [s["name"] for s in input.services if s.get("enabled", True)],
    "summary": "Incident " + str(input.incident_id) + ": " + input.title,
    "recent_logs": input.logs[-50:] if input.get("logs") else [],
}`;
    const out = run(src, { input, ctx }) as Record<string, unknown>;
    expect(out).toEqual({
      incident_id: 42,
      severity: 'high',
      services: ['api', 'cache'],
      summary: 'Incident 42: checkout down',
      recent_logs: input.logs.slice(-50),
    });
    expect(Object.keys(out)).toEqual(['incident_id', 'severity', 'services', 'summary', 'recent_logs']);
    expect((run(src, { input: { ...input, logs: [] }, ctx }) as Record<string, unknown>).recent_logs).toEqual([]);
  });

  it('dot access on dicts, chained .get, len, membership in a conditional, == and !=', () => {
    expect(run('ctx.steps.triage.output.incident.id', { ctx })).toBe(7);
    expect(run('ctx.steps.get("service_checks", {}).get("output", [])', { ctx })).toEqual([]);
    expect(run('ctx.workflow.input.service', { ctx })).toBe('web');
    expect(run('len(input.services) if input.title != "" else 0', { input })).toBe(3);
    expect(run('"page" if ctx.steps.triage.output.severity in ["high", "critical"] else "ticket"', { ctx })).toBe('page');
    expect(run('[r.item.name for r in results]', { results: [{ item: { name: 'a' } }, { item: { name: 'b' } }] })).toEqual(['a', 'b']);
  });

  it('runs the Go docs cases: operators, precedence, truthiness, indexing, substring tests, % formatting', () => {
    expect(run('1 + 2 * 3')).toBe(7);
    expect(run('(1 + 2) * 3')).toBe(9);
    expect(run('2 ** 10')).toBe(1024);
    expect(run('-2 ** 2')).toBe(-4);
    expect(run('7 // 2, -7 // 2, 7 % 3, -7 % 3, 7 / 2')).toEqual([3, -4, 1, 2, 3.5]);
    expect(run('x < 10 and x >= 5 and x <= 5', { x: 5 })).toBe(true);
    expect(run('not is_critical', { is_critical: false })).toBe(true);
    expect(run('not message', { message: '' })).toBe(true);
    expect(run('bool(message)', { message: 'hi' })).toBe(true);
    expect(run('items[0]', { items: ['a', 'b'] })).toBe('a');
    expect(run("config['timeout']", { config: { timeout: 30 } })).toBe(30);
    expect(run("'x' in items", { items: ['x'] })).toBe(true);
    expect(run('"critical" in str(s).lower()', { s: 'A CRITICAL error' })).toBe(true);
    expect(run('"Hello %s" % "World"')).toBe('Hello World');
    expect(run('"%s has %d items (%r)" % ("cart", 3.9, "x")')).toBe('cart has 3 items ("x")');
    expect(run('"%(name)s=%(v)d%%" % {"name": "cpu", "v": 1}')).toBe('cpu=1%');
    expect(run('"%s!" % {"a": 1}')).toBe('{"a": 1}!');
    expect(run('"%05.1f|%-4d|%x" % (3.14159, 7, 255)')).toBe('003.1|7   |ff');
    expect(run('x == None', { x: null })).toBe(true);
    expect(run('a or b', { a: 0, b: 'fallback' })).toBe('fallback');
    expect(run('a and b', { a: [], b: 'x' })).toEqual([]);
    expect(run('1 < x < 3 < y', { x: 2, y: 4 })).toBe(true);
    expect(run('1 < x < 3 < y', { x: 2, y: 3 })).toBe(false);
    expect(run('x not in "abc"', { x: 'd' })).toBe(true);
  });

  it('negative indexes and slices with steps', () => {
    const g = { l: [0, 1, 2, 3, 4, 5], s: 'abcdef' };
    expect(run('l[-1], l[-2], s[-1]', g)).toEqual([5, 4, 'f']);
    expect(run('l[1:3], l[:2], l[4:], l[-2:], l[:-4], l[::2], l[::-1], l[5:1:-2], l[10:], l[-100:2]', g)).toEqual([
      [1, 2], [0, 1], [4, 5], [4, 5], [0, 1], [0, 2, 4], [5, 4, 3, 2, 1, 0], [5, 3], [], [0, 1],
    ]);
    expect(run('s[1:3] + s[::-1]', g)).toBe('bcfedcba');
    expect(failure('l[6]', g).message).toBe('line 1: index 6 out of range (length 6)');
  });

  it('dict comprehension with tuple unpacking, nested comprehensions, several clauses', () => {
    expect(run('{k: v * 2 for k, v in d.items() if v > 1}', { d: { a: 1, b: 2, c: 3 } })).toEqual({ b: 4, c: 6 });
    expect(run('[x * y for x in range(1, 4) if x != 2 for y in [10, 100]]')).toEqual([10, 100, 30, 300]);
    expect(run('[[c for c in row] for row in ["ab", "cd"]]')).toEqual([['a', 'b'], ['c', 'd']]);
    expect(run('{name: i for i, name in enumerate(["a", "b"])}')).toEqual({ a: 0, b: 1 });
    // Comprehension variables do not leak.
    expect(run('x = "outer"\ny = [x for x in [1, 2]]\nx')).toBe('outer');
    expect(run('sum(x * x for x in range(4))')).toBe(14);
  });

  it('hasattr, getattr with a default, int, type, sum, min, max, sorted, any, all, zip, reversed, abs, json', () => {
    const g = { obj: { a: 1, n: null }, nums: [3, 1, 2] };
    expect(run("hasattr(obj, 'a'), hasattr(obj, 'b'), hasattr(obj, 'n'), hasattr(nums, 'a')", g)).toEqual([true, false, true, false]);
    expect(run("getattr(obj, 'a', 0), getattr(obj, 'b', 'dflt')", g)).toEqual([1, 'dflt']);
    expect(failure("getattr(obj, 'b')", g).code).toBe('STN_E_EXPR_MISSING_KEY');
    expect(run('int("42") + int(3.9) + int(True) + int("ff", 16) + int(-2.5)')).toBe(42 + 3 + 1 + 255 - 2);
    expect(run('type(1), type(1.0), type("s"), type([]), type({}), type(None), type(True), type((1,))')).toEqual([
      'int', 'float', 'string', 'list', 'dict', 'NoneType', 'bool', 'tuple',
    ]);
    expect(run('sum(nums), min(nums), max(nums), sorted(nums), sorted(nums, reverse=True)', g)).toEqual([6, 1, 3, [1, 2, 3], [3, 2, 1]]);
    expect(run('sorted(["bb", "a", "ccc"], key=len), max(["bb", "a"], key=len), min([], default=0)')).toEqual([['a', 'bb', 'ccc'], 'bb', 0]);
    expect(run('any([0, "", 1]), all([1, "x"]), all([]), any([])')).toEqual([true, true, true, false]);
    expect(run('zip([1, 2, 3], "ab"), list(reversed(nums)), abs(-3), abs(-2.5)', g)).toEqual([[[1, 'a'], [2, 'b']], [2, 1, 3], 3, 2.5]);
    expect(run('json.encode({"a": [1, 2.5, None, True], "b": "x"})')).toBe('{"a":[1,2.5,null,true],"b":"x"}');
    expect(run('d = json.decode(\'{"a": [1, {"b": 2}]}\')\nd["c"] = d.a[1].b + 1\nd')).toEqual({ a: [1, { b: 2 }], c: 3 });
    expect(run('float("1.5") + float(2), bool(0), bool([0]), list("ab"), dict([("a", 1)], b=2), range(5, 0, -2)')).toEqual([
      3.5, false, true, ['a', 'b'], { a: 1, b: 2 }, [5, 3, 1],
    ]);
  });

  it('str() and repr() as Starlark prints them', () => {
    expect(run('str(1.0), str(True), str(None), str(0.1), str(1e20), str(1.5e-7), str(-0.0), str(3)')).toEqual([
      '1.0', 'True', 'None', '0.1', '1e+20', '1.5e-07', '-0.0', '3',
    ]);
    expect(run('str({"a": [1, "x", None, (1,), (1, 2)], 2: False})')).toBe('{"a": [1, "x", None, (1,), (1, 2)], 2: False}');
    expect(run('repr("it\'s") + str("plain")')).toBe('"it\'s"plain');
    expect(run('2 * 0.5, 1.0 + 1, 3 / 1')).toEqual([1, 2, 3]);
    expect(run('str(2 * 0.5) + str(3 / 1) + str(4 // 2.0)')).toBe('1.03.02.0');
  });

  it('string methods', () => {
    expect(run('"  Hi There ".strip().lower(), "x".upper(), "--a--".strip("-"), "a,b,,c".split(","), " a  b ".split(), "a b c".split(None, 1)')).toEqual([
      'hi there', 'X', 'a', ['a', 'b', '', 'c'], ['a', 'b'], ['a', 'b c'],
    ]);
    expect(run('", ".join(["a", "b"]), "aaa".replace("a", "b", 2), "abc".startswith("ab"), "abc".endswith(("x", "c"))')).toEqual([
      'a, b', 'bba', true, true,
    ]);
    expect(run('"{} is {}".format("x", 1), "{name}: {0!r}".format("v", name="k"), "{{literal}}".format()')).toEqual([
      'x is 1', 'k: "v"', '{literal}',
    ]);
    expect(run('"a-b-c".rsplit("-", 1), "abcabc".count("b"), "abc".find("c"), "hello world".title(), "42".isdigit()')).toEqual([
      ['a-b', 'c'], 2, 2, 'Hello World', true,
    ]);
  });

  it('list and dict methods; the input is read-only', () => {
    expect(run('l = [1]\nl.append(2)\nl.extend([3, 4])\nl.insert(0, 0)\nl.pop()\nl.remove(2)\n[l, l.index(3)]')).toEqual([[0, 1, 3], 2]);
    expect(run('d = {"a": 1}\nd.update({"b": 2}, c=3)\nd.setdefault("a", 9)\nv = d.pop("b")\n[d, v, d.keys(), d.values(), d.items()]')).toEqual([
      { a: 1, c: 3 }, 2, ['a', 'c'], [1, 3], [['a', 1], ['c', 3]],
    ]);
    const nums = [1, 2];
    const g = { input: { nums, cfg: { a: 1 } } };
    expect(failure('input.nums.append(3)', g).message).toMatch(/^line 1: cannot append to a list that comes from the input/);
    expect(failure('x = 1\ninput.cfg["b"] = 2', g).message).toMatch(/^line 2: cannot assign to a key of a dict that comes from the input/);
    expect(run('l = list(input.nums)\nl.append(3)\nd = dict(input.cfg)\nd["b"] = 2\n[l, d]', g)).toEqual([[1, 2, 3], { a: 1, b: 2 }]);
    expect(run('l = input.nums + [3]\nl += [4]\nl', g)).toEqual([1, 2, 3, 4]);
    expect(nums).toEqual([1, 2]);
    // The dict method names are methods, not keys: read such keys with [] or .get().
    expect(run('[input["items"], input.get("keys")]', { input: { items: [1], keys: 2 } })).toEqual([[1], 2]);
    expect(g.input.cfg).toEqual({ a: 1 });
  });

  it('statement programs: assignments, if/elif/else, for with break/continue, += and the result rules', () => {
    const program = `
total = 0
kept = []
for i, v in enumerate(values):
    if v < 0:
        continue
    elif v > 100:
        break
    else:
        pass
    total += v
    kept.append(i)
a, (b, c) = 1, [2, 3]
{"total": total, "kept": kept, "abc": a + b + c}
`;
    expect(run(program, { values: [5, -1, 10, 200, 7] })).toEqual({ total: 15, kept: [0, 2], abc: 6 });
    // The final expression may span lines; else __result__; else the last assigned variable; else null.
    expect(run('x = 1\n__result__ = {"x": x}\ny = 2')).toEqual({ x: 1 });
    expect(run('x = 1\ny = x + 1')).toBe(2);
    expect(run('if True:\n    pass')).toBeNull();
    expect(run('print("debug", 1)\nx = 2')).toBe(2);
    expect(run(`items = []
for item in input.services:
    items.append(item["name"].upper())
result = {"names": items}
result`, { input })).toEqual({ names: ['API', 'DB', 'CACHE'] });
  });

  it('errors: type errors, unknown names and missing keys name the line', () => {
    const e1 = failure('x = 1\ny = x + "a"');
    expect(e1.code).toBe('STN_E_EXPR_EVAL');
    expect(e1.message).toBe('line 2: unsupported operand types for +: int and string');
    const e2 = failure('a = 1\n\nb = nope');
    expect([e2.code, e2.message]).toEqual(['STN_E_EXPR_EVAL', 'line 3: name "nope" is not defined']);
    const e3 = failure('{\n  "a": 1,\n  "b": input.missing,\n}', { input: {} });
    expect([e3.code, e3.message, e3.key]).toEqual(['STN_E_EXPR_MISSING_KEY', 'line 3: no such key "missing"', 'missing']);
    const e4 = failure('d = {}\nd["k"]');
    expect([e4.code, e4.key]).toEqual(['STN_E_EXPR_MISSING_KEY', 'k']);
    expect(failure('fail("bad input", 3)').message).toBe('line 1: fail: bad input 3');
    expect(failure('1 / 0').message).toBe('line 1: division by zero');
    expect(failure('"abc" % 5').message).toBe('line 1: not all arguments converted during string formatting');
    expect(failure('"%s %s" % ("a",)').message).toBe('line 1: not enough arguments for format string');
    expect(failure('len(3)').message).toBe('line 1: len() of a int');
    expect(failure('"abc".nope()').message).toBe('line 1: string has no field or method "nope"');
    expect(failure('[1] < "a"').message).toBe('line 1: cannot compare list with string');
    expect(failure('2 ** 60').message).toBe('line 1: integer overflow: the result is outside ±2^53');
    // A whole number past 2^53 in the input is a float (JSON cannot hold such an int exactly).
    expect(run('type(big), big * 2, str(big)', { big: 1e20 })).toEqual(['float', 2e20, '1e+20']);
  });

  it('never mutates the globals and returns plain JSON', () => {
    const globals = { input: { a: [1, { b: 2 }] } };
    const before = JSON.stringify(globals);
    const out = run('x = {"copy": input.a, "t": (1, 2), "f": 1.0}\nx["k"] = [1]\nx', globals);
    expect(out).toEqual({ copy: [1, { b: 2 }], t: [1, 2], f: 1, k: [1] });
    expect(JSON.stringify(globals)).toBe(before);
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });
});

describe('evaluateStarlark: limits', () => {
  /**
   * Fails with STN_E_TRANSFORM_LIMIT within 100 ms of CPU and without growing the heap by 50 MB. CPU time, not wall
   * time: the test machine may be shared, and a loaded machine stretches the wall clock, not the work done.
   */
  function bounded(src: string, globals: Record<string, unknown> = {}): ExpressionError {
    // Measured warm, as a daemon runs it: the first evaluation of a program also pays for V8 compiling the
    // evaluator's paths it takes, which on a loaded 2-core CI machine alone can take longer than the bound.
    failure(src, globals);
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const heap = process.memoryUsage().heapUsed;
    const started = performance.now();
    const cpu = process.cpuUsage();
    const err = failure(src, globals);
    const used = process.cpuUsage(cpu);
    const took = performance.now() - started;
    const grown = process.memoryUsage().heapUsed - heap;
    expect(err.code, err.message).toBe('STN_E_TRANSFORM_LIMIT');
    expect((used.user + used.system) / 1000, src).toBeLessThan(100);
    expect(took, src).toBeLessThan(1000);
    expect(grown, src).toBeLessThan(50 * 1024 * 1024);
    return err;
  }

  it('stops hostile programs within 100 ms and 50 MB', () => {
    expect(bounded('[x for x in range(10**9)]').message).toMatch(/^line 1: a list or dict would hold 1000000000 elements/);
    expect(bounded('"x" * 10**9').message).toMatch(/^line 1: a string would be longer than 1000000 characters/);
    expect(bounded('s = "ab"\nfor i in range(100):\n    s = s + s\ns').message).toMatch(/^line 3: a string would be longer/);
    expect(bounded('[[[i + j + k for k in range(1000)] for j in range(1000)] for i in range(1000)]').message).toMatch(
      /^line 1: the evaluation went over its budget of 100000 steps/,
    );
    bounded('l = [0]\nfor i in range(100):\n    l = l + l');
    bounded('x = [[0] * 100000 for i in range(1000)]');
    bounded('x = ["y" * 1000000 for i in range(1000)]');
    bounded('s = "y" * 1000000\nstr([s] * 100000)');
    bounded('s = "y" * 1000000\njson.encode([s] * 100000)');
    bounded('l = []\nfor i in range(10):\n    l = [l, l]\nx = l\nfor i in range(300):\n    x = [x]\nx');
    bounded('l = []\nl.append(l)\nstr(l)');
    bounded('d = {}\nfor i in range(100000):\n    d[i] = i');
    bounded('l = [1]\nfor x in l:\n    l.append(x)');
  });

  it('ordinary work on thousands of elements stays well within the budget', () => {
    expect(run('l = []\nfor i in range(5000):\n    l.append(i)\nlen(l)')).toBe(5000);
    expect(run('d = {}\nfor i in range(5000):\n    d[str(i)] = i\nlen(d)')).toBe(5000);
    expect(run('len(sorted([-i for i in range(5000)]))')).toBe(5000);
    const big = JSON.stringify(Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `item ${i}` })));
    expect(big.length).toBeGreaterThan(500_000);
    expect(run('len(json.decode(s))', { s: big })).toBe(20_000);
  });

  it('the limits can be set per evaluation', () => {
    expect(failure('[i for i in range(100)]', {}, { maxSteps: 50 }).code).toBe('STN_E_TRANSFORM_LIMIT');
    expect(failure('range(11)', {}, { maxCollection: 10 }).code).toBe('STN_E_TRANSFORM_LIMIT');
    expect(failure('"x" * 11', {}, { maxString: 10 }).code).toBe('STN_E_TRANSFORM_LIMIT');
    expect(run('range(10)', {}, { maxCollection: 10 })).toHaveLength(10);
    expect(failure('x = 1\ny = ' + '['.repeat(30) + '1' + ']'.repeat(30), {}, { maxDepth: 20 }).message).toBe(
      'line 2: the expression is nested deeper than 20 levels',
    );
    expect(failure('json.decode(s)', { s: '['.repeat(50) + ']'.repeat(50) }, { maxDepth: 20 }).code).toBe('STN_E_TRANSFORM_LIMIT');
    expect(failure('d = {}\nfor i in range(5):\n    d = {"x": d}\nd', {}, { maxDepth: 3 }).message).toBe(
      'line 4: the result is nested deeper than 3 levels',
    );
  });

  it('the typical dict transform evaluates in well under 0.1 ms', () => {
    const src = `{
    "incident_id": input.incident_id,
    "severity": ctx.steps.triage.output.get("severity", "low"),
    "services": [s["name"] for s in input.services if s.get("enabled", True)],
    "summary": "Incident " + str(input.incident_id) + ": " + input.title,
    "recent_logs": input.logs[-50:] if input.get("logs") else [],
}`;
    const globals = { input, ctx };
    for (let i = 0; i < 2000; i++) evaluateStarlark(compileStarlark(src), globals);
    const times: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t = performance.now();
      evaluateStarlark(compileStarlark(src), globals);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    expect(times[1000]).toBeLessThan(0.1);
  });
});
