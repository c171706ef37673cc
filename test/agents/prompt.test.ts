import { describe, expect, it } from 'vitest';
import { formatDiagnostic, parseAgentFile, renderAgent, validateAgentInput } from '../../src/agents/prompt.js';
import type { AgentSpec } from '../../src/agents/types.js';

async function spec(text: string, name = 'triage'): Promise<AgentSpec> {
  const r = await parseAgentFile(text, `environments/default/agents/${name}.prompt`, name);
  if (!r.ok) throw new Error(r.errors.map((e) => formatDiagnostic('x', e)).join('\n'));
  return r.spec;
}

/** The errors of a file that must not parse, as `file:line:col: message` lines. */
async function errors(text: string): Promise<string[]> {
  const r = await parseAgentFile(text, 'a.prompt', 'a');
  if (r.ok) throw new Error('parsed, but should not have');
  return r.errors.map((e) => `${formatDiagnostic('a.prompt', e)} [${e.code}]`);
}

const TRIAGE = `---
model: fixture/triage
config:
  temperature: 0.2
input:
  schema:
    service: string, the failing service
    severity?(enum): [low, high]
  default:
    severity: low
output:
  schema:
    summary: string, one line
    priority: integer
    tags(array): string
tools:
  - ops/*
  - ops/restart
max_steps: 6
metadata:
  owner: sre
---
{{role "system"}}
You triage incidents of {{service}} ({{severity}}).
{{role "user"}}
{{userInput}}
`;

describe('parseAgentFile', () => {
  it('reads every frontmatter key into the spec, Picoschema expanded to JSON Schema', async () => {
    const s = await spec(TRIAGE);
    expect(s).toMatchObject({
      name: 'triage',
      model: 'fixture/triage',
      config: { temperature: 0.2 },
      outputFormat: 'json',
      tools: ['ops/*', 'ops/restart'],
      maxSteps: 6,
      metadata: { owner: 'sre' },
    });
    expect(s.inputSchema).toEqual({
      type: 'object',
      properties: {
        service: { type: 'string', description: 'the failing service' },
        severity: { enum: ['low', 'high', null], default: 'low' },
      },
      required: ['service'],
      additionalProperties: false,
    });
    expect(s.outputSchema).toMatchObject({
      type: 'object',
      required: ['summary', 'priority', 'tags'],
      properties: { summary: { type: 'string', description: 'one line' }, priority: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } } },
    });
    expect(s.template.startsWith('{{role "system"}}')).toBe(true);
  });

  it('gives the defaults to a file with only a body, and keeps JSON Schema as written', async () => {
    expect(await spec('Summarize: {{userInput}}')).toEqual({
      name: 'triage',
      model: undefined,
      config: {},
      inputSchema: undefined,
      outputSchema: undefined,
      outputFormat: 'text',
      tools: [],
      maxSteps: 25,
      metadata: {},
      template: 'Summarize: {{userInput}}',
    });
    const s = await spec('---\noutput:\n  format: json\n  schema:\n    type: object\n    properties:\n      a: {type: number}\n---\nhi');
    expect(s.outputSchema).toEqual({ type: 'object', properties: { a: { type: 'number' } } });
    expect((await spec('---\noutput:\n  format: json\n---\nhi')).outputFormat).toBe('json');
  });

  it("accepts the keys of Station's own agent files (name, description, metadata, app) and dotprompt extension keys", async () => {
    const s = await spec('---\nname: "Billing"\ndescription: d\nmodel: gpt-4o-mini\napp: finops\napp_type: events\nmyorg.team: sre\n---\nhi');
    expect(s.model).toBe('gpt-4o-mini');
  });

  it('refuses bad frontmatter with file:line:col and a code, instead of rendering the file as the prompt', async () => {
    expect(await errors('---\nmodel: a\nmodel: b\n---\nhi')).toEqual([
      expect.stringMatching(/^a\.prompt:3:1: .*unique.* \[STN_E_YAML_DUPLICATE_KEY\]$/),
    ]);
    expect(await errors('---\nmodel: [a\n---\nhi')).toEqual([expect.stringMatching(/^a\.prompt:\d+:\d+: .* \[STN_E_YAML_SYNTAX\]$/)]);
    expect(await errors('---\nmodel: x\nhello')).toEqual([expect.stringMatching(/^a\.prompt:1:1: the frontmatter opened by "---" on line 1 is never closed.* \[STN_E_AGENT_FRONTMATTER\]$/)]);
    expect(await errors('---\n- a\n---\nhi')).toEqual(['a.prompt:2:1: the frontmatter must be a YAML mapping (model: ..., tools: [...]) [STN_E_AGENT_FRONTMATTER]']);
  });

  it('refuses unknown keys and wrong values at their line', async () => {
    const found = await errors('---\nmodel: x\ntemperature: 1\noutput.format: json\ninput:\n  shema: {}\nmax_steps: 0\ntools: ops/x\noutput:\n  format: yaml\n---\nhi');
    expect(found).toEqual([
      expect.stringMatching(/^a\.prompt:3:1: unknown frontmatter key "temperature".* \[STN_E_SCHEMA_UNKNOWN_FIELD\]$/),
      expect.stringMatching(/^a\.prompt:4:1: unknown frontmatter key "output.format": nest it .* \[STN_E_SCHEMA_UNKNOWN_FIELD\]$/),
      expect.stringMatching(/^a\.prompt:6:3: unknown key "input.shema".* \[STN_E_SCHEMA_UNKNOWN_FIELD\]$/),
      expect.stringMatching(/^a\.prompt:10:11: output.format must be json or text.* \[STN_E_SCHEMA_VALUE\]$/),
      expect.stringMatching(/^a\.prompt:8:8: tools must be a list.* \[STN_E_SCHEMA_TYPE\]$/),
      'a.prompt:7:12: max_steps must be an integer from 1 to 1000, got 0 [STN_E_SCHEMA_VALUE]',
    ]);
  });

  it('refuses Picoschema that does not expand and schemas ajv cannot compile', async () => {
    expect(await errors('---\ninput:\n  schema:\n    a: strnig\n---\nhi')).toEqual([
      "a.prompt:4:5: input.schema: Picoschema: unsupported scalar type 'strnig'. [STN_E_AGENT_SCHEMA]",
    ]);
    expect(await errors('---\noutput:\n  schema:\n    type: object\n    properties: {a: {type: 12}}\n---\nhi')).toEqual([
      expect.stringMatching(/^a\.prompt:4:5: output.schema is not a valid JSON Schema: .* \[STN_E_AGENT_SCHEMA\]$/),
    ]);
    expect(await errors('---\ninput:\n  schema: string\n---\nhi')).toEqual([
      'a.prompt:3:11: input.schema must describe a mapping of variables (type object), not "string" [STN_E_AGENT_SCHEMA]',
    ]);
    expect(await errors('---\ninput:\n  default: {a: 1}\n---\nhi')).toEqual([
      'a.prompt:3:3: input.default needs an input.schema declaring those variables [STN_E_SCHEMA_VALUE]',
    ]);
  });

  it('places body errors on the line of the file: syntax, unknown helpers, partials, roles, an empty body', async () => {
    expect(await errors('---\nmodel: x\n---\nline one\n  {{nope service}}\n')).toEqual([
      'a.prompt:5:3: template: You specified knownHelpersOnly, but used the unknown helper nope [STN_E_AGENT_TEMPLATE]',
    ]);
    expect(await errors('---\nmodel: x\n---\n{{#if a}}\nopen\n')).toEqual([expect.stringMatching(/^a\.prompt:\d+:1: template: Parse error: .*EOF.* \[STN_E_AGENT_TEMPLATE\]$/)]);
    expect(await errors('hi {{> footer}}')).toEqual([expect.stringMatching(/^a\.prompt:1:1: template: The partial footer could not be found \[STN_E_AGENT_TEMPLATE\]$/)]);
    expect(await errors('---\nmodel: x\n---\n{{role "system"}}\nx\n  {{role "robot"}}\ny')).toEqual([
      'a.prompt:6:3: unknown role "robot": use {{role "system"}}, {{role "user"}} or {{role "model"}} [STN_E_AGENT_TEMPLATE]',
    ]);
    expect(await errors('---\nmodel: x\n---\n\n')).toEqual(['a.prompt:4:1: the prompt body (after the frontmatter) is empty [STN_E_AGENT_TEMPLATE]']);
  });

  it('refuses an agent name that a workflow could not name', async () => {
    const r = await parseAgentFile('hi', 'agents/my agent.prompt', 'my agent');
    expect(r.ok).toBe(false);
  });
});

