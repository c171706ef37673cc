import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../src/definitions/types.js';
import { at, check, expectInvalid, expectValid, only, yml } from '../helpers/definitions-fixtures.js';

// Station's own spellings (Python-flavoured conditions, `$.a.b` paths) are rewritten at parse time and reported as
// notes, never as errors.

function notes(r: { notes: Diagnostic[] }): Diagnostic[] {
  for (const n of r.notes) expect(n).toMatchObject({ severity: 'note', code: 'STN_N_NORMALIZED' });
  return r.notes;
}

describe('Station spellings are normalized with a note each', () => {
  it('state id → name and transition → next', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: first
    type: operation
    action: noop
    transition: second
  - id: second
    type: operation
    action: noop
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states).toEqual([
      { name: 'first', type: 'operation', action: 'noop', next: 'second' },
      { name: 'second', type: 'operation', action: 'noop', end: true },
    ]);
    expect(notes(r)).toEqual([
      expect.objectContaining({ pointer: '/states/0/id', ...at(text, 'id: first'), message: 'state field "id" is written "name"' }),
      expect.objectContaining({ pointer: '/states/0/transition', ...at(text, 'transition:'), message: 'state field "transition" is written "next"' }),
      expect.objectContaining({ pointer: '/states/1/id', ...at(text, 'id: second') }),
    ]);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  it('type: agent with agent and prompt → operation agent.run with input {agent, task}', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: triage
    type: agent
    agent: sre-triage
    prompt: "Look at {{ input.service }}"
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toEqual({
      name: 'triage',
      type: 'operation',
      action: 'agent.run',
      input: { agent: 'sre-triage', task: 'Look at {{ input.service }}' },
      end: true,
    });
    const n = only(r, 'STN_N_NORMALIZED');
    expect(n).toMatchObject(at(text, 'type: agent'));
    expect(n.message).toContain('agent.run');
  });

  it('type: human_approval with message, approvers, timeout_seconds → operation human.approval', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: gate
    type: human_approval
    message: Restart the API?
    approvers: [alice, group:sre]
    timeout_seconds: 900
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toEqual({
      name: 'gate',
      type: 'operation',
      action: 'human.approval',
      input: { message: 'Restart the API?', approvers: ['alice', 'group:sre'], timeoutSeconds: 900 },
      end: true,
    });
    expect(only(r, 'STN_N_NORMALIZED').message).toContain('human.approval');
  });

  it('type: operation with input.task agent.run and input.agent_task → action agent.run with input.task', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: fix
    type: operation
    input:
      task: agent.run
      agent: fixer
      agent_task: Fix the disk
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toEqual({
      name: 'fix',
      type: 'operation',
      action: 'agent.run',
      input: { agent: 'fixer', task: 'Fix the disk' },
      end: true,
    });
    expect(only(r, 'STN_N_NORMALIZED')).toMatchObject({ pointer: '/states/0/input/task', ...at(text, 'task: agent.run', 'task') });
  });

  it('type: operation with input.task human.approval and input.userInput → action human.approval', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: ask
    type: operation
    input:
      task: human.approval
      userInput: Go ahead?
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toMatchObject({ action: 'human.approval', input: { message: 'Go ahead?' } });
  });

  it('a start state of type cron becomes a cron trigger, and start moves to its next', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: Nightly Run
    type: cron
    cron: "0 3 * * *"
    timezone: Europe/Berlin
    enabled: false
    input:
      service: api
    transition: work
  - id: work
    type: operation
    action: noop
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.triggers).toEqual([
      { type: 'cron', name: 'nightly-run', schedule: '0 3 * * *', timezone: 'Europe/Berlin', enabled: false, input: { service: 'api' } },
    ]);
    expect(r.spec?.start).toBe('work');
    expect(r.spec?.states.map((s) => s.name)).toEqual(['work']);
    const cronNote = notes(r).find((n) => n.pointer === '/states/0');
    expect(cronNote).toMatchObject(at(text, '- id: Nightly Run', 'id'));
    expect(cronNote?.message).toContain('cron trigger');
    // The notes of later states still name their own lines although the list shifted by one.
    expect(notes(r).find((n) => n.pointer === '/states/1/id')).toMatchObject(at(text, 'id: work'));
  });

  it('an explicit start naming a cron state that is not first is converted too', () => {
    const text = yml`
id: wf
version: "1"
name: WF
start: tick
states:
  - {name: work, type: operation, action: noop, end: true}
  - {name: tick, type: cron, cron: "*/5 * * * *", next: work}
`;
    const r = expectValid(check(text));
    expect(r.spec?.triggers).toEqual([{ type: 'cron', name: 'tick', schedule: '*/5 * * * *' }]);
    expect(r.spec?.start).toBe('work');
    expect(r.spec?.states).toHaveLength(1);
  });

  it('$.a.b paths lose their $. prefix', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: load
    type: inject
    data: {items: [1, 2]}
    resultPath: $.data
    next: each
  - name: each
    type: foreach
    itemsPath: $.data.items
    iterator:
      states:
        - {name: one, type: operation, action: noop, resultPath: $.out, end: true}
    next: route
  - name: route
    type: switch
    dataPath: $.data
    conditions:
      - {if: "size(items) > 1", next: done}
    defaultNext: done
  - {name: done, type: operation, action: noop, end: true}
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toMatchObject({ resultPath: 'data' });
    expect(r.spec?.states[1]).toMatchObject({ itemsPath: 'data.items', iterator: { states: [{ resultPath: 'out' }] } });
    expect(r.spec?.states[2]).toMatchObject({ dataPath: 'data' });
    expect(notes(r).map((n) => [n.pointer, n.line])).toEqual([
      ['/states/0/resultPath', at(text, 'resultPath: $.data').line],
      ['/states/1/itemsPath', at(text, 'itemsPath:').line],
      ['/states/1/iterator/states/0/resultPath', at(text, 'resultPath: $.out').line],
      ['/states/2/dataPath', at(text, 'dataPath:').line],
    ]);
  });

  it('Python-style conditions (True, False, None, and, or, not, $.) become CEL', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: route
    type: switch
    conditions:
      - if: $.approved == True and not ($.comment == None)
        next: go
      - if: $.retry == False or $.forced
        next: stop
    defaultNext: stop
  - {name: go, type: operation, action: noop, end: true}
  - {name: stop, type: operation, action: noop, end: true}
`;
    const r = expectValid(check(text));
    const route = r.spec?.states[0];
    expect(route?.type === 'switch' && route.conditions.map((c) => c.if)).toEqual([
      'approved == true && ! (comment == null)',
      'retry == false || forced',
    ]);
    expect(notes(r)).toEqual([
      expect.objectContaining({ pointer: '/states/0/conditions/0/if', line: 8 }),
      expect.objectContaining({ pointer: '/states/0/conditions/1/if', line: 10 }),
    ]);
  });

  it('canonical definitions get no notes', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - {name: a, type: switch, conditions: [{if: "x == true && !y", next: b}], defaultNext: b}
  - {name: b, type: operation, action: noop, resultPath: out, end: true}
`;
    expect(expectValid(check(text)).notes).toEqual([]);
  });
});

