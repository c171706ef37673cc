import { describe, it, expect } from 'vitest';
import {
  compileExpression,
  ExpressionError,
  normalizeCondition,
  normalizePath,
  splitPath,
} from '../../src/expressions/index.js';

describe('normalizeCondition', () => {
  it('rewrites the Python spellings into CEL', () => {
    expect(normalizeCondition('approved == True and not rejected or x == None')).toEqual({
      expr: 'approved == true && ! rejected || x == null',
      changed: true,
    });
    expect(normalizeCondition('$.steps.check.ok == False').expr).toBe('steps.check.ok == false');
    expect(normalizeCondition('not($.a)').expr).toBe('!(a)');
    expect(normalizeCondition('size($["items"]) > 0').expr).toBe('size(ctx["items"]) > 0');
  });

  it('leaves strings, field names, longer words and plain CEL alone', () => {
    expect(normalizeCondition('msg == "True and None or not $.x"').expr).toBe('msg == "True and None or not $.x"');
    expect(normalizeCondition("m == 'it\\'s True' and r'\\' == None").expr).toBe("m == 'it\\'s True' && r'\\' == null");
    expect(normalizeCondition('m == """a " or """ or x').expr).toBe('m == """a " or """ || x');
    expect(normalizeCondition('steps.or.and == Trueish || notes.not').expr).toBe('steps.or.and == Trueish || notes.not');
    expect(normalizeCondition('x > 1e5 && y == 0xFF')).toEqual({ expr: 'x > 1e5 && y == 0xFF', changed: false });
  });

  it('produces expressions that evaluate', () => {
    const { expr } = normalizeCondition('$.result.approved == True and not ($.result.comment == None)');
    expect(compileExpression(expr).evaluate({ result: { approved: true, comment: 'ok' } })).toBe(true);
  });
});

describe('paths', () => {
  it('strips the optional root prefix', () => {
    expect(normalizePath('steps.diagnostics.pods')).toBe('steps.diagnostics.pods');
    expect(normalizePath('$.steps.diagnostics')).toBe('steps.diagnostics');
    expect(normalizePath('ctx.steps.diagnostics')).toBe('steps.diagnostics');
    expect(normalizePath('ctx')).toBe('');
    expect(normalizePath('$')).toBe('');
    expect(normalizePath('ctxs.a')).toBe('ctxs.a');
  });

  it('splits into keys', () => {
    expect(splitPath('$.steps.diagnostics.pods')).toEqual(['steps', 'diagnostics', 'pods']);
    expect(splitPath('ctx.items[0].name')).toEqual(['items', '0', 'name']);
    expect(splitPath('matrix[1][2]')).toEqual(['matrix', '1', '2']);
    expect(splitPath('ctx')).toEqual([]);
  });

  it('rejects malformed paths', () => {
    for (const bad of ['a..b', 'a.', '.a', 'a[x]', 'a[0']) {
      expect(() => splitPath(bad), bad).toThrow(ExpressionError);
    }
  });
});
