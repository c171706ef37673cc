import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { durationSeconds } from '../../src/definitions/normalize.js';
import { DEFINITION_FILE, validateDefinitionFile } from '../../src/definitions/validate.js';
import type { DefinitionResult } from '../../src/definitions/validate.js';
import type { Diagnostic } from '../../src/definitions/types.js';
import { at, check, expectInvalid, expectValid, only, yml } from '../helpers/definitions-fixtures.js';

// Files written for Station's original (Go) engine: every spelling it accepted is rewritten into the canonical format
// with a note on the line where it was written, and the file runs in compat mode. What has no canonical equivalent is
// an error with a hint.

const root = fileURLToPath(new URL('../../', import.meta.url));
const DIALECT = 'test/fixtures/station-dialect';
const WHOLE = `${DIALECT}/normalize`;

/** The notes as `line: message`, in file order. */
function notes(r: DefinitionResult): string[] {
  for (const n of r.notes) expect(n).toMatchObject({ severity: 'note', code: 'STN_N_NORMALIZED' });
  return r.notes.map((n) => `${n.line}: ${n.message}`);
}

const lineOf = (text: string, needle: string): number => at(text, needle).line;

/** The line number of the n-th line (0-based) that is exactly `line` once trimmed. */
function exactLine(text: string, line: string, n = 0): number {
  const hits = text.split('\n').flatMap((l, i) => (l.trim() === line ? [i + 1] : []));
  const hit = hits[n];
  if (hit === undefined) throw new Error(`fixture: no line ${JSON.stringify(line)} #${n}`);
  return hit;
}

/** The one error, checked for code and position. */
function theError(r: DefinitionResult, code: string): Diagnostic {
  expectInvalid(r);
  return only(r, code);
}

