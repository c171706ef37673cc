import { describe, expect, it } from 'vitest';
import { validateDefinitionBytes } from '../../src/definitions/validate.js';
import { at, check, only, yml } from '../helpers/definitions-fixtures.js';

describe('regressions found in review', () => {
  it('a wide alias bomb (one big anchored list aliased 99 times) is refused quickly', () => {
    const list = Array(200_000).fill('1').join(',');
    const text = `id: wf\nversion: "1"\nname: WF\nstates:\n  - name: a\n    type: inject\n    data: &d [${list}]\n    next: b\n  - name: b\n    type: inject\n    data: [${Array(99).fill('*d').join(', ')}]\n    end: true\n`;
    const t0 = performance.now();
    const r = check(text);
    const ms = performance.now() - t0;
    expect(r.errors.map((e) => e.code)).toEqual(['STN_E_YAML_ALIAS_LIMIT']);
    expect(ms).toBeLessThan(1000);
  });

  it('a bad cron of a cron start state points at the cron: line', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: schedule
    type: cron
    cron: "0 25 * * *"
    transition: work
  - {id: work, type: operation, action: noop, end: true}
`;
    expect(only(check(text), 'STN_E_CRON_INVALID')).toMatchObject(at(text, 'cron: "0 25', '"0 25'));
  });

  it('the encoding error names the line of the bad byte even after a legitimate U+FFFD', () => {
    const enc = new TextEncoder();
    const bytes = new Uint8Array([...enc.encode('id: wf\ndescription: "\uFFFD"\n# '), 0xff, ...enc.encode('\n')]);
    expect(only(validateDefinitionBytes(bytes, 'x'), 'STN_E_FILE_ENCODING')).toMatchObject({ line: 3 });
  });

  it('keys 1 and "1" in one mapping are a duplicate key', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: noop
    input: {1: a, "1": b}
    end: true
`;
    expect(check(text).errors.map((e) => e.code)).toEqual(['STN_E_YAML_DUPLICATE_KEY']);
  });

  it('an unknown YAML tag is an error, not silently dropped', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - name: a
    type: operation
    action: noop
    input: {token: !secret SLACK_TOKEN}
    end: true
`;
    expect(check(text).valid).toBe(false);
  });

  it('a standard !!str tag does not change how the rest of the file is read', () => {
    const plain = yml`
id: wf
version: "1"
name: WF
description: plain
states:
  - {name: a, type: operation, action: noop, input: {mask: 0b101}, end: true}
`;
    const tagged = plain.replace('description: plain', 'description: !!str plain');
    const a = check(plain);
    const b = check(tagged);
    expect(b.valid).toBe(true);
    expect(JSON.stringify(b.spec?.states)).toBe(JSON.stringify(a.spec?.states));
    expect(b.hash).toBe(a.hash);
  });

  it('a missing required input field is not worded as "workflow is missing"', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - {name: call, type: operation, action: http.request, input: {method: GET}, end: true}
`;
    const d = only(check(text), 'STN_E_ACTION_INPUT');
    expect(d.message).not.toContain('workflow is missing');
    expect(d.message).toContain('"url"');
  });

  it('shell.exec without command/script says "command or script", not that both are required', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - {name: run, type: operation, action: shell.exec, input: {cwd: /tmp}, end: true}
`;
    const errs = check(text).errors;
    expect(errs).toHaveLength(1);
  });

  it('the multi-document message tells the author what to change', () => {
    const text = 'id: wf\nversion: "1"\nname: WF\nstates: []\n---\nid: b\n';
    const d = only(check(text), 'STN_E_YAML_MULTI_DOC');
    expect(d.message).not.toContain('parseAllDocuments');
    expect(d.message).toMatch(/one (workflow|document)/);
  });

  it('a bad timeout_seconds of an agent state points at timeout_seconds', () => {
    const text = yml`
id: wf
version: "1"
name: WF
states:
  - id: triage
    type: agent
    agent: triage
    prompt: hi
    timeout_seconds: 0
    end: true
`;
    expect(check(text).errors[0]).toMatchObject(at(text, 'timeout_seconds:', '0'));
  });
});
