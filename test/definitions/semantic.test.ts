import { describe, expect, it } from 'vitest';
import { at, check, expectInvalid, expectValid, only, yml } from '../helpers/definitions-fixtures.js';

// The semantic checks (README "What validation checks"), run once a definition matches the schema.

describe('transitions', () => {
  it('a next naming no state is reported at the value, with a suggestion', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: noop
    next: bb
  - name: b
    type: operation
    action: noop
    end: true
`;
    const r = expectInvalid(check(text));
    const d = only(r, 'STN_E_UNKNOWN_TARGET');
    expect(d).toMatchObject({ severity: 'error', pointer: '/states/0/next', ...at(text, 'next: bb', 'bb') });
    expect(d.message).toContain('"bb"');
    expect(d.message).toContain('did you mean "b"?');
  });

  it('without a close match the states in scope are listed', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: build
    type: operation
    action: noop
    next: deploy-to-production
  - name: test
    type: operation
    action: noop
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_UNKNOWN_TARGET');
    expect(d).toMatchObject(at(text, 'next: deploy', 'deploy'));
    expect(d.message).toContain('states here are build, test');
  });

  it('start, onError, a condition target and defaultNext are checked the same way', () => {
    const text = yml`
id: wf
version: "1"
name: WF
start: begin
states:
  - name: check
    type: operation
    action: noop
    onError: recover
    next: route
  - name: route
    type: switch
    conditions:
      - if: "true"
        next: checkk
    defaultNext: nowhere
`;
    const r = expectInvalid(check(text));
    const targets = r.errors.filter((e) => e.code === 'STN_E_UNKNOWN_TARGET');
    expect(targets).toEqual([
      expect.objectContaining({ pointer: '/start', ...at(text, 'start: begin', 'begin') }),
      expect.objectContaining({ pointer: '/states/0/onError', ...at(text, 'onError: recover', 'recover') }),
      expect.objectContaining({ pointer: '/states/1/conditions/0/next', ...at(text, 'next: checkk', 'checkk') }),
      expect.objectContaining({ pointer: '/states/1/defaultNext', ...at(text, 'defaultNext: nowhere', 'nowhere') }),
    ]);
    expect(targets[2]?.message).toContain('did you mean "check"?');
  });

  it('a state with neither next nor end is reported at the state, saying what to add', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: noop
    next: b
  - name: b
    type: inject
    data: {done: true}
`;
    const d = only(expectInvalid(check(text)), 'STN_E_NO_TRANSITION');
    expect(d).toMatchObject({ pointer: '/states/1', ...at(text, '- name: b', 'name') });
    expect(d.message).toBe('state "b" needs "next: <state>" or "end: true"');
  });

  it('a state with both next and end: true is reported at next', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: noop
    next: a
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_NO_TRANSITION');
    expect(d).toMatchObject(at(text, 'next: a', 'next'));
    expect(d.message).toContain('keep one');
  });
});

describe('cron triggers', () => {
  it('a bad cron field is reported at the schedule, naming the field', () => {
    const text = yml`
id: wf
version: "1"
name: WF
triggers:
  - type: cron
    name: nightly
    schedule: "61 3 * * *"
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    const d = only(expectInvalid(check(text)), 'STN_E_CRON_INVALID');
    expect(d).toMatchObject({ pointer: '/triggers/0/schedule', ...at(text, 'schedule:', '"61') });
    expect(d.message).toContain('trigger "nightly"');
    expect(d.message).toMatch(/minute/i);
  });

  it('a schedule with the wrong number of fields says how many it needs', () => {
    const text = yml`
id: wf
version: "1"
name: WF
triggers:
  - {type: cron, name: hourly, schedule: "0 * * *"}
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    const d = only(expectInvalid(check(text)), 'STN_E_CRON_INVALID');
    expect(d).toMatchObject(at(text, 'schedule:', '"0 * * *"'));
    expect(d.message).toContain('has 4 fields; use 5 (minute hour day month weekday) or 6 (with seconds first)');
  });

  it('an unknown time zone is reported at the timezone, with an example of a valid one', () => {
    const text = yml`
id: wf
version: "1"
name: WF
triggers:
  - type: cron
    name: nightly
    schedule: "0 3 * * *"
    timezone: Europe/Berlinn
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    const d = only(expectInvalid(check(text)), 'STN_E_TIMEZONE_INVALID');
    expect(d).toMatchObject({ pointer: '/triggers/0/timezone', ...at(text, 'timezone:', 'Europe') });
    expect(d.message).toContain('"Europe/Berlinn"');
    expect(d.message).toContain('Europe/Berlin, UTC');
  });

  it('6-field schedules and IANA zones are fine; two triggers with one name are not', () => {
    const text = yml`
id: wf
version: "1"
name: WF
triggers:
  - {type: cron, name: tick, schedule: "*/30 * * * * *", timezone: America/New_York}
  - {type: webhook, name: tick}
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    const d = only(expectInvalid(check(text)), 'STN_E_TRIGGER_NAME');
    expect(d).toMatchObject({ pointer: '/triggers/1/name', ...at(text, 'type: webhook', 'tick') });
    expect(d.message).toContain('rename one');
  });
});