describe('renderAgent', () => {
  it('renders roles, variables (defaults applied) and the task as userInput', async () => {
    const messages = await renderAgent(await spec(TRIAGE), { variables: { service: 'db' }, task: 'disk full on db-1' });
    expect(messages).toEqual([
      { role: 'system', content: 'You triage incidents of db (low).' },
      { role: 'user', content: 'disk full on db-1' },
    ]);
  });

  it('appends the task as the user message when the body has none; model turns become assistant messages', async () => {
    expect(await renderAgent(await spec('{{role "system"}}\nBe brief about {{topic}}.'), { variables: { topic: 'dns' }, task: 'why?' })).toEqual([
      { role: 'system', content: 'Be brief about dns.' },
      { role: 'user', content: 'why?' },
    ]);
    const fewShot = await spec('{{role "system"}}\nS\n{{role "user"}}\nQ1\n{{role "model"}}\nA1\n{{role "user"}}\n{{userInput}}');
    expect(await renderAgent(fewShot, { variables: {}, task: 'Q2' })).toEqual([
      { role: 'system', content: 'S' },
      { role: 'user', content: 'Q1' },
      { role: 'assistant', content: 'A1' },
      { role: 'user', content: 'Q2' },
    ]);
  });

  it('renders the json helper and does not HTML-escape values', async () => {
    const s = await spec('Data: {{json data}} <{{text}}>');
    expect(await renderAgent(s, { variables: { data: { a: [1, 2] }, text: 'a&b' }, task: '' })).toEqual([{ role: 'user', content: 'Data: {"a":[1,2]} <a&b>' }]);
  });
});

describe('validateAgentInput', () => {
  it('checks variables against the input schema, with defaults applied', async () => {
    const s = await spec(TRIAGE);
    expect(validateAgentInput(s, { service: 'db' })).toEqual([]);
    expect(validateAgentInput(s, {})).toEqual(['/: must have required property \'service\' (service)']);
    expect(validateAgentInput(s, { service: 'db', severity: 'urgent', extra: 1 })).toEqual([
      '/: must NOT have additional properties (extra)',
      '/severity: must be equal to one of the allowed values',
    ]);
    expect(validateAgentInput(await spec('hi'), { anything: 1 })).toEqual([]);
  });

  it('compiles schemas with an $id again and again (a file parsed at every sync)', async () => {
    const text = '---\ninput:\n  schema:\n    $id: https://example.invalid/in\n    type: object\n    properties: {a: {type: string}}\n---\nhi';
    const one = await spec(text);
    const two = await spec(text);
    expect(validateAgentInput(one, { a: 1 })).toEqual(['/a: must be string']);
    expect(validateAgentInput(two, { a: 'x' })).toEqual([]);
  });
});
