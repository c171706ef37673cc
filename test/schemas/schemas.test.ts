import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import environmentSchema from '../../schemas/environment.schema.json' with { type: 'json' };
import templateSchema from '../../schemas/template.schema.json' with { type: 'json' };
import workflowSchema from '../../schemas/workflow.schema.json' with { type: 'json' };
import { compileSchema } from '../../src/json-schema.js';
import type {
  Branch,
  Compensation,
  CronTrigger,
  ForeachState,
  InjectState,
  OperationState,
  ParallelState,
  RetryPolicy,
  SwitchCondition,
  SwitchState,
  WebhookTrigger,
  WorkflowSpec,
} from '../../src/definitions/types.js';
import { ACTION_CATALOG, ACTION_NAMES, type ActionName, isActionName } from '../../src/executors/catalog.js';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const validateWorkflow = compileSchema(workflowSchema);
const validateEnvironment = compileSchema(environmentSchema);
const validateTemplate = compileSchema(templateSchema);

/** ajv's errors minus the `if` wrappers that the if/then dispatch adds around the real one (callers drop them too). */
function errorsOf(validate: ValidateFunction, doc: unknown): ErrorObject[] {
  if (validate(doc)) return [];
  return (validate.errors ?? []).filter((e) => e.keyword !== 'if');
}

/** Asserts exactly one real error and returns it. */
function oneError(validate: ValidateFunction, doc: unknown): ErrorObject {
  const errors = errorsOf(validate, doc);
  expect(errors.map((e) => `${e.instancePath} ${e.keyword} ${e.message ?? ''}`)).toHaveLength(1);
  return errors[0] as ErrorObject;
}

type SchemaNode = { properties?: Record<string, unknown>; $defs?: Record<string, SchemaNode> };

function propertiesOf(schema: SchemaNode, def?: string): string[] {
  const node = def === undefined ? schema : schema.$defs?.[def];
  return Object.keys(node?.properties ?? {}).sort();
}

const FULL_EXAMPLE = `
id: incident-triage
version: "1.0"
name: Incident Triage
description: Collects diagnostics, asks for approval, remediates.
inputSchema:
  type: object
  required: [service]
  properties:
    service: {type: string}
timeoutSeconds: 7200
triggers:
  - type: cron
    name: nightly
    schedule: "0 3 * * *"
    timezone: Europe/Berlin
    input: {service: api}
    enabled: true
    catchUp: latest
    concurrency: forbid
  - type: webhook
    name: alertmanager
    secretEnv: ALERTMANAGER_HOOK_SECRET
    dedupeHeader: X-Delivery
    input: "{{ body }}"
    enabled: false
start: defaults
states:
  - name: defaults
    type: inject
    description: Seed the context.
    data: {namespace: prod, hosts: [a, b]}
    next: diagnostics
  - name: diagnostics
    type: parallel
    join: {mode: all}
    resultPath: steps.diag
    branches:
      - name: pods
        states:
          - name: list
            type: operation
            action: shell.exec
            input: {command: [kubectl, get, pods, -n, "{{ namespace }}"]}
            end: true
      - name: metrics
        start: query
        states:
          - name: query
            type: operation
            action: http.request
            input: {method: GET, url: "https://prom.example/api/v1/query", query: {query: up}}
            timeoutSeconds: 10
            end: true
    next: approve
  - name: approve
    type: operation
    action: human.approval
    input: {message: "Restart {{ input.service }}?", approvers: [group:sre], timeoutSeconds: 3600}
    next: decide
  - name: decide
    type: switch
    dataPath: steps.approve
    conditions:
      - {if: "approved == true", next: restart}
    defaultNext: done
  - name: restart
    type: foreach
    itemsPath: hosts
    itemName: host
    maxConcurrency: 2
    resultPath: steps.restarts
    iterator:
      start: drain
      states:
        - name: drain
          type: operation
          action: shell.exec
          input: {command: [drain, "{{ host }}"], env: {INDEX: "{{ index }}"}}
          retry: {maxAttempts: 3, backoffSeconds: 5, backoff: exponential, maxBackoffSeconds: 60}
          resultPath: steps.drain
          onError: drain-failed
          compensation:
            action: shell.exec
            input: {command: [uncordon, "{{ host }}"]}
            retry: {maxAttempts: 5}
            timeoutSeconds: 30
          next: announce
        - name: drain-failed
          type: operation
          action: fail
          input: {message: "drain failed: {{ error.message }}"}
          end: true
        - name: announce
          type: operation
          action: slack.post
          input: {text: "restarted {{ host }}", thread: run}
          end: true
    next: done
  - name: done
    type: operation
    action: noop
    end: true
output: "{{ steps.restarts }}"
`;