describe('expressions and templates', () => {
  it('a switch condition that is not CEL is reported at the condition', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: route
    type: switch
    conditions:
      - if: "steps.check.code == "
        next: done
    defaultNext: done
  - {name: done, type: operation, action: noop, end: true}
`;
    const d = only(expectInvalid(check(text)), 'STN_E_CEL_SYNTAX');
    expect(d).toMatchObject({ pointer: '/states/0/conditions/0/if', ...at(text, '- if:', '"steps') });
    expect(d.message).toContain('state "route"');
    expect(d.message).toContain('is not valid CEL');
  });

  it('an unclosed {{ is a template error at that string', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: shell.exec
    input:
      command: [echo, "{{ input.name"]
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_TEMPLATE_SYNTAX');
    expect(d).toMatchObject({ pointer: '/states/0/input/command/1', ...at(text, 'command:', '"{{') });
    expect(d.message).toMatch(/unclosed "\{\{"/);
  });

  it('bad CEL inside a template is a CEL error at that string', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: inject
    data:
      greeting: "hello {{ input.name + }}"
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_CEL_SYNTAX');
    expect(d).toMatchObject({ pointer: '/states/0/data/greeting', ...at(text, 'greeting:', '"hello') });
    expect(d.message).toContain('{{ input.name + }}');
  });

  it('a condition nesting comprehensions 4 deep is refused at the condition (cost budget)', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: route
    type: switch
    conditions:
      - if: xs.all(a, xs.all(b, xs.all(c, xs.all(d, a < d))))
        next: done
    defaultNext: done
  - {name: done, type: operation, action: noop, end: true}
`;
    const d = only(expectInvalid(check(text)), 'STN_E_CEL_COST');
    expect(d).toMatchObject({ pointer: '/states/0/conditions/0/if', ...at(text, '- if:', 'xs.all') });
    expect(d.message).toContain('state "route" condition');
    expect(d.message).toContain('nested 4 deep, over the limit of 3');
  });

  it('a template looping twice over context lists is valid, with a warning saying from which length on it stops', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: inject
    data:
      paired: "{{ pods.filter(p, nodes.exists(n, n.name == p.node)) }}"
    end: true
`;
    const w = only(expectValid(check(text)), 'STN_W_CEL_COST');
    expect(w).toMatchObject({ severity: 'warning', pointer: '/states/0/data/paired', ...at(text, 'paired:', '"{{') });
    expect(w.message).toMatch(/may be stopped at run time: .* more than about \d+ items/);
  });

  it('templates in the output and in a trigger input are checked too', () => {
    const text = yml`
id: wf
version: "1"
name: WF
triggers:
  - type: webhook
    name: hook
    input:
      service: "{{ body.service }"
states:
  - {name: a, type: operation, action: noop, end: true}
output: "{{ steps.a.( }}"
`;
    const r = expectInvalid(check(text));
    expect(only(r, 'STN_E_TEMPLATE_SYNTAX')).toMatchObject({ pointer: '/triggers/0/input/service', ...at(text, 'service:', '"{{') });
    expect(only(r, 'STN_E_CEL_SYNTAX')).toMatchObject({ pointer: '/output', ...at(text, 'output:', '"{{') });
  });
});

describe('literal action inputs', () => {
  it('a string where shell.exec wants an argv array is an error at that value', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: list
    type: operation
    action: shell.exec
    input:
      command: "ls -la"
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_ACTION_INPUT');
    expect(d).toMatchObject({ pointer: '/states/0/input/command', ...at(text, 'command:', '"ls') });
    expect(d.message).toContain('state "list"');
    expect(d.message).toContain('shell.exec');
    expect(d.message).toContain('"command" in the shell.exec input must be array');
  });

  it('a template in a typed field is not an error: its type is known only at run time', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: list
    type: operation
    action: shell.exec
    input:
      command: "{{ input.argv }}"
      timeoutSeconds: "{{ vars.timeout }}"
    next: fetch
  - name: fetch
    type: operation
    action: http.request
    input: "{{ steps.list.json }}"
    end: true
`;
    const r = expectValid(check(text));
    expect(r.warnings).toEqual([]);
  });

  it('a bad enum value in an input suggests the allowed one; a missing required input is an error', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: call
    type: operation
    action: http.request
    input:
      method: PSOT
    end: true
`;
    const r = expectInvalid(check(text));
    const codes = r.errors.map((e) => e.code);
    expect(codes.every((c) => c === 'STN_E_ACTION_INPUT')).toBe(true);
    const method = r.errors.find((e) => e.pointer === '/states/0/input/method');
    expect(method).toMatchObject(at(text, 'method:', 'PSOT'));
    expect(method?.message).toContain('did you mean "POST"?');
    const url = r.errors.find((e) => e.pointer === '/states/0/input');
    expect(url?.message).toContain('"url"');
  });

  it('an unknown input field is an error at its key with a suggestion', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: post
    type: operation
    action: slack.post
    input:
      text: hi
      chanel: "#ops"
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_ACTION_INPUT');
    expect(d).toMatchObject({ pointer: '/states/0/input/chanel', ...at(text, 'chanel:') });
    expect(d.message).toContain('did you mean "channel"?');
  });

  it('compensation inputs are checked against their action', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: noop
    compensation:
      action: shell.exec
      input: {command: rm}
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_ACTION_INPUT');
    expect(d).toMatchObject({ pointer: '/states/0/compensation/input/command', ...at(text, 'input: {command', 'rm') });
    expect(d.message).toContain('compensation');
  });
});

describe('state names and scopes', () => {
  it('the same name may be used once per scope: top level, each branch, each iterator', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: work
    type: operation
    action: noop
    next: fan
  - name: fan
    type: parallel
    branches:
      - name: left
        states:
          - {name: work, type: operation, action: noop, end: true}
      - name: right
        states:
          - {name: work, type: operation, action: noop, end: true}
    next: each
  - name: each
    type: foreach
    itemsPath: $.items
    iterator:
      states:
        - {name: work, type: operation, action: noop, end: true}
    end: true
`;
    const r = expectValid(check(text));
    expect(r.warnings).toEqual([]);
  });

  it('a name used twice in one scope is an error at the second one', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: deploy
    type: operation
    action: noop
    next: deploy
  - name: deploy
    type: operation
    action: noop
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_DUPLICATE_NAME');
    expect(d).toMatchObject({ pointer: '/states/1/name', line: 9, col: 11 });
    expect(d.message).toBe('state name "deploy" is used twice in the workflow: rename one');
  });

  it('duplicates inside a branch, inside an iterator and between branches are errors where they are', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: fan
    type: parallel
    branches:
      - name: left
        states:
          - {name: one, type: operation, action: noop, next: two}
          - {name: two, type: operation, action: noop, end: true}
          - {name: one, type: operation, action: noop, end: true}
      - name: left
        states:
          - {name: solo, type: operation, action: noop, end: true}
    next: each
  - name: each
    type: foreach
    itemsPath: items
    iterator:
      states:
        - {name: it, type: operation, action: noop, next: again}
        - {name: again, type: operation, action: noop, end: true}
        - {name: again, type: operation, action: noop, end: true}
    end: true
`;
    const dups = expectInvalid(check(text)).errors.filter((e) => e.code === 'STN_E_DUPLICATE_NAME');
    expect(dups).toEqual([
      expect.objectContaining({ pointer: '/states/0/branches/0/states/2/name', line: 12, col: 20 }),
      expect.objectContaining({ pointer: '/states/0/branches/1/name', line: 13, col: 15 }),
      expect.objectContaining({ pointer: '/states/1/iterator/states/2/name', line: 24, col: 18 }),
    ]);
    expect(dups[0]?.message).toContain('branch "left" of state "fan"');
    expect(dups[1]?.message).toContain('branch name "left" is used twice');
    expect(dups[2]?.message).toContain('the iterator of state "each"');
  });

  it('a transition may not leave its scope', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: fan
    type: parallel
    branches:
      - name: only
        states:
          - {name: inner, type: operation, action: noop, next: after}
    next: after
  - {name: after, type: operation, action: noop, end: true}
`;
    const d = only(expectInvalid(check(text)), 'STN_E_UNKNOWN_TARGET');
    expect(d).toMatchObject({ pointer: '/states/0/branches/0/states/0/next', ...at(text, 'name: inner', 'after') });
    expect(d.message).toContain('branch "only" of state "fan"');
  });
});