describe('errors in normalized states point at the original line', () => {
  it('a transition to a missing state is reported at the transition: value', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: first
    type: agent
    agent: triage
    prompt: hi
    transition: missing
  - id: second
    type: operation
    action: noop
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_UNKNOWN_TARGET');
    expect(d).toMatchObject({ pointer: '/states/0/next', ...at(text, 'transition: missing', 'missing') });
    expect(d.message).toContain('"missing"');
  });

  it('...also when a cron start state was removed in front of it', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: schedule
    type: cron
    cron: "0 3 * * *"
    transition: work
  - id: work
    type: operation
    action: noop
    transition: nope
`;
    const d = only(expectInvalid(check(text)), 'STN_E_UNKNOWN_TARGET');
    expect(d).toMatchObject(at(text, 'transition: nope', 'nope'));
  });

  it('a bad agent name and a bad agent_task point at the fields they came from', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: triage
    type: agent
    agent: "not a name"
    prompt: hi
    transition: fix
  - name: fix
    type: operation
    input:
      task: agent.run
      agent: fixer
      agent_task: [not, a, string]
    end: true
`;
    const r = expectInvalid(check(text));
    expect(r.errors).toEqual([
      expect.objectContaining({ code: 'STN_E_ACTION_INPUT', pointer: '/states/0/input/agent', ...at(text, 'agent: "not', '"not') }),
      expect.objectContaining({ code: 'STN_E_ACTION_INPUT', pointer: '/states/1/input/task', ...at(text, 'agent_task:', '[') }),
    ]);
  });

  it('a bad timeout_seconds of an approval points at timeout_seconds', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: gate
    type: human_approval
    prompt: Proceed?
    timeout_seconds: 0
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_ACTION_INPUT');
    expect(d).toMatchObject({ pointer: '/states/0/input/timeoutSeconds', ...at(text, 'timeout_seconds:', '0') });
    expect(d.message).toContain('>= 1');
  });

  it('a bad time zone of a cron start state points at its timezone', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: schedule
    type: cron
    cron: "0 3 * * *"
    timezone: Mars/Olympus
    transition: work
  - {id: work, type: operation, action: noop, end: true}
`;
    const d = only(expectInvalid(check(text)), 'STN_E_TIMEZONE_INVALID');
    expect(d).toMatchObject({ pointer: '/triggers/0/timezone', ...at(text, 'timezone:', 'Mars') });
  });

  it('fields a Station spelling does not know are errors at their line, never dropped', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: triage
    type: agent
    agent: triage
    prompt: hi
    model: gpt-4
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_SCHEMA_UNKNOWN_FIELD');
    expect(d).toMatchObject({ pointer: '/states/0/model', ...at(text, 'model:') });
  });

  // Station identifies a state by its id when it has both (its docs write a display name next to every id).
  it('a state with both id and name is named by its id; the name becomes its description', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: one
    name: two
    type: operation
    action: noop
    end: true
`;
    const r = expectValid(check(text));
    expect(r.spec?.states[0]).toEqual({ name: 'one', description: 'two', type: 'operation', action: 'noop', end: true });
    expect(notes(r).map((n) => n.line)).toEqual([at(text, 'id: one').line, at(text, 'name: two').line].sort());
  });
});