const minimal = (states: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'wf',
  version: '1',
  name: 'WF',
  states,
  ...extra,
});

const op = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'step',
  type: 'operation',
  action: 'noop',
  end: true,
  ...extra,
});

describe('schemas compile', () => {
  it.each([
    ['workflow', workflowSchema],
    ['environment', environmentSchema],
    ['template', templateSchema],
  ])('%s schema compiles with the shared ajv instance', (_name, schema) => {
    expect(() => compileSchema(schema)).not.toThrow();
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.$id).toMatch(/^https:\/\/station\.dev\/schemas\/[a-z]+\.schema\.json$/);
  });

  it('every schema also compiles under ajv strict mode (no unknown or misplaced keywords)', () => {
    const strict = new Ajv2020({ strict: true, strictTypes: false, strictRequired: false, allowUnionTypes: true });
    addFormats(strict);
    for (const schema of [workflowSchema, environmentSchema, templateSchema]) {
      expect(() => strict.compile(schema)).not.toThrow();
    }
    for (const name of ACTION_NAMES) {
      expect(() => strict.compile(ACTION_CATALOG[name].inputSchema), name).not.toThrow();
    }
  });
});

describe('workflow schema', () => {
  it('lists exactly the executor catalog in its action enum (one source of truth)', () => {
    expect(workflowSchema.$defs.action.enum).toEqual(ACTION_NAMES);
    expect(isActionName('shell.exec')).toBe(true);
    expect(isActionName('toString')).toBe(false);
  });

  it('describes exactly the fields of the normalized TypeScript types', () => {
    const workflow: Record<keyof WorkflowSpec, true> = {
      id: true, version: true, name: true, description: true, inputSchema: true, timeoutSeconds: true,
      triggers: true, start: true, states: true, output: true, outputSchema: true, compat: true,
    };
    const base = { name: true, type: true, description: true, next: true, end: true } as const;
    const operation: Record<keyof OperationState, true> = {
      ...base, action: true, input: true, timeoutSeconds: true, retry: true, resultPath: true, onError: true,
      compensation: true, output: true,
    };
    const switchState: Record<keyof SwitchState, true> = {
      name: true, type: true, description: true, dataPath: true, conditions: true, defaultNext: true,
    };
    const parallel: Record<keyof ParallelState, true> = { ...base, branches: true, join: true, resultPath: true, outputAggregation: true };
    const inject: Record<keyof InjectState, true> = { ...base, data: true, resultPath: true };
    const foreach: Record<keyof ForeachState, true> = {
      ...base, itemsPath: true, itemName: true, maxConcurrency: true, iterator: true, resultPath: true, outputAggregation: true,
    };
    const retry: Record<keyof RetryPolicy, true> = {
      maxAttempts: true, backoffSeconds: true, backoff: true, maxBackoffSeconds: true,
    };
    const compensation: Record<keyof Compensation, true> = {
      action: true, input: true, retry: true, timeoutSeconds: true,
    };
    const condition: Record<keyof SwitchCondition, true> = { if: true, next: true };
    const branch: Record<keyof Branch, true> = { name: true, start: true, states: true };
    const iterator: Record<keyof ForeachState['iterator'], true> = { start: true, states: true };
    const join: Record<keyof NonNullable<ParallelState['join']>, true> = { mode: true };
    const cron: Record<keyof CronTrigger, true> = {
      type: true, name: true, schedule: true, timezone: true, input: true, enabled: true, catchUp: true,
      concurrency: true,
    };
    const webhook: Record<keyof WebhookTrigger, true> = {
      type: true, name: true, secretEnv: true, previousSecretEnv: true, requireTimestamp: true, dedupeHeader: true,
      requireDeliveryId: true, input: true, enabled: true,
    };
    const keys = (o: object): string[] => Object.keys(o).sort();
    const schema = workflowSchema as SchemaNode;
    expect(propertiesOf(schema)).toEqual(keys(workflow));
    expect(propertiesOf(schema, 'operationState')).toEqual(keys(operation));
    expect(propertiesOf(schema, 'switchState')).toEqual(keys(switchState));
    expect(propertiesOf(schema, 'parallelState')).toEqual(keys(parallel));
    expect(propertiesOf(schema, 'injectState')).toEqual(keys(inject));
    expect(propertiesOf(schema, 'foreachState')).toEqual(keys(foreach));
    expect(propertiesOf(schema, 'retry')).toEqual(keys(retry));
    expect(propertiesOf(schema, 'compensation')).toEqual(keys(compensation));
    expect(propertiesOf(schema, 'switchCondition')).toEqual(keys(condition));
    expect(propertiesOf(schema, 'branch')).toEqual(keys(branch));
    expect(propertiesOf(schema, 'iterator')).toEqual(keys(iterator));
    expect(Object.keys(workflowSchema.$defs.parallelState.properties.join.properties).sort()).toEqual(keys(join));
    expect(propertiesOf(schema, 'cronTrigger')).toEqual(keys(cron));
    expect(propertiesOf(schema, 'webhookTrigger')).toEqual(keys(webhook));
  });

  it('accepts a full definition with all five state types, both triggers, retry, compensation and onError', () => {
    const doc: unknown = parse(FULL_EXAMPLE);
    expect(errorsOf(validateWorkflow, doc)).toEqual([]);
  });

  it('accepts a minimal definition', () => {
    expect(errorsOf(validateWorkflow, minimal([op()]))).toEqual([]);
  });

  it('names the unknown key on an operation state, once', () => {
    const e = oneError(validateWorkflow, minimal([op({ retries: 3 })]));
    expect(e).toMatchObject({
      keyword: 'additionalProperties',
      instancePath: '/states/0',
      params: { additionalProperty: 'retries' },
    });
    // The error's schema lists the fields that are allowed, for "did you mean" hints.
    expect(Object.keys((e.parentSchema as SchemaNode).properties ?? {})).toContain('retry');
  });

  it('reports a missing action once', () => {
    const { action: _action, ...noAction } = op();
    const e = oneError(validateWorkflow, minimal([noAction]));
    expect(e).toMatchObject({ keyword: 'required', instancePath: '/states/0', params: { missingProperty: 'action' } });
  });

  it('reports an unknown action as one enum error listing the catalog', () => {
    const e = oneError(validateWorkflow, minimal([op({ action: 'shell.exe' })]));
    expect(e).toMatchObject({ keyword: 'enum', instancePath: '/states/0/action' });
    expect((e.params as { allowedValues: unknown[] }).allowedValues).toEqual(ACTION_NAMES);
  });

  it('reports an unknown state type once, without trying every state shape', () => {
    const e = oneError(validateWorkflow, minimal([{ name: 'x', type: 'operatoin', action: 'noop', end: true }]));
    expect(e).toMatchObject({ keyword: 'enum', instancePath: '/states/0/type' });
  });

  it('reports a state that is not a mapping once', () => {
    const e = oneError(validateWorkflow, minimal(['just-a-string']));
    expect(e).toMatchObject({ keyword: 'type', instancePath: '/states/0' });
  });

  it('refuses next/end on a switch, naming the key', () => {
    const sw = { name: 's', type: 'switch', conditions: [{ if: 'true', next: 'step' }], next: 'step' };
    const e = oneError(validateWorkflow, minimal([sw, op()]));
    expect(e).toMatchObject({ keyword: 'additionalProperties', params: { additionalProperty: 'next' } });
  });

  it('leaves next/end consistency (neither, or both) to the semantic checks, which word it better', () => {
    const { end: _end, ...open } = op();
    expect(errorsOf(validateWorkflow, minimal([open]))).toEqual([]);
    expect(errorsOf(validateWorkflow, minimal([op({ next: 'other' }), op({ name: 'other' })]))).toEqual([]);
    expect(oneError(validateWorkflow, minimal([op({ end: 'yes' })]))).toMatchObject({
      keyword: 'type',
      instancePath: '/states/0/end',
    });
  });

  it('validates nested states recursively, with one error at the nested path', () => {
    const par = {
      name: 'p',
      type: 'parallel',
      branches: [{ name: 'b', states: [op({ timeout: 3 })] }],
      end: true,
    };
    const e = oneError(validateWorkflow, minimal([par]));
    expect(e).toMatchObject({
      keyword: 'additionalProperties',
      instancePath: '/states/0/branches/0/states/0',
      params: { additionalProperty: 'timeout' },
    });
    const each = {
      name: 'f',
      type: 'foreach',
      itemsPath: 'xs',
      iterator: { states: [op({ action: 'nope' })] },
      end: true,
    };
    expect(oneError(validateWorkflow, minimal([each]))).toMatchObject({
      keyword: 'enum',
      instancePath: '/states/0/iterator/states/0/action',
    });
  });

  it('checks retry and compensation', () => {
    expect(oneError(validateWorkflow, minimal([op({ retry: { maxAttempts: 0 } })]))).toMatchObject({
      keyword: 'minimum',
      instancePath: '/states/0/retry/maxAttempts',
    });
    expect(oneError(validateWorkflow, minimal([op({ retry: { backoff: 'linear' } })]))).toMatchObject({
      keyword: 'enum',
      instancePath: '/states/0/retry/backoff',
    });
    expect(oneError(validateWorkflow, minimal([op({ compensation: { input: {} } })]))).toMatchObject({
      keyword: 'required',
      params: { missingProperty: 'action' },
    });
  });

  it('dispatches triggers by type with one precise error', () => {
    const badEnum = oneError(
      validateWorkflow,
      minimal([op()], { triggers: [{ type: 'cron', name: 'n', schedule: '* * * * *', catchUp: 'some' }] }),
    );
    expect(badEnum).toMatchObject({ keyword: 'enum', instancePath: '/triggers/0/catchUp' });
    const wrongKey = oneError(
      validateWorkflow,
      minimal([op()], { triggers: [{ type: 'webhook', name: 'hook', schedule: '* * * * *' }] }),
    );
    expect(wrongKey).toMatchObject({ keyword: 'additionalProperties', params: { additionalProperty: 'schedule' } });
    const badName = oneError(validateWorkflow, minimal([op()], { triggers: [{ type: 'webhook', name: 'Hook!' }] }));
    expect(badName).toMatchObject({ keyword: 'pattern', instancePath: '/triggers/0/name' });
    const badType = oneError(validateWorkflow, minimal([op()], { triggers: [{ type: 'manual', name: 'm' }] }));
    expect(badType).toMatchObject({ keyword: 'enum', instancePath: '/triggers/0/type' });
  });

  it('checks the top level', () => {
    expect(oneError(validateWorkflow, minimal([op()], { id: 'Bad Id' }))).toMatchObject({
      keyword: 'pattern',
      instancePath: '/id',
    });
    expect(oneError(validateWorkflow, minimal([op()], { version: 1.0 }))).toMatchObject({
      keyword: 'type',
      instancePath: '/version',
    });
    expect(oneError(validateWorkflow, minimal([]))).toMatchObject({ keyword: 'minItems', instancePath: '/states' });
    expect(oneError(validateWorkflow, minimal([op()], { transitions: [] }))).toMatchObject({
      keyword: 'additionalProperties',
      instancePath: '',
      params: { additionalProperty: 'transitions' },
    });
  });

  it('does not look inside data, output, inputSchema or trigger input (noop takes any input object)', () => {
    const doc = minimal(
      [
        op({ name: 'a', input: { anything: { goes: [1, 'x'] } }, end: undefined, next: 'b' }),
        { name: 'b', type: 'inject', data: { free: { form: true } }, end: true },
      ],
      {
        inputSchema: { type: 'object', 'x-extension': 1 },
        output: { whatever: ['{{ ctx }}'] },
        triggers: [{ type: 'cron', name: 'c', schedule: '* * * * *', input: { free: 1 } }],
      },
    );
    expect(errorsOf(validateWorkflow, JSON.parse(JSON.stringify(doc)))).toEqual([]);
  });
});