describe('state id next to a name', () => {
  it('the id names the state (transitions use it); the name becomes the description', () => {
    const text = yml`
id: wf
version: "1"
name: WF
start: first
states:
  - id: first
    name: First step
    type: operation
    action: noop
    transition: second
  - id: second
    name: Second step
    description: Already described
    type: operation
    action: noop
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states).toEqual([
      { name: 'first', description: 'First step', type: 'operation', action: 'noop', next: 'second' },
      { name: 'second', description: 'Already described', type: 'operation', action: 'noop', end: true },
    ]);
    expect(notes(r)).toContain(`${lineOf(text, 'name: First step')}: state name "First step" next to an id is written as the description`);
    expect(notes(r)).toContain(`${lineOf(text, 'name: Second step')}: state name "Second step" next to an id is dropped (the id names the state)`);
  });
});

describe('N1: operation: <action>', () => {
  it('operation: agent.run becomes action, and agent.hierarchy.run is agent.run', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: ask
    type: operation
    operation: agent.run
    input: {agent: triage, task: look}
    next: deeper
  - name: deeper
    type: operation
    action: agent.hierarchy.run
    input: {agent: lead, task: plan}
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states).toEqual([
      { name: 'ask', type: 'operation', action: 'agent.run', input: { agent: 'triage', task: 'look' }, next: 'deeper' },
      { name: 'deeper', type: 'operation', action: 'agent.run', input: { agent: 'lead', task: 'plan' }, end: true },
    ]);
    expect(notes(r)).toEqual([
      `${lineOf(text, 'operation: agent.run')}: operation field "operation" is written "action"`,
      `${lineOf(text, 'agent.hierarchy.run')}: action "agent.hierarchy.run" is written "agent.run"`,
    ]);
    expect(r.spec?.compat).toBe('station');
  });
});

describe('N2: agent task spellings', () => {
  it.each(['agentTask', 'agent_task', 'userInput', 'task', 'prompt'])('state field %s of type: agent → input.task', (field) => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: ask
    type: agent
    agent: triage
    ${field}: "Look at {{ input.service }}"
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toEqual({
      name: 'ask',
      type: 'operation',
      action: 'agent.run',
      input: { agent: 'triage', task: 'Look at {{ input.service }}' },
      end: true,
    });
    expect(r.spec?.compat).toBe('station');
    const expected = [`${lineOf(text, 'type: agent')}: state of type "agent" is written as an operation with action agent.run`];
    if (!['task', 'prompt'].includes(field)) expected.push(`${lineOf(text, `${field}:`)}: agent state field "${field}" is written input.task`);
    expect(notes(r)).toEqual(expected);
  });

  it.each(['agent_task', 'userInput', 'prompt', 'agentTask'])('agent.run input %s → task', (field) => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: ask
    type: operation
    action: agent.run
    input:
      agent: triage
      ${field}: Analyze the incident
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toMatchObject({ input: { agent: 'triage', task: 'Analyze the incident' } });
    expect(notes(r)).toEqual([`${lineOf(text, `${field}:`)}: agent.run input "${field}" is written "task"`]);
  });

  it('input.task: agent.run with prompt (Station docs) → action agent.run with task', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: analyze
    type: operation
    input:
      task: agent.run
      agent: analyzer
      prompt: Analyze the incident
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toEqual({
      name: 'analyze',
      type: 'operation',
      action: 'agent.run',
      input: { agent: 'analyzer', task: 'Analyze the incident' },
      end: true,
    });
  });

  it('input.agent_id (a database id) is an error that says to name the agent', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: analyze
    type: operation
    input:
      task: agent.run
      agent_id: 1
      prompt: Analyze the incident
    end: true
`;
    const r = expectInvalid(check(text));
    const e = r.errors.find((d) => d.message.includes('agent_id'));
    expect(e).toMatchObject({ code: 'STN_E_UNSUPPORTED_SPELLING', ...at(text, 'agent_id') });
    expect(e?.message).toContain('agent: <name>');
    // No "unknown field agent_id" on top of the hint.
    expect(r.errors.filter((d) => d.code === 'STN_E_SCHEMA_UNKNOWN_FIELD')).toEqual([]);
  });

  it('agent_id on a type: agent state gets the same hint', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - {id: analyze, type: agent, agent_id: 2, prompt: Analyze, end: true}
`;
    const r = expectInvalid(check(text));
    expect(r.errors.find((d) => d.code === 'STN_E_UNSUPPORTED_SPELLING')?.message).toContain('agent: <name>');
  });

  it('input keys of an agent state other than agent/task/variables become variables; "$.a.b" values become templates', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: investigate
    type: agent
    agent: log-analyzer
    input:
      service_name: "$.input.service_name"
      time_range_minutes: 60
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toEqual({
      name: 'investigate',
      type: 'operation',
      action: 'agent.run',
      input: { agent: 'log-analyzer', variables: { service_name: '{{ input.service_name }}', time_range_minutes: 60 } },
      end: true,
    });
    expect(notes(r)).toContain(`${lineOf(text, 'input:')}: agent input "service_name", "time_range_minutes" are passed as input.variables`);
    expect(notes(r)).toContain(`${lineOf(text, 'service_name:')}: value "$.input.service_name" is written "{{ input.service_name }}"`);
  });
});

describe('agent.run variables written as "$.a.b" paths', () => {
  it('are templates in a Station-spelled agent step, and left alone in a Station-TS one', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: ask
    type: operation
    input:
      task: agent.run
      agent: triage
      variables: {service: "$.input.service", n: 3}
    transition: native
  - name: native
    type: operation
    action: agent.run
    input: {agent: triage, variables: {literal: "$.input.service"}}
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toMatchObject({ input: { variables: { service: '{{ input.service }}', n: 3 } } });
    expect(r.spec?.states[1]).toMatchObject({ input: { variables: { literal: '$.input.service' } } });
    expect(notes(r)).toContain(`${lineOf(text, 'variables: {service')}: value "$.input.service" is written "{{ input.service }}"`);
  });
});

describe('N3: parallel branch shorthand', () => {
  const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: gather
    type: parallel
    branches:
      - name: k8s
        agent: k8s-investigator
        task: "Check {{ input.service }}"
      - id: logs
        agent: log-analyzer
        agentTask: Read the logs
      - name: metrics
        agent: metrics-collector
    end: true
`;

  it('a branch {name, agent, task} is one agent.run state writing the whole branch scope', () => {
    const r = expectValid(check(text));
    const agent = (name: string, agentName: string, task?: string) => ({
      name,
      states: [
        {
          name,
          type: 'operation',
          action: 'agent.run',
          input: task === undefined ? { agent: agentName } : { agent: agentName, task },
          resultPath: '$',
          end: true,
        },
      ],
    });
    expect(r.spec?.states[0]).toEqual({
      name: 'gather',
      type: 'parallel',
      branches: [
        agent('k8s', 'k8s-investigator', 'Check {{ input.service }}'),
        agent('logs', 'log-analyzer', 'Read the logs'),
        agent('metrics', 'metrics-collector'),
      ],
      end: true,
    });
    expect(notes(r)).toEqual([
      `${lineOf(text, 'agent: k8s-investigator')}: branch "k8s" written with agent: is a branch of one agent.run state`,
      `${lineOf(text, 'id: logs')}: branch field "id" is written "name"`,
      `${lineOf(text, 'agent: log-analyzer')}: branch "logs" written with agent: is a branch of one agent.run state`,
      `${lineOf(text, 'agentTask:')}: agent state field "agentTask" is written input.task`,
      `${lineOf(text, 'agent: metrics-collector')}: branch "metrics" written with agent: is a branch of one agent.run state`,
    ]);
    expect(r.spec?.compat).toBe('station');
    expect(r.warnings).toEqual([]);
  });

  it('errors inside a generated state point at the branch as written', () => {
    const bad = text.replace('agent: log-analyzer', 'agent: "not an agent!"');
    const r = expectInvalid(check(bad));
    const e = only(r, 'STN_E_ACTION_INPUT');
    expect(e.line).toBe(lineOf(bad, 'not an agent!'));
  });
});

describe('N4: foreach shorthand and itemVariable', () => {
  it('itemVariable is itemName; agent (+ prompt, input) with no iterator is one agent.run state per item', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: check
    type: foreach
    itemsPath: input.services
    itemVariable: svc
    maxConcurrency: 3
    agent: health-checker
    prompt: "Check {{ svc.name }}"
    input:
      namespace: prod
      variables: {team: sre}
    outputAggregation: array
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toEqual({
      name: 'check',
      type: 'foreach',
      itemsPath: 'input.services',
      itemName: 'svc',
      maxConcurrency: 3,
      outputAggregation: 'array',
      end: true,
      iterator: {
        start: 'check',
        states: [
          {
            name: 'check',
            type: 'operation',
            action: 'agent.run',
            input: { agent: 'health-checker', task: 'Check {{ svc.name }}', variables: { team: 'sre', namespace: 'prod' } },
            resultPath: '$',
            end: true,
          },
        ],
      },
    });
    expect(notes(r)).toEqual([
      `${lineOf(text, 'itemVariable')}: foreach field "itemVariable" is written "itemName"`,
      `${lineOf(text, 'agent: health-checker')}: foreach "check" written with agent: iterates one agent.run state`,
      `${lineOf(text, 'input:')}: agent input "namespace" is passed as input.variables`,
    ]);
    expect(r.spec?.compat).toBe('station');
  });
});

