import { describe, expect, it } from 'vitest';
import { at, check, expectInvalid, only, yml } from '../helpers/definitions-fixtures.js';

// Parse and schema errors, per file (YAML errors with line:col, duplicate keys, unknown fields).

describe('YAML syntax errors', () => {
  it('reports an under-indented key at its own line', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
   action: noop
    end: true
`;
    const r = expectInvalid(check(text));
    expect(r.errors.every((e) => e.code === 'STN_E_YAML_SYNTAX')).toBe(true);
    expect(r.errors[0]).toMatchObject({ code: 'STN_E_YAML_SYNTAX', line: 7, col: 1 });
    expect(r.id).toBeUndefined();
  });

  it('reports a tab used as indentation, saying tabs are the problem', () => {
    const text = 'id: wf\nversion: "1"\nname: WF\nstates:\n  - name: a\n\ttype: operation\n    action: noop\n    end: true\n';
    const r = expectInvalid(check(text));
    expect(r.errors[0]).toMatchObject({ code: 'STN_E_YAML_SYNTAX', line: 6, col: 1 });
    expect(r.errors[0]?.message).toMatch(/tab/i);
  });

  it('reports malformed JSON at the line of the missing comma', () => {
    const text = yml`
{
  "id": "wf",
  "version": "1"
  "name": "WF"
}
`;
    const r = expectInvalid(check(text, 'wf.workflow.json'));
    expect(r.errors[0]).toMatchObject({ code: 'STN_E_YAML_SYNTAX', line: 4, col: 3 });
    expect(r.errors[0]?.message).toMatch(/,/);
  });
});

describe('duplicate keys', () => {
  it('are errors at the second key, asking to remove or rename it', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: noop
    action: fail
    end: true
`;
    const r = expectInvalid(check(text));
    const d = only(r, 'STN_E_YAML_DUPLICATE_KEY');
    expect(d).toMatchObject({ severity: 'error', ...at(text, 'action: fail') });
    expect(d.message).toMatch(/remove or rename/);
  });

  it('are found at the top level and inside input maps too', () => {
    const top = yml`
id: wf
version: "1"
name: WF
name: Other
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    expect(only(expectInvalid(check(top)), 'STN_E_YAML_DUPLICATE_KEY')).toMatchObject(at(top, 'name: Other'));

    const nested = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: shell.exec
    input:
      command: [ls]
      cwd: /tmp
      cwd: /var
    end: true
`;
    expect(only(expectInvalid(check(nested)), 'STN_E_YAML_DUPLICATE_KEY')).toMatchObject(at(nested, 'cwd: /var', 'cwd'));
  });

  it('are errors in JSON files', () => {
    const text = '{\n  "id": "wf",\n  "id": "other"\n}\n';
    expect(only(expectInvalid(check(text, 'wf.workflow.json')), 'STN_E_YAML_DUPLICATE_KEY')).toMatchObject({ line: 3, col: 3 });
  });
});

describe('unknown fields', () => {
  it('on a state: at the key, with "did you mean" for a typo', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    acton: noop
    end: true
`;
    const r = expectInvalid(check(text));
    const d = only(r, 'STN_E_SCHEMA_UNKNOWN_FIELD');
    expect(d).toMatchObject({ severity: 'error', pointer: '/states/0/acton', ...at(text, 'acton:') });
    expect(d.message).toContain('"acton"');
    expect(d.message).toContain('state "a"');
    expect(d.message).toContain('did you mean "action"?');
    // The typo also leaves the operation without its action: that is said at the state.
    expect(only(r, 'STN_E_SCHEMA_REQUIRED')).toMatchObject({ ...at(text, '- name: a', 'name'), message: expect.stringContaining('"action"') });
  });

  it('at the top level: a typo gets a suggestion, anything else the list of allowed fields', () => {
    const typo = yml`
id: wf
version: "1"
name: WF
startt: a
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    const d = only(expectInvalid(check(typo)), 'STN_E_SCHEMA_UNKNOWN_FIELD');
    expect(d).toMatchObject({ pointer: '/startt', line: 4, col: 1 });
    expect(d.message).toContain('did you mean "start"?');

    const other = yml`
id: wf
version: "1"
name: WF
owner: platform-team
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    const e = only(expectInvalid(check(other)), 'STN_E_SCHEMA_UNKNOWN_FIELD');
    expect(e).toMatchObject({ line: 4, col: 1 });
    expect(e.message).toContain('"owner"');
    expect(e.message).toMatch(/allowed fields: id, version, name, .*states/);
  });

  it('inside a trigger, at the key', () => {
    const text = yml`
id: wf
version: "1"
name: WF
triggers:
  - type: cron
    name: nightly
    schedule: "0 3 * * *"
    timezon: UTC
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    const d = only(expectInvalid(check(text)), 'STN_E_SCHEMA_UNKNOWN_FIELD');
    expect(d).toMatchObject(at(text, 'timezon:'));
    expect(d.message).toContain('trigger "nightly"');
    expect(d.message).toContain('did you mean "timezone"?');
  });
});