describe('a normalized spelling and its canonical twin', () => {
  const station = yml`
id: restart
version: "2"
name: Restart
states:
  - id: schedule
    type: cron
    cron: "0 3 * * *"
    timezone: Europe/Berlin
    input: {service: api}
    transition: ask
  - id: ask
    type: agent
    agent: triage
    prompt: "Look at {{ service }}"
    resultPath: $.steps.ask
    transition: gate
  - id: gate
    type: human_approval
    message: Restart?
    approvers: [alice]
    timeout_seconds: 600
    transition: decide
  - id: decide
    type: switch
    dataPath: $.steps.gate
    conditions:
      - if: approved == True and not (comment == None)
        next: fix
    defaultNext: done
  - id: fix
    type: operation
    input: {task: agent.run, agent: fixer, agent_task: fix it}
    transition: done
  - id: done
    type: inject
    data: {}
    end: true
`;

  const canonical = yml`
id: restart
version: "2"
name: Restart
compat: station
triggers:
  - type: cron
    name: schedule
    schedule: "0 3 * * *"
    timezone: Europe/Berlin
    input: {service: api}
start: ask
states:
  - name: ask
    type: operation
    action: agent.run
    input: {agent: triage, task: "Look at {{ service }}"}
    resultPath: steps.ask
    next: gate
  - name: gate
    type: operation
    action: human.approval
    input: {message: Restart?, approvers: [alice], timeoutSeconds: 600}
    next: decide
  - name: decide
    type: switch
    dataPath: steps.gate
    conditions:
      - if: approved == true && ! (comment == null)
        next: fix
    defaultNext: done
  - name: fix
    type: operation
    action: agent.run
    input: {agent: fixer, task: fix it}
    next: done
  - name: done
    type: inject
    data: {}
    end: true
`;

  // The Station spelling runs in compat mode: its canonical twin says so by hand.
  it('normalize to the same spec and the same content hash', () => {
    const a = expectValid(check(station));
    const b = expectValid(check(canonical));
    expect(a.notes.length).toBeGreaterThan(0);
    expect(b.notes).toEqual([]);
    expect(a.spec).toEqual(b.spec);
    expect(a.hash).toBe(b.hash);
  });
});
