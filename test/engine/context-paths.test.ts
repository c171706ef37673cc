import { afterEach, describe, expect, it } from 'vitest';
import { ContextPathError, getPath, mergePath, overlay, pathSegments, setPath } from '../../src/engine/paths.js';
import { EngineHarness } from '../helpers/engine-harness.js';

// Context paths never reach Object.prototype (docs/security.md, "Context paths and prototype pollution").

let h: EngineHarness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
  expect(Object.keys(Object.prototype)).toEqual([]);
});

describe('paths', () => {
  it('refuse __proto__, constructor and prototype segments with ContextPathError', () => {
    for (const p of ['__proto__.polluted', 'steps.constructor.prototype', 'ctx.a.prototype', '$.__proto__', 'a[0].constructor']) {
      expect(() => pathSegments(p), p).toThrow(ContextPathError);
    }
    expect(pathSegments('ctx.steps.proto_x.constructors')).toEqual(['steps', 'proto_x', 'constructors']);
  });

  it('a stored patch through __proto__ (written before paths were checked) replays into an ordinary key', () => {
    const root = setPath({}, ['__proto__', 'polluted'], 'yes');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(root)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(root))).toEqual(JSON.parse('{"__proto__": {"polluted": "yes"}}'));
    expect(getPath(root, ['__proto__', 'polluted'])).toBe('yes');
    setPath(root, ['constructor', 'prototype', 'x'], 1);
    expect((Object as unknown as { prototype: Record<string, unknown> }).prototype.x).toBeUndefined();
    expect(getPath(root, ['constructor', 'prototype', 'x'])).toBe(1);
  });

  it('merges and overlays keep a __proto__ key as data', () => {
    const evil = JSON.parse('{"__proto__": {"polluted": 1}, "ok": 2}') as Record<string, unknown>;
    const merged = mergePath({ a: 1 }, [], evil);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(Object.keys(merged)).toEqual(['a', '__proto__', 'ok']);
    const view = overlay({ a: 1 }, evil) as Record<string, unknown>;
    expect(Object.getPrototypeOf(view)).toBe(Object.prototype);
    expect(Object.keys(view)).toEqual(['a', '__proto__', 'ok']);
    expect(getPath({ a: 1 }, ['constructor'])).toBeUndefined();
    expect(getPath({ a: 1 }, ['toString'])).toBeUndefined();
  });
});

describe('runs', () => {
  it('a summaryPath made by a template that names __proto__ fails the step with STN_E_CONTEXT_PATH', async () => {
    h = EngineHarness.create();
    await h.define('gate', `
      id: gate
      version: "1"
      name: Gate
      states:
        - name: ask
          type: operation
          action: human.approval
          input:
            message: go?
            summaryPath: "{{ input.where }}"
          end: true
    `);
    const r = await h.run('gate', { where: '__proto__.polluted' });
    expect(r.status).toBe('FAILED');
    expect(r.step('ask').error).toMatchObject({ code: 'STN_E_CONTEXT_PATH' });
    expect(r.step('ask').error?.message).toMatch(/"__proto__", which is reserved/);
  });

  it('keys named __proto__ and constructor in run input are data: stored, read by templates, never a prototype', async () => {
    h = EngineHarness.create();
    await h.define('keys', `
      id: keys
      version: "1"
      name: Keys
      states:
        - name: keep
          type: inject
          data: {body: "{{ input }}"}
          resultPath: steps.keep
          next: read
        - name: read
          type: operation
          action: noop
          input:
            ctor: "{{ input.constructor }}"
            nested: "{{ steps.keep.body.constructor.name }}"
            proto: "{{ input.__proto__.polluted }}"
            all: "{{ input }}"
          end: true
    `);
    const input = JSON.parse('{"constructor": {"name": "x"}, "__proto__": {"polluted": "yes"}, "n": 1}') as Record<string, unknown>;
    const r = await h.run('keys', input as never);
    expect(r.status).toBe('COMPLETED');
    const out = r.step('read').output as Record<string, unknown>;
    expect(out.ctor).toEqual({ name: 'x' });
    expect(out.nested).toBe('x');
    expect(out.proto).toBe('yes');
    expect(JSON.stringify(out.all)).toBe('{"constructor":{"name":"x"},"__proto__":{"polluted":"yes"},"n":1}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a version stored before paths were checked, with resultPath __proto__.polluted, fails its runs at the start', async () => {
    h = EngineHarness.create();
    await h.define('legacy', `
      id: legacy
      version: "1"
      name: Legacy
      states:
        - {name: a, type: operation, action: noop, input: {polluted: yes}, resultPath: steps.marker, end: true}
    `);
    // What an older Station stored: the same definition with a polluting path (validation refuses it now).
    h.station.db.prepare("UPDATE workflow_definition_versions SET spec = replace(spec, 'steps.marker', '__proto__.polluted')").run();
    const r = await h.run('legacy');
    expect(r.status).toBe('FAILED');
    expect(r.error).toMatchObject({ code: 'STN_E_CONTEXT_PATH' });
    expect(r.steps).toEqual([]);
  });
});
