import { describe, expect, it } from 'vitest';
import workflowSchema from '../../schemas/workflow.schema.json' with { type: 'json' };
import type { TransformState, WorkflowSpec } from '../../src/definitions/types.js';
import { compileSchema } from '../../src/json-schema.js';

// The schema additions for Station's dialect: transform states, outputSchema, compat, outputAggregation and
// operation output mappings, as editors see them.

const validate = compileSchema(workflowSchema);
const wf = (states: unknown[], extra: Record<string, unknown> = {}) => ({ id: 'wf', version: '1', name: 'WF', states, ...extra });
const errors = (doc: unknown) => (validate(doc) ? [] : (validate.errors ?? []).filter((e) => e.keyword !== 'if'));

describe('workflow schema: Station dialect additions', () => {
  it('a transform state has exactly the fields of TransformState', () => {
    const fields: Record<keyof TransformState, true> = { name: true, type: true, description: true, next: true, end: true, expression: true, resultPath: true };
    const def = (workflowSchema.$defs as Record<string, { properties?: object }>).transformState;
    expect(Object.keys(def?.properties ?? {}).sort()).toEqual(Object.keys(fields).sort());
    expect(errors(wf([{ name: 't', type: 'transform', expression: '{"a": 1}', resultPath: 'steps.t', end: true }]))).toEqual([]);
    expect(errors(wf([{ name: 't', type: 'transform', end: true }]))).toMatchObject([{ keyword: 'required', params: { missingProperty: 'expression' } }]);
    expect(errors(wf([{ name: 't', type: 'transform', expression: 'x', input: {}, end: true }]))).toMatchObject([
      { keyword: 'additionalProperties', params: { additionalProperty: 'input' } },
    ]);
  });

  it('outputSchema is an object, compat is only "station"', () => {
    const op = { name: 'a', type: 'operation', action: 'noop', end: true };
    const extra: Partial<WorkflowSpec> = { outputSchema: { type: 'object' }, compat: 'station' };
    expect(errors(wf([op], extra))).toEqual([]);
    expect(errors(wf([op], { outputSchema: 'object' }))).toMatchObject([{ instancePath: '/outputSchema', keyword: 'type' }]);
    expect(errors(wf([op], { compat: 'go' }))).toMatchObject([{ instancePath: '/compat', keyword: 'enum' }]);
  });

  it('outputAggregation: merge, array or first on parallel; array on foreach', () => {
    const branch = { name: 'b', states: [{ name: 'x', type: 'operation', action: 'noop', resultPath: '$', end: true }] };
    for (const agg of ['merge', 'array', 'first']) {
      expect(errors(wf([{ name: 'p', type: 'parallel', branches: [branch], outputAggregation: agg, end: true }]))).toEqual([]);
    }
    expect(errors(wf([{ name: 'p', type: 'parallel', branches: [branch], outputAggregation: 'last', end: true }]))).toMatchObject([
      { keyword: 'enum' },
    ]);
    const each = { name: 'f', type: 'foreach', itemsPath: 'xs', iterator: { states: branch.states }, end: true };
    expect(errors(wf([{ ...each, outputAggregation: 'array' }]))).toEqual([]);
    expect(errors(wf([{ ...each, outputAggregation: 'merge' }]))).toMatchObject([{ keyword: 'enum' }]);
  });

  it('operation output mappings are strings', () => {
    const op = (output: unknown) => wf([{ name: 'a', type: 'operation', action: 'noop', output, end: true }]);
    expect(errors(op({ summary: 'result.summary', all: '' }))).toEqual([]);
    expect(errors(op({ n: 1 }))).toMatchObject([{ instancePath: '/states/0/output/n', keyword: 'type' }]);
  });
});