describe('environment schema', () => {
  it('accepts vars and bundles', () => {
    const env = {
      description: 'Production',
      vars: { region: 'eu-west-1', replicas: 3, tags: ['a'] },
      bundles: [{ name: 'sre-playbooks', version: '1.2.0', vars: { slackChannel: '#ops' } }, { name: 'other' }],
    };
    expect(errorsOf(validateEnvironment, env)).toEqual([]);
    expect(errorsOf(validateEnvironment, {})).toEqual([]);
  });

  it('refuses unknown keys and bad bundle names', () => {
    expect(oneError(validateEnvironment, { variables: {} })).toMatchObject({
      keyword: 'additionalProperties',
      params: { additionalProperty: 'variables' },
    });
    expect(oneError(validateEnvironment, { bundles: [{ name: 'x', vesion: '1' }] })).toMatchObject({
      keyword: 'additionalProperties',
      instancePath: '/bundles/0',
      params: { additionalProperty: 'vesion' },
    });
    expect(oneError(validateEnvironment, { bundles: [{ name: '../evil' }] })).toMatchObject({
      keyword: 'pattern',
      instancePath: '/bundles/0/name',
    });
    expect(oneError(validateEnvironment, { bundles: [{ version: '1' }] })).toMatchObject({ keyword: 'required' });
  });
});