describe('missing required fields', () => {
  it('a missing top-level field is named, at the start of the document', () => {
    const text = yml`
id: wf
name: WF
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    const r = expectInvalid(check(text));
    expect(r.id).toBe('wf');
    const d = only(r, 'STN_E_SCHEMA_REQUIRED');
    expect(d).toMatchObject({ line: 1, col: 1, pointer: '' });
    expect(d.message).toBe('workflow is missing the required field "version"');
  });

  it('a state without a name is reported at that state', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: noop
    next: b
  - type: operation
    action: noop
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_SCHEMA_REQUIRED');
    expect(d).toMatchObject({ pointer: '/states/1', ...at(text, '- type: operation', 'type') });
    expect(d.message).toContain('"name"');
  });

  it('an empty states list is refused', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states: []
`;
    const r = expectInvalid(check(text));
    expect(r.errors[0]).toMatchObject({ code: 'STN_E_SCHEMA_VALUE', pointer: '/states', ...at(text, 'states: []', '[]') });
  });
});

describe('wrong types and values', () => {
  it('a string where an integer belongs: at the value, naming the expected type and what was found', () => {
    const text = yml`
id: wf
version: "1"
name: WF
timeoutSeconds: "600"
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    const d = only(expectInvalid(check(text)), 'STN_E_SCHEMA_TYPE');
    expect(d).toMatchObject(at(text, 'timeoutSeconds:', '"600"'));
    expect(d.message).toContain('must be integer');
    expect(d.message).toContain('"600"');
  });

  it('a value outside an enum lists the allowed values', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: noop
    retry: {maxAttempts: 2, backoff: linear}
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_SCHEMA_VALUE');
    expect(d).toMatchObject({ pointer: '/states/0/retry/backoff', ...at(text, 'retry:', 'linear') });
    expect(d.message).toContain('"fixed", "exponential"');
  });

  it('an unknown state type lists the state types', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: wait
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_SCHEMA_VALUE');
    expect(d).toMatchObject(at(text, 'type: wait', 'wait'));
    expect(d.message).toContain('"operation", "switch", "parallel", "inject", "foreach"');
  });

  it('a workflow id that breaks the id pattern shows the pattern', () => {
    const text = yml`
id: Incident_Triage
version: "1"
name: WF
states:
  - {name: a, type: operation, action: noop, end: true}
`;
    const d = only(expectInvalid(check(text)), 'STN_E_SCHEMA_VALUE');
    expect(d).toMatchObject({ line: 1, col: 5 });
    expect(d.message).toContain('^[a-z0-9][a-z0-9._-]{0,127}$');
  });
});

describe('unknown actions', () => {
  it('a near miss suggests the action', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: shell.exek
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_UNKNOWN_ACTION');
    expect(d).toMatchObject({ severity: 'error', pointer: '/states/0/action', ...at(text, 'action:', 'shell.exek') });
    expect(d.message).toContain('did you mean "shell.exec"?');
  });

  it('anything else lists the known actions', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: kubectl
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_UNKNOWN_ACTION');
    expect(d).toMatchObject(at(text, 'action:', 'kubectl'));
    expect(d.message).toContain('known actions: noop, fail, sleep, shell.exec');
  });

  it('in a compensation as well', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: noop
    compensation:
      action: htttp.request
    end: true
`;
    const d = only(expectInvalid(check(text)), 'STN_E_UNKNOWN_ACTION');
    expect(d).toMatchObject(at(text, 'action: htttp.request', 'htttp'));
    expect(d.message).toContain('did you mean "http.request"?');
  });
});

describe('diagnostics order', () => {
  it('errors come sorted by line, each with a pointer', () => {
    const text = yml`
id: wf
version: "1"
name: WF
timeoutSeconds: -1
states:
  - name: a
    type: operation
    acton: noop
    end: true
`;
    const r = expectInvalid(check(text));
    const lines = r.errors.map((e) => e.line);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
    expect(r.errors.every((e) => typeof e.pointer === 'string')).toBe(true);
    expect(r.errors[0]).toMatchObject({ pointer: '/timeoutSeconds', line: 4 });
  });
});