describe('reachability', () => {
  it('an unreachable state is a warning at its name; the definition stays valid', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: noop
    end: true
  - name: orphan
    type: operation
    action: noop
    end: true
`;
    const r = expectValid(check(text));
    const w = only(r, 'STN_W_UNREACHABLE_STATE');
    expect(w).toMatchObject({ severity: 'warning', pointer: '/states/1/name', ...at(text, 'name: orphan', 'orphan') });
    expect(w.message).toContain('"orphan"');
    expect(w.message).toContain('link it with next, or delete it');
  });

  it('states reached through onError, conditions, defaultNext and loops are reachable', () => {
    const text = yml`
id: wf
version: "1"
name: WF
start: try
states:
  - name: recover
    type: operation
    action: noop
    next: route
  - name: try
    type: operation
    action: noop
    onError: recover
    next: route
  - name: route
    type: switch
    conditions:
      - if: attempts < 3
        next: try
      - if: attempts == 3
        next: give-up
    defaultNext: done
  - {name: give-up, type: operation, action: fail, input: {message: too many attempts}, end: true}
  - {name: done, type: operation, action: noop, end: true}
`;
    expect(expectValid(check(text)).warnings).toEqual([]);
  });

  it('unreachable states inside a branch are found in the branch scope', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: fan
    type: parallel
    branches:
      - name: one
        start: second
        states:
          - {name: first, type: operation, action: noop, end: true}
          - {name: second, type: operation, action: noop, end: true}
    end: true
`;
    const w = only(expectValid(check(text)), 'STN_W_UNREACHABLE_STATE');
    expect(w).toMatchObject({ pointer: '/states/0/branches/0/states/0/name', ...at(text, 'name: first', 'first') });
  });
});