describe('template schema', () => {
  const manifest = {
    name: 'sre-playbooks',
    version: '1.2.0',
    description: 'Playbooks for SREs',
    author: 'Platform team',
    license: 'Apache-2.0',
    station: '>=0.1.0 <1.0.0',
    variables: {
      slackChannel: { type: 'string', description: 'Where to post', default: '#ops', required: false },
      replicas: { type: 'integer', default: 3 },
      PAGER_TOKEN: { type: 'string', secret: true, required: true, default: 'PAGERDUTY_TOKEN' },
    },
    workflows: ['workflows/restart.workflow.yaml'],
    files: [{ path: 'workflows/restart.workflow.yaml', sha256: 'a'.repeat(64) }],
  };

  it('accepts a full manifest', () => {
    expect(errorsOf(validateTemplate, manifest)).toEqual([]);
    expect(errorsOf(validateTemplate, { ...manifest, version: '2.0.0-rc.1+build.5' })).toEqual([]);
  });

  it('refuses bad names, versions, variables and paths', () => {
    expect(oneError(validateTemplate, { ...manifest, version: '1.2' })).toMatchObject({
      keyword: 'pattern',
      instancePath: '/version',
    });
    expect(oneError(validateTemplate, { ...manifest, variables: { 'bad-name': { type: 'string' } } })).toMatchObject({
      keyword: 'additionalProperties',
      instancePath: '/variables',
      params: { additionalProperty: 'bad-name' },
    });
    expect(oneError(validateTemplate, { ...manifest, variables: { x: { type: 'date' } } })).toMatchObject({
      keyword: 'enum',
      instancePath: '/variables/x/type',
    });
    const secretNumber = { ...manifest, variables: { x: { type: 'number', secret: true } } };
    expect(oneError(validateTemplate, secretNumber)).toMatchObject({
      keyword: 'const',
      instancePath: '/variables/x/type',
    });
    const wrongDefault = { ...manifest, variables: { x: { type: 'integer', default: 'three' } } };
    expect(oneError(validateTemplate, wrongDefault)).toMatchObject({
      keyword: 'type',
      instancePath: '/variables/x/default',
    });
    for (const path of ['../escape.yaml', '/etc/passwd', 'a/../../b', 'C:/x', '..\\x']) {
      expect(oneError(validateTemplate, { ...manifest, workflows: [path] }), path).toMatchObject({
        keyword: 'pattern',
        instancePath: '/workflows/0',
      });
    }
    expect(errorsOf(validateTemplate, { ...manifest, workflows: ['workflows/a..b.workflow.yaml'] })).toEqual([]);
    expect(oneError(validateTemplate, { ...manifest, files: [{ path: 'a', sha256: 'XYZ' }] })).toMatchObject({
      keyword: 'pattern',
      instancePath: '/files/0/sha256',
    });
    expect(oneError(validateTemplate, { ...manifest, author2: 'x' })).toMatchObject({
      keyword: 'additionalProperties',
    });
  });
});

