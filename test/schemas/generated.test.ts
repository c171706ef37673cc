import fs from 'node:fs';
import path from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { generateWorkflowSchema, schemaText } from '../../scripts/workflow-schema.js';
import { checkSchema } from '../../src/definitions/schema-check.js';
import { validateDefinitionText } from '../../src/definitions/validate.js';
import { ACTION_NAMES } from '../../src/executors/catalog.js';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const root = path.resolve(import.meta.dirname, '..', '..');
const FILE = path.join(root, 'schemas/workflow.schema.json');
const committed = fs.readFileSync(FILE, 'utf8');
const schema = JSON.parse(committed) as Record<string, unknown> & { $defs: Record<string, Record<string, unknown>> };

/** What an editor does with the schema: plain ajv, every rule applied (no Station filtering of the errors). */
function editorValidator(): ValidateFunction {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false, allowUnionTypes: true });
  addFormats(ajv);
  return ajv.compile(schema);
}
const editor = editorValidator();

const workflow = (state: Record<string, unknown>) => ({
  id: 'wf',
  version: '1',
  name: 'WF',
  states: [{ name: 'step', type: 'operation', end: true, ...state }],
});

/** The instance paths of the editor's errors (the `if` wrappers of the dispatch are left out). */
function editorErrors(doc: unknown): string[] {
  if (editor(doc)) return [];
  return (editor.errors ?? []).filter((e) => e.keyword !== 'if').map((e) => `${e.instancePath} ${e.message ?? ''}`);
}

function exampleFiles(dir: string): string[] {
  return fs
    .readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.workflow\.ya?ml$/.test(f))
    .map((f) => path.join(dir, f));
}

describe('schemas/workflow.schema.json, generated from the executor catalog', () => {
  it('is up to date with src/executors/catalog.ts', () => {
    const generated = schemaText(generateWorkflowSchema(schema));
    expect(
      committed === generated,
      'schemas/workflow.schema.json differs from what scripts/gen-schemas.ts generates: run `npm run schemas` and commit it',
    ).toBe(true);
  });

  it('has one input rule per action on operation states and compensations', () => {
    for (const host of ['operationState', 'compensation']) {
      const rules = schema.$defs[host]?.allOf as { if: { properties: { action: { const: string } } } }[];
      expect(rules.map((r) => r.if.properties.action.const)).toEqual(ACTION_NAMES);
    }
    const generated = Object.keys(schema.$defs).filter((k) => k.startsWith('input.'));
    expect(generated).toEqual(ACTION_NAMES.map((n) => `input.${n}`));
  });

  it('rejects a wrong input field type for shell.exec in the editor, and accepts a correct one', () => {
    expect(editorErrors(workflow({ action: 'shell.exec', input: { command: ['echo', 'hi'], timeoutSeconds: 5 } }))).toEqual([]);
    expect(editorErrors(workflow({ action: 'shell.exec', input: { command: 'echo hi' } }))).toContain('/states/0/input/command must be array');
    expect(editorErrors(workflow({ action: 'shell.exec', input: { command: ['x'], timeoutSeconds: 'soon' } }))).toContain(
      '/states/0/input/timeoutSeconds must be integer',
    );
    expect(editorErrors(workflow({ action: 'shell.exec', input: { command: ['x'], cmd: 'y' } }))).toContain(
      '/states/0/input must NOT have additional properties',
    );
    expect(editorErrors(workflow({ action: 'http.request', input: { method: 'GET' } }))).toContain(
      "/states/0/input must have required property 'url'",
    );
  });

  it('checks compensation inputs and nested states too', () => {
    const compensation = { action: 'shell.exec', input: { command: ['undo'], env: { A: 1 } } };
    expect(editorErrors(workflow({ action: 'noop', compensation }))).toContain('/states/0/compensation/input/env/A must be string');
    const nested = {
      name: 'each',
      type: 'foreach',
      itemsPath: 'xs',
      end: true,
      iterator: { states: [{ name: 's', type: 'operation', action: 'signal.wait', input: { name: 1 }, end: true }] },
    };
    expect(editorErrors({ ...workflow({ action: 'noop' }), states: [nested] })).toContain(
      '/states/0/iterator/states/0/input/name must be string',
    );
  });

  it('accepts a {{ }} template wherever a value goes (its value is known at run time)', () => {
    const inputs: [string, unknown][] = [
      ['shell.exec', '{{ input.exec }}'],
      ['shell.exec', { command: '{{ input.argv }}', timeoutSeconds: '{{ vars.timeout }}', env: '{{ input.env }}' }],
      ['shell.exec', { script: 'echo hi', shell: '{{ input.useShell }}' }],
      ['http.request', { url: '{{ vars.baseUrl }}/health', expectStatus: '{{ input.expect }}', method: '{{ input.method }}' }],
      ['sleep', { until: '{{ input.at }}' }],
      ['human.approval', { message: 'ok?', approvers: '{{ vars.approvers }}', requiredApprovals: '{{ input.n }}' }],
    ];
    for (const [action, input] of inputs) expect(editorErrors(workflow({ action, input })), JSON.stringify(input)).toEqual([]);
  });

  it('accepts every example workflow under environments/ and bundles/', () => {
    const files = [...exampleFiles('environments'), ...exampleFiles('bundles')];
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      expect(editorErrors(parse(fs.readFileSync(path.join(root, file), 'utf8'))), file).toEqual([]);
    }
  });

  it('leaves action inputs to the action input check at sync (same codes and messages as before)', () => {
    const doc = workflow({ action: 'shell.exec', input: { command: ['x'], timeoutSeconds: 'soon' } });
    expect(checkSchema(doc)).toEqual([]);
    const result = validateDefinitionText(JSON.stringify(doc), 'wf.workflow.json');
    expect(result.errors.map((e) => e.code)).toEqual(['STN_E_ACTION_INPUT']);
    // A literal-value error elsewhere in the same state is still the schema's.
    const both = workflow({ action: 'shell.exec', input: { command: 'echo' }, retry: { maxAttempts: 0 } });
    expect(checkSchema(both).map((i) => i.pointer)).toEqual(['/states/0/retry/maxAttempts']);
  });
});