describe('errors inside nested states point at the nested line', () => {
  it('in a parallel branch and in a foreach iterator', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: fan
    type: parallel
    branches:
      - name: one
        states:
          - name: work
            type: operation
            action: noop
            end: true
      - name: two
        states:
          - name: work
            type: operation
            action: noop
            next: nowhere
    next: loop
  - name: loop
    type: foreach
    itemsPath: items
    iterator:
      states:
        - name: work
          type: operation
          action: shell.exec
          input:
            command: ls
          next: report
        - name: report
          type: inject
          data:
            line: "{{ item. }}"
          end: true
    end: true
`;
    const r = expectInvalid(check(text));
    expect(r.errors).toEqual([
      expect.objectContaining({ code: 'STN_E_UNKNOWN_TARGET', pointer: '/states/0/branches/1/states/0/next', line: 19, col: 19 }),
      expect.objectContaining({ code: 'STN_E_ACTION_INPUT', pointer: '/states/1/iterator/states/0/input/command', line: 30, col: 22 }),
      expect.objectContaining({ code: 'STN_E_CEL_SYNTAX', pointer: '/states/1/iterator/states/1/data/line', line: 35, col: 19 }),
    ]);
  });

  it('a schema error deep inside an iterator inside a branch', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: fan
    type: parallel
    branches:
      - name: one
        states:
          - name: loop
            type: foreach
            itemsPath: items
            iterator:
              states:
                - name: step
                  type: operation
                  action: noop
                  retries: 3
                  end: true
            end: true
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_SCHEMA_UNKNOWN_FIELD');
    expect(d).toMatchObject({ pointer: '/states/0/branches/0/states/0/iterator/states/0/retries', line: 18, col: 19 });
    expect(d.message).toContain('state "step"');
    expect(d.message).toMatch(/allowed fields: .*\bretry\b/);
  });
});

describe('inputSchema', () => {
  it('an invalid JSON Schema is reported at inputSchema, with what is wrong', () => {
    const text = yml`
id: wf
version: "1"
name: WF
inputSchema:
  type: objekt
  required: service
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    const d = only(expectInvalid(check(text)), 'STN_E_INPUT_SCHEMA');
    expect(d).toMatchObject({ pointer: '/inputSchema', ...at(text, 'type: objekt', 'type') });
    expect(d.message).toContain('inputSchema is not a valid JSON Schema');
    expect(d.message).toMatch(/type/);
  });

  it('a real JSON Schema is accepted', () => {
    const text = yml`
id: wf
version: "1"
name: WF
inputSchema:
  type: object
  required: [service]
  properties:
    service: {type: string, minLength: 1}
    replicas: {type: integer, minimum: 0}
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    expect(expectValid(check(text)).spec?.inputSchema).toEqual({
      type: 'object',
      required: ['service'],
      properties: { service: { type: 'string', minLength: 1 }, replicas: { type: 'integer', minimum: 0 } },
    });
  });

  it('inputSchema that is not a mapping is a schema type error', () => {
    const text = yml`
id: wf
version: "1"
name: WF
inputSchema: [service]
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    expect(only(expectInvalid(check(text)), 'STN_E_SCHEMA_TYPE')).toMatchObject({ pointer: '/inputSchema', line: 4, col: 14 });
  });
});
