import { describe, expect, it } from 'vitest';
import { at, check, expectInvalid, expectValid, only, yml } from '../helpers/definitions-fixtures.js';

// Context paths through __proto__, constructor or prototype are refused at the field's line (docs/security.md).

describe('reserved keys in context paths', () => {
  it('resultPath: __proto__.polluted is STN_E_PATH_RESERVED at its value', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: noop
    resultPath: __proto__.polluted
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_PATH_RESERVED');
    expect(d).toMatchObject({ severity: 'error', pointer: '/states/0/resultPath', ...at(text, 'resultPath:', '__proto__') });
    expect(d.message).toContain('state "a" resultPath "__proto__.polluted" uses "__proto__"');
  });

  it('dataPath, itemsPath, itemName, nested scopes and a literal summaryPath are checked too', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: pick
    type: switch
    dataPath: $.steps.constructor
    conditions: [{if: "true", next: each}]
  - name: each
    type: foreach
    itemsPath: input.prototype
    itemName: __proto__
    iterator:
      states:
        - {name: inner, type: inject, data: {}, resultPath: ctx.x.constructor, end: true}
    next: both
  - name: both
    type: parallel
    branches:
      - name: b1
        states:
          - {name: ask, type: operation, action: human.approval, input: {message: ok?, summaryPath: steps.__proto__}, end: true}
    end: true
`;
    const r = expectInvalid(check(text));
    const found = r.errors.filter((e) => e.code === 'STN_E_PATH_RESERVED').map((e) => [e.pointer, e.line]);
    expect(found).toEqual([
      ['/states/0/dataPath', at(text, 'dataPath:').line],
      ['/states/1/itemsPath', at(text, 'itemsPath:').line],
      ['/states/1/itemName', at(text, 'itemName:').line],
      ['/states/1/iterator/states/0/resultPath', at(text, 'name: inner').line],
      ['/states/2/branches/0/states/0/input/summaryPath', at(text, 'name: ask').line],
    ]);
  });

  it('keys that merely contain the words are fine', () => {
    expectValid(check(yml`
id: wf
version: "1"
name: WF
states:
  - {name: a, type: operation, action: noop, resultPath: steps.constructors.proto_type, end: true}
`));
  });
});
