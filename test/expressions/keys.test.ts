import { describe, expect, it } from 'vitest';
import { renderTemplate } from '../../src/expressions/index.js';

// Keys that are names of JavaScript machinery are plain data in expressions (docs/security.md).

const render = (template: string, vars: Record<string, unknown>) => renderTemplate(template, vars, { field: 'input' });

describe('maps with a key named constructor', () => {
  const body = JSON.parse('{"constructor": "x", "a": 1, "n": {"constructor": {"prototype": 2}}}') as Record<string, unknown>;

  it('read like any other map: field, index, has(), in, size(), macros', () => {
    expect(render('{{ body.constructor }}', { body })).toBe('x');
    expect(render('{{ body["constructor"] }}', { body })).toBe('x');
    expect(render('{{ body.a + 1 }}', { body })).toBe(2);
    expect(render('{{ body.n.constructor.prototype }}', { body })).toBe(2);
    expect(render('{{ has(body.constructor) && "constructor" in body }}', { body })).toBe(true);
    expect(render('{{ body.size() }}', { body })).toBe(3);
    expect(render('{{ body.filter(k, k != "a") }}', { body })).toEqual(['constructor', 'n']);
    expect(render('a={{ body.a }}', { body })).toBe('a=1');
  });

  it('come out as the same JSON', () => {
    expect(render('{{ body }}', { body })).toEqual(body);
    expect(render('{{ vars }}', { vars: body })).toEqual(body);
  });

  it('a map without the key still says it is missing; inherited names are never keys', () => {
    expect(() => render('{{ m.constructor }}', { m: { a: 1 } })).toThrow(/no such key "constructor"/);
    expect(() => render('{{ m.toString }}', { m: { a: 1 } })).toThrow(/no such key "toString"/);
    expect(render('{{ has(m.constructor) }}', { m: { a: 1 } })).toBe(false);
  });

  it('a __proto__ key is data, in and out', () => {
    const evil = JSON.parse('{"__proto__": {"polluted": "yes"}}') as Record<string, unknown>;
    expect(render('{{ b.__proto__.polluted }}', { b: evil })).toBe('yes');
    const out = render('{{ b }}', { b: evil }) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":"yes"}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
