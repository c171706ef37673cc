import { describe, expect, it } from 'vitest';
import { check, expectValid, yml } from '../helpers/definitions-fixtures.js';

// The content hash decides whether sync makes a new version.

const base = yml`
id: deploy
version: "1.0"
name: Deploy
description: Build and roll out.
triggers:
  - {type: cron, name: nightly, schedule: "0 3 * * *", timezone: UTC}
states:
  - name: build
    type: operation
    action: shell.exec
    input:
      command: [make, build]
      env: {TARGET: "{{ input.target }}"}
    retry: {maxAttempts: 3, backoff: exponential, backoffSeconds: 2}
    next: done
  - name: done
    type: inject
    data: {ok: true}
    end: true
output: "{{ steps.build }}"
`;

function hashOf(text: string, path?: string): string {
  return expectValid(check(text, path)).hash as string;
}

describe('content hash', () => {
  it('is a sha256 hex digest and stable across calls', () => {
    expect(hashOf(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashOf(base)).toBe(hashOf(base));
  });

  it('ignores comments, blank lines, indentation width and quoting style', () => {
    const reformatted = yml`
# yaml-language-server: $schema=../../schemas/workflow.schema.json
# Deploy: build and roll out.

id: deploy          # the key of all versions
version: '1.0'
name: "Deploy"
description: >-
  Build and roll out.

triggers:
    -   type: cron
        name: nightly
        schedule: '0 3 * * *'
        timezone: UTC

states:
    # the one step that matters
    -   name: build
        type: operation
        action: shell.exec
        input:
            command:
                - make
                - build
            env:
                TARGET: '{{ input.target }}'
        retry:
            maxAttempts: 3
            backoff: exponential
            backoffSeconds: 2
        next: done

    -   name: done
        type: inject
        data:
            ok: true
        end: true
output: '{{ steps.build }}'
`;
    expect(hashOf(reformatted)).toBe(hashOf(base));
  });

  it('ignores the order of keys, at every level', () => {
    const reordered = yml`
output: "{{ steps.build }}"
states:
  - next: done
    retry: {backoffSeconds: 2, backoff: exponential, maxAttempts: 3}
    input:
      env: {TARGET: "{{ input.target }}"}
      command: [make, build]
    action: shell.exec
    type: operation
    name: build
  - end: true
    data: {ok: true}
    type: inject
    name: done
triggers:
  - {timezone: UTC, schedule: "0 3 * * *", name: nightly, type: cron}
description: Build and roll out.
name: Deploy
version: "1.0"
id: deploy
`;
    expect(hashOf(reordered)).toBe(hashOf(base));
  });

  it('changes with the content even when version: is not bumped', () => {
    const edited = base.replace('command: [make, build]', 'command: [make, release]');
    expect(edited).not.toBe(base);
    expect(edited).toContain('version: "1.0"');
    expect(hashOf(edited)).not.toBe(hashOf(base));
  });

  it('changes with a change inside a template, a trigger or the description', () => {
    const h = hashOf(base);
    expect(hashOf(base.replace('{{ input.target }}', "{{ input.target + '-x' }}"))).not.toBe(h);
    expect(hashOf(base.replace('"0 3 * * *"', '"0 4 * * *"'))).not.toBe(h);
    expect(hashOf(base.replace('Build and roll out.', 'Build, then roll out.'))).not.toBe(h);
  });

  it('changes when only version: changes', () => {
    expect(hashOf(base.replace('version: "1.0"', 'version: "1.1"'))).not.toBe(hashOf(base));
  });

  it('is the same for a YAML file and the equivalent JSON file', () => {
    const json = JSON.stringify(
      {
        id: 'deploy',
        version: '1.0',
        name: 'Deploy',
        description: 'Build and roll out.',
        triggers: [{ type: 'cron', name: 'nightly', schedule: '0 3 * * *', timezone: 'UTC' }],
        states: [
          {
            name: 'build',
            type: 'operation',
            action: 'shell.exec',
            input: { command: ['make', 'build'], env: { TARGET: '{{ input.target }}' } },
            retry: { maxAttempts: 3, backoff: 'exponential', backoffSeconds: 2 },
            next: 'done',
          },
          { name: 'done', type: 'inject', data: { ok: true }, end: true },
        ],
        output: '{{ steps.build }}',
      },
      null,
      2,
    );
    expect(hashOf(json, 'deploy.workflow.json')).toBe(hashOf(base));
    // ... and for the same JSON on one line, and with the editor's "$schema" key.
    const oneLine = JSON.stringify(JSON.parse(json));
    expect(hashOf(oneLine, 'deploy.workflow.json')).toBe(hashOf(base));
    const withSchema = JSON.stringify({ $schema: '../../schemas/workflow.schema.json', ...(JSON.parse(json) as object) });
    expect(hashOf(withSchema, 'deploy.workflow.json')).toBe(hashOf(base));
  });

  it('is the same whether a value is written once or shared through an anchor and alias', () => {
    const plain = yml`
id: wf
version: "1"
name: WF
states:
  - {name: a, type: operation, action: shell.exec, input: {command: [df, -h], timeoutSeconds: 5}, next: b}
  - {name: b, type: operation, action: shell.exec, input: {command: [df, -h], timeoutSeconds: 5}, end: true}
`;
    const aliased = yml`
id: wf
version: "1"
name: WF
states:
  - {name: a, type: operation, action: shell.exec, input: &df {command: [df, -h], timeoutSeconds: 5}, next: b}
  - {name: b, type: operation, action: shell.exec, input: *df, end: true}
`;
    expect(hashOf(aliased)).toBe(hashOf(plain));
  });
});