describe('N8: resultPath ctx on inject', () => {
  it('is dropped, so the data merges into the context root', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: seed
    type: inject
    data: {alarm: {name: cpu}}
    resultPath: ctx
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toEqual({ name: 'seed', type: 'inject', data: { alarm: { name: 'cpu' } }, end: true });
    expect(notes(r)).toEqual([`${lineOf(text, 'resultPath: ctx')}: inject resultPath "ctx" is dropped: the data is merged into the context root`]);
    expect(r.spec?.compat).toBe('station');
  });
});

describe('Go durations', () => {
  it.each([
    ['30s', 30], ['5m', 300], ['1h', 3600], ['1h30m', 5400], ['1.5h', 5400], ['500ms', 1], ['90', 90], [45, 45], [2.5, 3],
  ] as const)('%s is %d seconds', (written, seconds) => {
    expect(durationSeconds(written)).toBe(seconds);
  });

  it.each(['soon', '', '5 m', '-5m', '0s', 0, -1, '1d', null, true])('%s is not a duration', (written) => {
    expect(durationSeconds(written)).toBeUndefined();
  });
});

describe('field spellings from Station docs and tests', () => {
  it('timeout durations on the workflow, operations and approvals become timeoutSeconds', () => {
    const text = yml`
id: wf
version: "1"
name: WF
timeout: 1h
states:
  - name: ask
    type: agent
    agent: triage
    task: look
    timeout: 2m
    next: gate
  - name: gate
    type: human_approval
    message: Go?
    timeout: 1h30m
    next: run
  - name: run
    type: operation
    action: noop
    timeout: 45
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.timeoutSeconds).toBe(3600);
    expect(r.spec?.states[0]).toMatchObject({ timeoutSeconds: 120 });
    expect(r.spec?.states[1]).toMatchObject({ action: 'human.approval', input: { message: 'Go?', timeoutSeconds: 5400 } });
    expect(r.spec?.states[2]).toMatchObject({ timeoutSeconds: 45 });
    expect(notes(r)).toEqual(
      expect.arrayContaining([
        `${exactLine(text, 'timeout: 1h')}: timeout "1h" is written timeoutSeconds: 3600`,
        `${lineOf(text, 'timeout: 2m')}: timeout "2m" is written timeoutSeconds: 120`,
        `${lineOf(text, 'timeout: 1h30m')}: timeout "1h30m" is written timeoutSeconds: 5400`,
        `${lineOf(text, 'timeout: 45')}: timeout 45 is written timeoutSeconds: 45`,
      ]),
    );
  });

  it('a timeout that is not a duration is an error with a hint', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: run
    type: operation
    action: noop
    timeout: soon
    end: true
`;
    const e = theError(check(text), 'STN_E_SCHEMA_VALUE');
    expect(e).toMatchObject(at(text, 'timeout: soon', 'timeout'));
    expect(e.message).toContain('"30s", "5m" or "1h30m"');
  });

  it('snake_case retry fields (and a duration backoff) become camelCase', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: run
    type: operation
    action: noop
    retry:
      max_attempts: 3
      backoff: 10s
      max_backoff_seconds: 60
      retry_on: [timeout]
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toMatchObject({ retry: { maxAttempts: 3, backoffSeconds: 10, maxBackoffSeconds: 60 } });
    expect(notes(r)).toEqual([
      `${lineOf(text, 'max_attempts')}: retry field "max_attempts" is written "maxAttempts"`,
      `${lineOf(text, 'backoff: 10s')}: retry backoff "10s" is written backoffSeconds: 10`,
      `${lineOf(text, 'max_backoff_seconds')}: retry field "max_backoff_seconds" is written "maxBackoffSeconds"`,
      `${lineOf(text, 'retry_on')}: retry field "retry_on" is dropped (Station never applied it): every retryable failure is retried`,
    ]);
  });

  it('type aliases: set and context are inject; sleep, delay and timer are the sleep action', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - {name: a, type: set, data: {x: 1}, next: b}
  - {name: b, type: context, data: {y: 2}, next: c}
  - {name: c, type: sleep, duration: 30s, next: d}
  - {name: d, type: delay, duration: 5m, next: e}
  - {name: e, type: timer, input: {duration: 1h}, end: true}
`;
    const r = expectValid(check(text));
    expect(r.spec?.states).toEqual([
      { name: 'a', type: 'inject', data: { x: 1 }, next: 'b' },
      { name: 'b', type: 'inject', data: { y: 2 }, next: 'c' },
      { name: 'c', type: 'operation', action: 'sleep', input: { seconds: 30 }, next: 'd' },
      { name: 'd', type: 'operation', action: 'sleep', input: { seconds: 300 }, next: 'e' },
      { name: 'e', type: 'operation', action: 'sleep', input: { seconds: 3600 }, end: true },
    ]);
    expect(notes(r)).toEqual([
      `${lineOf(text, 'name: a')}: state type "set" is written "inject"`,
      `${lineOf(text, 'name: b')}: state type "context" is written "inject"`,
      `${lineOf(text, 'name: c')}: state of type "sleep" is written as an operation with action sleep`,
      `${lineOf(text, 'name: d')}: state of type "delay" is written as an operation with action sleep`,
      `${lineOf(text, 'name: e')}: state of type "timer" is written as an operation with action sleep`,
    ]);
  });

  it('a sleep state without a duration is an error', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: wait
    type: sleep
    duration: "{{ input.wait }}"
    end: true
`;
    const e = theError(check(text), 'STN_E_SCHEMA_VALUE');
    expect(e.line).toBe(lineOf(text, 'duration:'));
    expect(e.message).toContain('needs duration');
  });

  it('try has no equivalent: an error that points to onError and compensation', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: guarded
    type: try
    try: {states: [{name: x, type: operation, action: noop, end: true}]}
    end: true
`;
    const r = expectInvalid(check(text));
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ code: 'STN_E_UNSUPPORTED_SPELLING', ...at(text, 'type: try', 'type') });
    expect(r.errors[0]?.message).toContain('onError');
  });

  it('tool has no equivalent: an error that points to agent.run', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - {id: call, type: tool, server: github, tool: list_issues, end: true}
`;
    const r = expectInvalid(check(text));
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ code: 'STN_E_UNSUPPORTED_SPELLING', line: 5 });
    expect(r.errors[0]?.message).toContain('agent.run');
  });

  it('await is human.approval when input.task says so, else an error that points to signal.wait', () => {
    const ok = yml`
id: wf
version: "1"
name: WF
states:
  - id: gate
    type: await
    input: {task: human.approval, message: Go?}
    end: true
`;
    const r = expectValid(check(ok));
    expect(r.spec?.states[0]).toEqual({ name: 'gate', type: 'operation', action: 'human.approval', input: { message: 'Go?' }, end: true });
    const bad = ok.replace('task: human.approval, ', '');
    const r2 = expectInvalid(check(bad));
    expect(r2.errors).toHaveLength(1);
    expect(r2.errors[0]).toMatchObject({ code: 'STN_E_UNSUPPORTED_SPELLING', ...at(bad, 'type: await', 'type') });
    expect(r2.errors[0]?.message).toContain('signal.wait');
  });

  it('output mappings: canonical paths on operations; the whole output of another state is its resultPath', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: investigate
    type: agent
    agent: investigator
    output:
      investigation: "$.result"
      severity: "$.result.severity"
      everything: "$"
    next: report
  - name: report
    type: transform
    expression: '{"done": True}'
    output:
      final_report: "$.result"
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toMatchObject({ output: { investigation: 'result', severity: 'result.severity', everything: '' } });
    expect(r.spec?.states[1]).toEqual({ name: 'report', type: 'transform', expression: '{"done": True}', resultPath: 'final_report', end: true });
    expect(notes(r)).toContain(`${exactLine(text, 'output:', 0)}: output mappings "$.path" are written "path" (a path into the step output)`);
    expect(notes(r)).toContain(`${exactLine(text, 'output:', 1)}: output mapping final_report: "$.result" is written resultPath: final_report`);
  });

  it('several output mappings on an inject are an error with a hint', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: seed
    type: inject
    data: {a: 1, b: 2}
    output:
      a: "$.data.a"
      b: "$.data.b"
    end: true
`;
    const e = theError(check(text), 'STN_E_UNSUPPORTED_SPELLING');
    expect(e.line).toBe(lineOf(text, 'output:'));
    expect(e.message).toContain('resultPath');
  });

  it('approval_title becomes the first line of the message, in bold', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: gate
    type: human_approval
    approval_title: Production Deployment Approval
    message: |
      Deploy {{ input.service }}?
    approvers: [platform-leads]
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toMatchObject({
      action: 'human.approval',
      input: { message: '*Production Deployment Approval*\n\nDeploy {{ input.service }}?\n', approvers: ['platform-leads'] },
    });
    expect(notes(r)).toContain(`${lineOf(text, 'approval_title')}: approval_title is written as the first line of the message, in bold`);
  });
});

describe('compat mode', () => {
  it('a file in Station-TS format gets no compat field; compat: station by hand is kept, with no note', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    const plain = expectValid(check(text));
    expect(plain.spec?.compat).toBeUndefined();
    expect(plain.notes).toEqual([]);
    const byHand = expectValid(check(text.replace('name: WF', 'name: WF\ncompat: station')));
    expect(byHand.spec?.compat).toBe('station');
    expect(byHand.notes).toEqual([]);
    expect(byHand.hash).not.toBe(plain.hash);
  });

  it('a $schema key in a JSON file is dropped without making the file compat', () => {
    const json = JSON.stringify({ $schema: '../schemas/workflow.schema.json', id: 'wf', version: '1', name: 'WF', states: [{ name: 'a', type: 'operation', action: 'noop', end: true }] });
    const r = expectValid(check(json, 'wf.workflow.json'));
    expect(r.spec?.compat).toBeUndefined();
    expect(r.notes).toEqual([]);
  });

  it('compat only takes "station"', () => {
    const text = yml`
id: wf
version: "1"
name: WF
compat: go
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    expect(theError(check(text), 'STN_E_SCHEMA_VALUE')).toMatchObject(at(text, 'compat: go', 'go'));
  });
});