describe('action input schemas', () => {
  const cases: Record<ActionName, { good: unknown[]; bad: unknown[] }> = {
    noop: { good: [{}, { any: ['thing'] }], bad: ['text', [1]] },
    fail: { good: [{}, { message: 'boom', code: 'E_TEST' }], bad: [{ message: 1 }, { reason: 'x' }] },
    sleep: {
      good: [{ seconds: 0 }, { seconds: 1.5 }, { until: '2030-01-01T00:00:00Z' }],
      bad: [{}, { seconds: -1 }, { seconds: 1, until: '2030-01-01T00:00:00Z' }, { until: 'tomorrow' }, { minutes: 1 }],
    },
    'shell.exec': {
      good: [
        { command: ['echo', 'hi'] },
        { command: ['env'], shell: false, cwd: '/tmp', env: { A: '1' }, stdin: 'x', timeoutSeconds: 5 },
        { script: 'echo hi | wc -c', shell: true },
      ],
      bad: [
        {},
        { command: [] },
        { command: 'echo hi' },
        { command: ['sh'], script: 'echo', shell: true },
        { script: 'echo hi' },
        { script: 'echo hi', shell: false },
        { command: ['echo'], shell: true },
        { command: ['env'], env: { A: 1 } },
        { command: ['env'], env: { 'NOT VALID': 'x' } },
        { command: ['x'], timeoutSeconds: 0 },
      ],
    },
    'http.request': {
      good: [
        { url: 'https://example.com/x' },
        {
          method: 'POST',
          url: 'http://localhost:8080/hook',
          headers: { 'X-Token': 'abc' },
          query: { a: 1, b: ['x', 'y'], c: true },
          json: { hello: 'world' },
          timeoutSeconds: 10,
          expectStatus: [200, 201],
        },
        { method: 'PUT', url: 'https://example.com', body: 'raw', expectStatus: 204 },
      ],
      bad: [
        {},
        { url: 'ftp://example.com' },
        { url: 'https://example.com', method: 'FETCH' },
        { url: 'https://example.com', json: {}, body: 'x' },
        { url: 'https://example.com', headers: { A: 1 } },
        { url: 'https://example.com', expectStatus: 99 },
        { url: 'https://example.com', expectStatus: [] },
        { url: 'https://example.com', data: {} },
      ],
    },
    'signal.wait': {
      good: [{ name: 'deployed' }, { name: 'go', timeoutSeconds: 60 }],
      bad: [{}, { name: '' }, { name: 'x', timeout: 5 }],
    },
    'workflow.run': {
      good: [{ workflow: 'child' }, { workflow: 'child', input: { a: 1 }, wait: true, environment: 'prod' }],
      bad: [{}, { workflow: 'Child Flow' }, { workflow: 'child', wait: 'yes' }],
    },
    'human.approval': {
      good: [
        { message: 'Proceed?' },
        {
          message: 'Restart?',
          summaryPath: 'steps.diag',
          approvers: ['U123', 'a@b.c', 'group:sre'],
          requiredApprovals: 2,
          allowSelfApproval: false,
          timeoutSeconds: 3600,
          onTimeout: 'fail',
          channel: '#ops',
        },
      ],
      bad: [
        {},
        { message: 'x', requiredApprovals: 0 },
        { message: 'x', onTimeout: 'ignore' },
        { message: 'x', approvers: 'U123' },
        { message: 'x', prompt: 'y' },
      ],
    },
    'slack.post': {
      good: [{ text: 'hi' }, { channel: '#ops', blocks: [{ type: 'section' }], thread: 'run' }],
      bad: [{}, { channel: '#ops' }, { text: 'hi', thread: 'new' }, { text: 'hi', blocks: 'x' }],
    },
    'agent.run': {
      good: [{ agent: 'triage' }, { agent: 'triage.v2', task: 'Summarize', variables: { a: 1 } }],
      bad: [{}, { agent: '../secrets' }, { agent: 'x', variables: [] }, { agent: 'x', prompt: 'y' }],
    },
  };

  it('covers every action of the catalog', () => {
    expect(Object.keys(cases).sort()).toEqual([...ACTION_NAMES].sort());
    for (const name of ACTION_NAMES) expect(ACTION_CATALOG[name].description.length).toBeGreaterThan(0);
  });

  describe.each(ACTION_NAMES)('%s', (name) => {
    const validate = compileSchema(ACTION_CATALOG[name].inputSchema);
    it('accepts good inputs', () => {
      for (const input of cases[name].good) expect(errorsOf(validate, input), JSON.stringify(input)).toEqual([]);
    });
    it('rejects bad inputs', () => {
      for (const input of cases[name].bad) expect(validate(input), JSON.stringify(input)).toBe(false);
    });
    it('agrees with the input rule of the workflow schema (what editors check)', () => {
      const doc = (input: unknown) => minimal([op({ action: name, input })]);
      for (const input of cases[name].good) expect(errorsOf(validateWorkflow, doc(input)), JSON.stringify(input)).toEqual([]);
      for (const input of cases[name].bad) expect(validateWorkflow(doc(input)), JSON.stringify(input)).toBe(false);
    });
  });
});
