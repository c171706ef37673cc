import { describe, it, expect } from 'vitest';
import {
  collectTemplateExpressions,
  ExpressionError,
  hasTemplate,
  parseTemplate,
  renderTemplate,
} from '../../src/expressions/index.js';

function thrown(fn: () => unknown): ExpressionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ExpressionError);
    return err as ExpressionError;
  }
  throw new Error('expected an ExpressionError');
}

const vars = {
  steps: { check: { ok: true, pods: [{ name: 'a' }, { name: 'b' }], count: 2, ratio: 0.5 } },
  input: { service: 'web', replicas: 3 },
  nothing: null,
};
const at = { state: 'notify', field: 'input' };

describe('parseTemplate', () => {
  it('splits text and expressions with offsets', () => {
    expect(parseTemplate('hello {{ input.service }}!')).toEqual([
      { kind: 'text', text: 'hello ' },
      { kind: 'expr', source: 'input.service', offset: 9 },
      { kind: 'text', text: '!' },
    ]);
    expect(parseTemplate('{{a}}{{b}}')).toEqual([
      { kind: 'expr', source: 'a', offset: 2 },
      { kind: 'expr', source: 'b', offset: 7 },
    ]);
    expect(parseTemplate('no template }} here')).toEqual([{ kind: 'text', text: 'no template }} here' }]);
    expect(parseTemplate('')).toEqual([]);
  });

  it('is not confused by braces or quotes inside the expression', () => {
    expect(parseTemplate('{{ "a}}b" }}')).toEqual([{ kind: 'expr', source: '"a}}b"', offset: 3 }]);
    expect(parseTemplate("{{ 'it''s' + \"{{\" }}")[0]).toEqual({ kind: 'expr', source: "'it''s' + \"{{\"", offset: 3 });
    expect(parseTemplate('{{ "say \\"}}\\"" }}')[0]).toMatchObject({ source: '"say \\"}}\\""' });
    expect(parseTemplate('{{ r"\\" + "}}" }}')[0]).toMatchObject({ source: 'r"\\" + "}}"' });
    expect(parseTemplate('{{ """a "}}" b""" }}')[0]).toMatchObject({ source: '"""a "}}" b"""' });
    expect(parseTemplate('{{ {"a": {"b": 1}} }}')[0]).toMatchObject({ source: '{"a": {"b": 1}}' });
    expect(parseTemplate('{{{"a": 1}}}')[0]).toMatchObject({ source: '{"a": 1}' });
  });

  it('rejects malformed templates with an offset', () => {
    const unclosed = thrown(() => parseTemplate('abc {{ input.x'));
    expect(unclosed.code).toBe('STN_E_EXPR_SYNTAX');
    expect(unclosed.offset).toBe(4);
    expect(unclosed.message).toMatch(/unclosed "\{\{"/);
    expect(thrown(() => parseTemplate('x {{ }} y')).offset).toBe(2);
    expect(thrown(() => parseTemplate('{{}}')).message).toMatch(/empty/);
    expect(thrown(() => parseTemplate('{{ "abc }}')).offset).toBe(3);
    expect(thrown(() => parseTemplate('{{ a }} {{ b')).offset).toBe(8);
  });

  it('hasTemplate is a cheap pre-check', () => {
    expect(hasTemplate('a {{ b }}')).toBe(true);
    expect(hasTemplate('plain }} text')).toBe(false);
  });
});