describe('Station-TS files produce no new notes', () => {
  const files = (dir: string): string[] =>
    fs
      .readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => DEFINITION_FILE.test(f))
      .map((f) => path.join(dir, f).split(path.sep).join('/'));
  // test/fixtures/station-dialect/ holds the Station (Go) files themselves.
  const all = [...files('environments'), ...files('bundles'), ...files('test/fixtures')].filter((f) => !f.startsWith(`${DIALECT}/`));

  it('finds the example and fixture files', () => {
    expect(all.length).toBeGreaterThan(10);
  });

  it.each(all)('%s: no notes and no compat', (file) => {
    const r = expectValid(validateDefinitionFile(path.join(root, file), file));
    expect(r.notes).toEqual([]);
    expect(r.spec?.compat).toBeUndefined();
  });
});

describe('N5, N6, N7: Station expressions in conditions and templates', () => {
  it('_value/val/result in a switch with dataPath are data; len, hasattr, A if C else B become CEL, a note each', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: decide
    type: switch
    dataPath: input.alert
    conditions:
      - if: "_value.severity == 'critical' and len(val.hosts) > 0"
        next: page
      - if: "hasattr(result, 'owner')"
        next: page
    defaultNext: done
  - name: page
    type: inject
    data:
      who: "{{ 'on-call' if hasattr(ticket, 'key') else input.team }}"
    next: done
  - name: done
    type: operation
    action: noop
    end: true
`;
    const r = expectValid(check(text));
    const sw = r.spec?.states[0] as { conditions: Array<{ if: string }> };
    expect(sw.conditions.map((c) => c.if)).toEqual(['data.severity == "critical" && size(data.hosts) > 0', 'data.?owner.hasValue()']);
    expect(r.spec?.states[1]).toMatchObject({ data: { who: '{{ ctx.?ticket.?key.hasValue() ? "on-call" : input.team }}' } });
    expect(r.spec?.compat).toBe('station');
    const n = notes(r);
    expect(n).toHaveLength(3);
    expect(n[0]).toMatch(new RegExp(`^${lineOf(text, '_value.severity')}: condition "_value.severity == 'critical' and len\\(val.hosts\\) > 0" is written "data.severity == "critical" && size\\(data.hosts\\) > 0" in CEL \\(`));
    expect(n[0]).toContain('_value → data');
    expect(n[0]).toContain('len() → size()');
    expect(n[1]).toMatch(new RegExp(`^${lineOf(text, 'hasattr(result')}: condition`));
    expect(n[2]).toMatch(new RegExp(`^${lineOf(text, 'who:')}: template`));
    expect(n[2]).toContain('A if C else B → C ? A : B');
  });

  it('workflow.input and ctx._cronTriggeredAt in a template (N7)', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: ask
    type: operation
    action: agent.run
    input:
      agent: triage
      task: "Check {{ workflow.input.service }} (scheduled {{ ctx._cronTriggeredAt }})"
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toMatchObject({
      input: { task: 'Check {{ input.service }} (scheduled {{ run.trigger.?scheduledAt.orValue(run.startedAt) }})' },
    });
    expect(notes(r)).toHaveLength(1);
    expect(notes(r)[0]).toMatch(new RegExp(`^${lineOf(text, 'task:')}: template `));
    expect(r.spec?.compat).toBe('station');
  });

  it('a condition with no CEL equivalent is an error at the condition, with a hint', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: decide
    type: switch
    conditions:
      - if: "input.summary.lower() == 'down'"
        next: done
    defaultNext: done
  - id: done
    type: operation
    action: noop
    end: true
`;
    const e = theError(check(text), 'STN_E_CEL_SYNTAX');
    expect(e).toMatchObject(at(text, 'input.summary.lower()', '"input'));
    expect(e.message).toContain('.lower()');
    expect(e.message).toContain('transform state');
  });

  it('in a Station-TS file an expression that is not CEL stays a plain CEL error, reported once', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: decide
    type: switch
    conditions:
      - if: "input.summary.lower() == 'down'"
        next: done
    defaultNext: done
  - name: done
    type: operation
    action: noop
    end: true
`;
    const e = theError(check(text), 'STN_E_CEL_SYNTAX');
    expect(e.message).toContain('is not valid CEL');
  });

  it('in a compat file a root named after a state reads that step (Go aliased outputs), unless a step writes that key', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: triage
    type: agent
    agent: triage
    task: look
    transition: seed
  - id: seed
    type: inject
    data: {limits: {cpu: 90}}
    transition: route
  - id: route
    type: switch
    dataPath: triage
    conditions:
      - if: "triage.severity == 'high' and limits.cpu > 80"
        next: report
    defaultNext: report
  - id: report
    type: inject
    data: {summary: "{{ triage.summary }}"}
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[2]).toMatchObject({ dataPath: 'steps.triage', conditions: [{ if: 'steps.triage.severity == "high" && limits.cpu > 80' }] });
    expect(r.spec?.states[3]).toMatchObject({ data: { summary: '{{ steps.triage.summary }}' } });
    expect(notes(r)).toContain(`${lineOf(text, 'dataPath: triage')}: dataPath "triage" reads the output of state "triage": it is written "steps.triage"`);
  });

  it('no alias for a state whose output goes elsewhere (its resultPath, a shorthand branch)', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: triage
    type: agent
    agent: triage
    task: look
    resultPath: analysis
    transition: fan
  - id: fan
    type: parallel
    branches:
      - {name: logs, agent: log-analyzer}
    transition: report
  - id: report
    type: inject
    data: {a: "{{ triage.summary }}", b: "{{ logs.x }}", c: "{{ fan.logs.x }}"}
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[2]).toMatchObject({ data: { a: '{{ triage.summary }}', b: '{{ logs.x }}', c: '{{ steps.fan.logs.x }}' } });
  });

  it('a Station-TS file is never rewritten with step aliases', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: triage
    type: operation
    action: noop
    next: report
  - name: report
    type: inject
    data: {summary: "{{ triage.summary }}"}
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[1]).toMatchObject({ data: { summary: '{{ triage.summary }}' } });
    expect(r.notes).toEqual([]);
    expect(r.spec?.compat).toBeUndefined();
  });
});

describe('transform states', () => {
  it('a syntax error in a block scalar is reported at the file line and column of the mistake', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: report
    type: transform
    expression: |
      summary = {
        "service": input.service,
        "hosts": [h.name for h in input.hosts if h.down,
      }
      summary
    end: true
`;
    const e = theError(check(text), 'STN_E_STARLARK_SYNTAX');
    expect(e).toMatchObject(at(text, '"hosts":', 'h.down,'.slice(-1)));
    expect(e.message).toContain('state "report"');
    expect(e.message).toContain('line 3 of the expression');
  });

  it('in a folded block scalar and in a one-line quoted scalar too', () => {
    const folded = yml`
id: wf
version: "1"
name: WF
states:
  - name: report
    type: transform
    expression: >
      {"a": 1,
      "b": ]}
    end: true
`;
    expect(theError(check(folded), 'STN_E_STARLARK_SYNTAX')).toMatchObject(at(folded, '"b": ]', ']'));
    const quoted = yml`
id: wf
version: "1"
name: WF
states:
  - {name: report, type: transform, expression: "{'a': input.x +}", end: true}
`;
    expect(theError(check(quoted), 'STN_E_STARLARK_SYNTAX')).toMatchObject(at(quoted, 'input.x +}', '}'));
  });

  it('is allowed and checked in parallel branches and foreach iterators', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: fan
    type: parallel
    outputAggregation: array
    branches:
      - name: a
        states:
          - {name: shape, type: transform, expression: '{"n": len(input.items)}', end: true}
    next: each
  - name: each
    type: foreach
    itemsPath: input.items
    iterator:
      states:
        - name: shape
          type: transform
          expression: |
            x = item["name"
          end: true
    end: true
`;
    const e = theError(check(text), 'STN_E_STARLARK_SYNTAX');
    expect(e.line).toBe(lineOf(text, 'x = item'));
    expect(e.pointer).toBe('/states/1/iterator/states/0/expression');
    expectValid(check(text.replace('x = item["name"', 'x = item["name"]')));
  });

  it('a transform resultPath through __proto__ is refused like any other', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - {name: t, type: transform, expression: '{"a": 1}', resultPath: steps.__proto__.x, end: true}
`;
    expect(theError(check(text), 'STN_E_PATH_RESERVED').message).toContain('__proto__');
  });

  it('output mapping keys and paths through __proto__ are refused', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: noop
    output: {__proto__: "result", ok: "constructor.x"}
    end: true
`;
    const r = expectInvalid(check(text));
    expect(r.errors.filter((e) => e.code === 'STN_E_PATH_RESERVED').map((e) => e.message)).toEqual([
      expect.stringContaining('output key "__proto__"'),
      expect.stringContaining('output path "constructor.x"'),
    ]);
  });

  it('outputSchema must be a valid JSON Schema', () => {
    const text = yml`
id: wf
version: "1"
name: WF
outputSchema:
  type: objekt
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    const e = theError(check(text), 'STN_E_OUTPUT_SCHEMA');
    expect(e.line).toBe(lineOf(text, 'type: objekt'));
    expectValid(check(text.replace('objekt', 'object')));
  });
});

