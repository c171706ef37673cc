import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateDefinitionBytes, validateDefinitionFile } from '../../src/definitions/validate.js';
import { at, check, expectInvalid, expectValid, only, yml } from '../helpers/definitions-fixtures.js';

// Hostile or broken files are refused quickly and clearly (errors are per file; docs/security.md "Bounded parsing").

const MiB = 1024 * 1024;
const utf8 = new TextEncoder();

const minimal = yml`
id: wf
version: "1"
name: WF
states:
  - {name: a, type: operation, action: noop, end: true}
`;

/** Nine levels of nine aliases each: 9^9 (~387 million) leaves when expanded. */
function billionLaughs(): string {
  const lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
  for (let i = 1; i < 9; i++) {
    const name = String.fromCharCode(97 + i);
    const prev = String.fromCharCode(96 + i);
    lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
  }
  return `${lines.join('\n')}\n`;
}

function timed<T>(fn: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t0 };
}

describe('alias bombs', () => {
  it('a billion-laughs document is refused with STN_E_YAML_ALIAS_LIMIT in well under a second', () => {
    const { value: r, ms } = timed(() => check(billionLaughs()));
    expect(ms).toBeLessThan(1000);
    expectInvalid(r);
    const d = only(r, 'STN_E_YAML_ALIAS_LIMIT');
    expect(d.severity).toBe('error');
    expect(d.message).toMatch(/remove the anchors/);
  });

  it('a bomb of nested mappings hidden inside an otherwise valid workflow is refused too', () => {
    const levels = ['    l0: &l0 {a: x, b: x, c: x, d: x, e: x, f: x, g: x, h: x}'];
    for (let i = 1; i < 10; i++) {
      levels.push(`    l${i}: &l${i} {a: *l${i - 1}, b: *l${i - 1}, c: *l${i - 1}, d: *l${i - 1}, e: *l${i - 1}, f: *l${i - 1}, g: *l${i - 1}, h: *l${i - 1}}`);
    }
    const text = `id: wf\nversion: "1"\nname: WF\nstates:\n  - name: a\n    type: operation\n    action: noop\n    end: true\n    input:\n${levels.join('\n')}\n`;
    const { value: r, ms } = timed(() => check(text));
    expect(ms).toBeLessThan(1000);
    expect(only(expectInvalid(r), 'STN_E_YAML_ALIAS_LIMIT')).toBeDefined();
  });

  it('a few ordinary anchors and aliases are fine', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: shell.exec
    input: &df {command: [df, -h]}
    retry: &retry {maxAttempts: 3, backoffSeconds: 1}
    next: b
  - name: b
    type: operation
    action: shell.exec
    input: *df
    retry: *retry
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[1]).toMatchObject({ input: { command: ['df', '-h'] }, retry: { maxAttempts: 3, backoffSeconds: 1 } });
  });

  it('merge keys are not expanded: "<<" is an unknown field, not a silent merge', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - &base
    name: a
    type: inject
    data: {}
    next: b
  - <<: *base
    name: b
    type: inject
    data: {}
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_SCHEMA_UNKNOWN_FIELD');
    expect(d).toMatchObject({ pointer: '/states/1/<<', ...at(text, '- <<: *base', '<<') });
  });
});

describe('file size', () => {
  it('bytes over 1 MiB are refused with STN_E_FILE_TOO_LARGE before parsing', () => {
    const bytes = new Uint8Array(MiB + 1).fill(0x20);
    const { value: r, ms } = timed(() => validateDefinitionBytes(bytes, 'big.workflow.yaml'));
    expect(ms).toBeLessThan(100);
    expect(r).toMatchObject({ path: 'big.workflow.yaml', valid: false, spec: undefined, hash: undefined });
    const d = only(r, 'STN_E_FILE_TOO_LARGE');
    expect(d).toMatchObject({ line: 1, col: 1 });
    expect(d.message).toContain(`${MiB + 1} bytes`);
    expect(d.message).toContain('split the workflow');
  });

  it('exactly 1 MiB is still accepted', () => {
    const head = utf8.encode(minimal);
    const padding = utf8.encode(`#${'x'.repeat(MiB - head.length - 2)}\n`);
    const bytes = new Uint8Array([...head, ...padding]);
    expect(bytes.length).toBe(MiB);
    expectValid(validateDefinitionBytes(bytes, 'exact.workflow.yaml'));
  });

  describe('on disk', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-definitions-'));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('a file over 1 MiB is refused quickly', () => {
      const file = path.join(dir, 'big.workflow.yaml');
      fs.writeFileSync(file, `${minimal}#${'x'.repeat(2 * MiB)}\n`);
      const { value: r, ms } = timed(() => validateDefinitionFile(file, 'big.workflow.yaml'));
      expect(ms).toBeLessThan(500);
      expect(only(r, 'STN_E_FILE_TOO_LARGE').message).toContain('1 MiB');
    });

    it('a missing file is STN_E_FILE_READ', () => {
      const r = validateDefinitionFile(path.join(dir, 'absent.workflow.yaml'), 'absent.workflow.yaml');
      expect(r.valid).toBe(false);
      expect(only(r, 'STN_E_FILE_READ').message).toContain('cannot read file');
    });

    it('a valid file on disk validates', () => {
      const file = path.join(dir, 'ok.workflow.yaml');
      fs.writeFileSync(file, minimal);
      expect(expectValid(validateDefinitionFile(file, 'ok.workflow.yaml')).path).toBe('ok.workflow.yaml');
    });
  });
});