describe('renderTemplate', () => {
  it('returns the typed value of a single expression', () => {
    expect(renderTemplate('{{ steps.check.count }}', vars, at)).toBe(2);
    expect(renderTemplate('  {{ steps.check.ok }}\n', vars, at)).toBe(true);
    expect(renderTemplate('{{ nothing }}', vars, at)).toBeNull();
    expect(renderTemplate('{{ steps.check.pods }}', vars, at)).toEqual([{ name: 'a' }, { name: 'b' }]);
    expect(renderTemplate('{{ {"svc": input.service, "n": input.replicas + 1} }}', vars, at)).toEqual({ svc: 'web', n: 4 });
  });

  it('interpolates text', () => {
    expect(renderTemplate('deploy {{ input.service }} x{{ input.replicas }}', vars, at)).toBe('deploy web x3');
    expect(renderTemplate('{{ steps.check.ratio }} {{ nothing }} {{ steps.check.ok }}', vars, at)).toBe('0.5 null true');
    expect(renderTemplate('pods={{ steps.check.pods.map(p, p.name) }}', vars, at)).toBe('pods=["a","b"]');
    expect(renderTemplate('cfg: {{ {"n": 1} }}', vars, at)).toBe('cfg: {"n":1}');
    expect(renderTemplate('literal {{ "{{" }}.Name}}', vars, at)).toBe('literal {{.Name}}');
    expect(renderTemplate('a }} b', vars, at)).toBe('a }} b');
  });

  it('walks nested objects and arrays, leaving other values alone', () => {
    const input = {
      text: 'scale {{ input.service }}',
      args: ['--replicas', '{{ input.replicas * 2 }}', { deep: ['{{ steps.check.ok }}'] }],
      n: 5,
      flag: false,
      none: null,
      '{{ key }}': 'keys are not rendered',
    };
    expect(renderTemplate(input, vars, at)).toEqual({
      text: 'scale web',
      args: ['--replicas', 6, { deep: [true] }],
      n: 5,
      flag: false,
      none: null,
      '{{ key }}': 'keys are not rendered',
    });
    expect(input.args[1]).toBe('{{ input.replicas * 2 }}'); // the input is not mutated
  });

  it('names the state, the field and the expression of a missing key', () => {
    const err = thrown(() => renderTemplate({ channel: '#ops', text: 'hi {{ steps.foo.bar }}' }, vars, at));
    expect(err.code).toBe('STN_E_EXPR_MISSING_KEY');
    expect(err.message).toBe('state "notify", field "input.text": no such key "foo" in {{ steps.foo.bar }}');
    expect(err.offset).toBe(12); // "foo" in the template string
    const nested = thrown(() => renderTemplate({ args: ['x', '{{ nope }}'] }, vars, { field: 'data' }));
    expect(nested.message).toBe('field "data.args[1]": no such variable "nope" in {{ nope }}');
  });

  it('lets has() and optionals guard missing keys', () => {
    expect(renderTemplate('{{ has(steps.deploy) ? steps.deploy.url : "n/a" }}', vars, at)).toBe('n/a');
    expect(renderTemplate('{{ steps.?deploy.url.orValue("n/a") }}', vars, at)).toBe('n/a');
  });

  it('keeps the code of syntax and evaluation errors', () => {
    const syntax = thrown(() => renderTemplate({ text: 'a {{ 1 + }}' }, vars, at));
    expect(syntax.code).toBe('STN_E_EXPR_SYNTAX');
    expect(syntax.message).toMatch(/^state "notify", field "input.text": syntax error: .* in \{\{ 1 \+ \}\}$/);
    const unclosed = thrown(() => renderTemplate({ text: 'a {{ b' }, vars, at));
    expect(unclosed.code).toBe('STN_E_EXPR_SYNTAX');
    expect(unclosed.message).toBe('state "notify", field "input.text": unclosed "{{" at offset 2 in "a {{ b"');
    const evalErr = thrown(() => renderTemplate('{{ input.service + 1 }}', vars, { field: 'output' }));
    expect(evalErr.code).toBe('STN_E_EXPR_EVAL');
    expect(evalErr.message).toMatch(/^field "output": no such overload/);
  });
});

describe('collectTemplateExpressions', () => {
  it('lists every expression with its JSON pointer, errors included', () => {
    const spec = {
      states: [
        { input: { args: ['ls', '{{ input.dir }}'], text: 'a {{ x }} b {{ y }}' } },
        { data: { 'a/b~c': '{{ z }}', bad: 'oops {{ unclosed', n: 1 } },
      ],
    };
    const found = collectTemplateExpressions(spec, '');
    expect(found.filter((f) => 'source' in f)).toEqual([
      { source: 'input.dir', pointer: '/states/0/input/args/1', offset: 3 },
      { source: 'x', pointer: '/states/0/input/text', offset: 5 },
      { source: 'y', pointer: '/states/0/input/text', offset: 15 },
      { source: 'z', pointer: '/states/1/data/a~1b~0c', offset: 3 },
    ]);
    const errors = found.filter((f) => 'error' in f);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.pointer).toBe('/states/1/data/bad');
    expect('error' in errors[0]! && errors[0].error.offset).toBe(5);
  });
});