describe('whole Station workflows (test/fixtures/station-dialect/normalize)', () => {
  const load = (name: string) => {
    const file = `${WHOLE}/${name}.workflow.yaml`;
    return { r: validateDefinitionFile(path.join(root, file), file), text: fs.readFileSync(path.join(root, file), 'utf8') };
  };

  it('incident pipeline: transform, parallel agent shorthand, switch on _value, approval_title, step aliases', () => {
    const { r, text } = load('incident-pipeline');
    expectValid(r);
    expect(r.warnings).toEqual([]);
    expect(r.spec?.compat).toBe('station');
    expect(r.spec?.timeoutSeconds).toBe(1800);
    expect(r.spec?.states.map((s) => s.type)).toEqual(['transform', 'parallel', 'operation', 'switch', 'operation', 'transform']);
    expect(r.spec?.states[3]).toMatchObject({
      dataPath: 'steps.analyze.severity',
      conditions: [{ if: 'data == "critical" && size(steps.analyze.findings) > 0', next: 'approve' }],
    });
    expect(r.spec?.states[4]).toMatchObject({
      action: 'human.approval',
      input: {
        message: '*Roll back?*\n\nRoll back {{ input.incident_id }} ({{ steps.?analyze.?summary.hasValue() ? steps.analyze.summary : "no summary" }})',
        timeoutSeconds: 3600,
      },
    });
    // Every note is on a line of the file that holds what it talks about.
    const lines = text.split('\n');
    for (const n of r.notes) expect(lines[n.line - 1]?.trim().length, n.message).toBeGreaterThan(0);
    expect(r.notes.map((n) => n.line)).toContain(lineOf(text, 'approval_title: Roll back?'));
  });

  it('cron foreach: cron start state, resultPath ctx, foreach shorthand, delay, operation: agent.run with output mapping', () => {
    const { r } = load('cron-foreach');
    expectValid(r);
    expect(r.warnings).toEqual([]);
    expect(r.spec?.compat).toBe('station');
    expect(r.spec?.triggers).toEqual([{ type: 'cron', name: 'schedule', schedule: '0 * * * *', input: { services: ['api', 'worker'] } }]);
    expect(r.spec?.start).toBe('seed');
    expect(r.spec?.states).toEqual([
      { name: 'seed', type: 'inject', data: { threshold: 0.05 }, next: 'check' },
      {
        name: 'check',
        type: 'foreach',
        itemsPath: 'input.services',
        itemName: 'service',
        outputAggregation: 'array',
        next: 'pause',
        iterator: {
          start: 'check',
          states: [
            {
              name: 'check',
              type: 'operation',
              action: 'agent.run',
              input: {
                agent: 'health-checker',
                task: 'Check {{ service }} (run of {{ run.trigger.?scheduledAt.orValue(run.startedAt) }}), threshold {{ threshold }}',
              },
              resultPath: '$',
              end: true,
            },
          ],
        },
      },
      { name: 'pause', type: 'operation', action: 'sleep', input: { seconds: 1 }, next: 'summary' },
      {
        name: 'summary',
        type: 'operation',
        action: 'agent.run',
        input: { agent: 'reporter', task: 'Summarize the checks' },
        output: { report: 'result' },
        end: true,
      },
    ]);
  });
});