describe('encoding', () => {
  it('a Latin-1 byte is STN_E_FILE_ENCODING at its line, asking for UTF-8', () => {
    const before = utf8.encode('id: wf\nversion: "1"\nname: WF\ndescription: Caf');
    const after = utf8.encode('\nstates:\n  - {name: a, type: operation, action: noop, end: true}\n');
    const bytes = new Uint8Array([...before, 0xe9, ...after]); // "Café" in Latin-1
    const r = validateDefinitionBytes(bytes, 'latin1.workflow.yaml');
    expect(r.valid).toBe(false);
    const d = only(r, 'STN_E_FILE_ENCODING');
    expect(d).toMatchObject({ line: 4, col: 17 });
    expect(d.message).toContain('save it as UTF-8');
  });

  it('a truncated multi-byte sequence on a later line is found on that line', () => {
    const bytes = new Uint8Array([...utf8.encode(minimal), ...utf8.encode('# \u00e9 ok\n# '), 0xe2, 0x82, 0x0a]);
    expect(only(validateDefinitionBytes(bytes, 'x.workflow.yaml'), 'STN_E_FILE_ENCODING')).toMatchObject({ line: 7 });
  });

  it('UTF-16 is not UTF-8', () => {
    const bytes = new Uint8Array([0xff, 0xfe, ...Array.from(minimal).flatMap((c) => [c.charCodeAt(0), 0])]);
    expect(only(validateDefinitionBytes(bytes, 'x.workflow.yaml'), 'STN_E_FILE_ENCODING')).toMatchObject({ line: 1 });
  });

  it('UTF-8 with a byte order mark and non-ASCII text is fine, and hashes like the same text without the mark', () => {
    const text = minimal.replace('name: WF', 'name: Café ☕');
    const plain = expectValid(validateDefinitionBytes(utf8.encode(text), 'x.workflow.yaml'));
    const bom = expectValid(validateDefinitionBytes(new Uint8Array([0xef, 0xbb, 0xbf, ...utf8.encode(text)]), 'x.workflow.yaml'));
    expect(plain.spec?.name).toBe('Café ☕');
    expect(bom.hash).toBe(plain.hash);
  });
});

describe('document shape', () => {
  it('two YAML documents in one file are an error at the second document', () => {
    const text = `${minimal}---\nid: other\n`;
    const d = only(expectInvalid(check(text)), 'STN_E_YAML_MULTI_DOC');
    expect(d).toMatchObject({ severity: 'error', line: 6, col: 1 });
  });

  it('a leading --- and a trailing ... around one document are fine', () => {
    expectValid(check(`---\n${minimal}...\n`));
  });

  it.each([
    ['a list', '- id: wf\n- id: other\n'],
    ['a scalar', 'just some text\n'],
    ['a number', '42\n'],
    ['null', '~\n'],
    ['an empty file', ''],
    ['only comments', '# nothing here\n'],
    ['a JSON array', '[{"id": "wf"}]'],
  ])('a file holding %s is told it must hold one mapping', (_what, text) => {
    const r = expectInvalid(check(text));
    expect(r.errors).toEqual([
      expect.objectContaining({
        code: 'STN_E_SCHEMA_TYPE',
        line: 1,
        col: 1,
        message: 'a workflow file must hold one mapping (id, version, name, states, ...)',
      }),
    ]);
  });
});

describe('JSON definitions', () => {
  it('a .workflow.json with a "$schema" key is accepted, and the key is not part of the definition', () => {
    const text = JSON.stringify(
      {
        $schema: '../../schemas/workflow.schema.json',
        id: 'wf',
        version: '1',
        name: 'WF',
        states: [{ name: 'a', type: 'operation', action: 'noop', end: true }],
      },
      null,
      2,
    );
    const r = expectValid(check(text, 'wf.workflow.json'));
    expect(r.spec).not.toHaveProperty('$schema');
    expect(r.spec?.id).toBe('wf');
    expect(r.hash).toBe(expectValid(check(minimal)).hash);
  });

  it('errors in a JSON file have JSON line numbers', () => {
    const text = [
      '{',
      '  "id": "wf",',
      '  "version": "1",',
      '  "name": "WF",',
      '  "states": [',
      '    {"name": "a", "type": "operation", "action": "noop", "next": "b"}',
      '  ]',
      '}',
    ].join('\n');
    const d = only(expectInvalid(check(text, 'wf.workflow.json')), 'STN_E_UNKNOWN_TARGET');
    expect(d).toMatchObject({ line: 6, col: 66 });
  });
});
