import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineHarness } from '../helpers/engine-harness.js';

/** What expressions and templates see and give, and what a bad one does to a run. */

let h: EngineHarness;

afterEach(async () => {
  await h.close();
});

describe('templates', () => {
  it('a template that is exactly one {{ }} gives a typed value; anything else is interpolated as text', async () => {
    h = EngineHarness.create();
    await h.define('typed', `
      id: typed
      version: "1"
      name: Typed
      states:
        - name: show
          type: operation
          action: noop
          input:
            number: "{{ input.count + 1 }}"
            spaced: "  {{ input.count }}  "
            float: "{{ input.ratio * 2.0 }}"
            bool: "{{ input.count > 2 }}"
            object: "{{ input.meta }}"
            list: "{{ input.meta.tags }}"
            nothing: "{{ input.none }}"
            text: "count={{ input.count }}, meta={{ input.meta }}, ok={{ input.count > 2 }}"
            nested: ["{{ input.count }}", {deep: "{{ input.meta.tags[1] }}"}]
            literal: no templates here
          end: true
    `);
    const r = await h.run('typed', { count: 3, ratio: 0.25, meta: { tags: ['a', 'b'], owner: 'sre' }, none: null });
    expect(r.status).toBe('COMPLETED');
    expect(r.step('show').output).toEqual({
      number: 4,
      spaced: 3,
      float: 0.5,
      bool: true,
      object: { tags: ['a', 'b'], owner: 'sre' },
      list: ['a', 'b'],
      nothing: null,
      text: 'count=3, meta={"tags":["a","b"],"owner":"sre"}, ok=true',
      nested: [3, { deep: 'b' }],
      literal: 'no templates here',
    });
  });

  it('a missing key fails the step with STN_E_EXPR_MISSING_KEY, naming the state, the field and the expression', async () => {
    h = EngineHarness.create();
    await h.define('missing', `
      id: missing
      version: "1"
      name: Missing
      states:
        - name: deploy
          type: operation
          action: noop
          input:
            target: "{{ input.service.name }}"
          next: after
        - {name: after, type: operation, action: noop, end: true}
    `);
    const r = await h.run('missing', { other: 1 });
    expect(r.status).toBe('FAILED');
    const step = r.step('deploy');
    expect(step.status).toBe('FAILED');
    expect(step.error?.code).toBe('STN_E_EXPR_MISSING_KEY');
    expect(step.error?.message).toContain('"deploy"');
    expect(step.error?.message).toContain('input.target');
    expect(step.error?.message).toContain('input.service.name');
    expect(r.error?.code).toBe('STN_E_EXPR_MISSING_KEY');
    expect(r.steps.some((s) => s.state_name === 'after')).toBe(false);
  });

  it('a missing key in inject data fails the inject step the same way', async () => {
    h = EngineHarness.create();
    await h.define('missing-inject', `
      id: missing-inject
      version: "1"
      name: Missing inject
      states:
        - name: prepare
          type: inject
          data: {owner: "{{ steps.lookup.owner }}"}
          end: true
    `);
    const r = await h.run('missing-inject');
    expect(r.status).toBe('FAILED');
    expect(r.step('prepare').status).toBe('FAILED');
    expect(r.step('prepare').error?.code).toBe('STN_E_EXPR_MISSING_KEY');
    expect(r.step('prepare').error?.message).toContain('"prepare"');
    expect(r.step('prepare').error?.message).toContain('data.owner');
    expect(r.step('prepare').error?.message).toContain('steps.lookup.owner');
  });

  it('has() and optional selection guard missing keys', async () => {
    h = EngineHarness.create();
    await h.define('guards', `
      id: guards
      version: "1"
      name: Guards
      states:
        - name: show
          type: operation
          action: noop
          input:
            viaHas: '{{ has(input.service) ? input.service.name : "none" }}'
            viaOptional: '{{ input.?service.name.orValue("fallback") }}'
            present: '{{ has(input.team) ? input.team : "none" }}'
          end: true
    `);
    const r = await h.run('guards', { team: 'sre' });
    expect(r.status).toBe('COMPLETED');
    expect(r.step('show').output).toEqual({ viaHas: 'none', viaOptional: 'fallback', present: 'sre' });
  });

  it('sees run, input (the original run input), ctx and the environment vars', async () => {
    h = EngineHarness.create();
    h.writeEnvironment(`
      vars:
        region: eu-west-1
        replicas: 3
    `);
    await h.define('vars', `
      id: vars
      version: "1"
      name: Vars
      states:
        - name: change
          type: inject
          data: {x: changed}
          next: show
        - name: show
          type: operation
          action: noop
          input:
            runId: "{{ run.id }}"
            workflowId: "{{ run.workflowId }}"
            version: "{{ run.version }}"
            environment: "{{ run.environment }}"
            trigger: "{{ run.trigger.type }}"
            startedIsSet: '{{ run.startedAt != "" }}'
            region: "{{ vars.region }}"
            replicas: "{{ vars.replicas * 2 }}"
            originalX: "{{ input.x }}"
            contextX: "{{ x }}"
            viaCtx: "{{ ctx.x }}"
          end: true
    `);
    const id = h.start('vars', { x: 'original' });
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    expect(r.step('show').output).toEqual({
      runId: id,
      workflowId: 'vars',
      version: 1,
      environment: 'default',
      trigger: 'manual',
      startedIsSet: true,
      region: 'eu-west-1',
      replicas: 6,
      originalX: 'original',
      contextX: 'changed',
      viaCtx: 'changed',
    });
  });
});

describe('secrets', () => {
  const TOKEN = 'tok-9f8e7d6c5b4a-very-secret';

  it('executors get the real value; stored inputs show ***, and the value is nowhere in the database', async () => {
    h = EngineHarness.create({ env: { STN_SECRET_TOKEN: TOKEN } });
    const out = h.file('token.out');
    await h.define('secret', `
      id: secret
      version: "1"
      name: Secret
      states:
        - name: use
          type: operation
          action: shell.exec
          input:
            command: [sh, -c, 'printf %s "$1" > "$2"; echo "sent $AUTH"', sh, "{{ secrets.TOKEN }}", "{{ input.out }}"]
            env: {AUTH: "Bearer {{ secrets.TOKEN }}"}
          next: leak
        - name: leak
          type: operation
          action: shell.exec
          input:
            command: [sh, -c, 'echo "bad token $1" >&2; exit 1', sh, "{{ secrets.TOKEN }}"]
          onError: done
          next: done
        - name: done
          type: operation
          action: noop
          input: {sawError: "{{ error.message }}"}
          end: true
    `);
    const r = await h.run('secret', { out });

    expect(r.status).toBe('COMPLETED');
    expect(fs.readFileSync(out, 'utf8')).toBe(TOKEN);
    const use = r.step('use');
    expect(use.input).toEqual({
      command: ['sh', '-c', 'printf %s "$1" > "$2"; echo "sent $AUTH"', 'sh', '***', out],
      env: { AUTH: 'Bearer ***' },
    });
    expect((use.output as { stdout: string }).stdout).toBe('sent Bearer ***\n');
    expect(r.step('leak').status).toBe('FAILED');
    expect(r.step('leak').error?.message).toContain('bad token ***');
    expect(r.step('done').output).toEqual({ sawError: expect.stringContaining('bad token ***') });

    expect(h.dumpDatabase()).not.toContain(TOKEN);
    expect(h.locate('9f8e7d6c5b4a')).toEqual([]);
  });
});

describe('secrets in other places', () => {
  const TOKEN = 'tok-1a2b3c4d5e6f-inject-secret';

  it('an inject of a secret does not write the value to the database', async () => {
    h = EngineHarness.create({ env: { STN_SECRET_TOKEN: TOKEN } });
    await h.define('inject-secret', `
      id: inject-secret
      version: "1"
      name: Inject secret
      states:
        - name: auth
          type: inject
          data: {header: "Bearer {{ secrets.TOKEN }}"}
          resultPath: auth
          next: use
        - name: use
          type: operation
          action: noop
          input: {header: "{{ auth.header }}"}
          end: true
    `);
    const r = await h.run('inject-secret');
    expect(r.status).toBe('COMPLETED');
    expect(h.locate(TOKEN)).toEqual([]);
  });

  it('a secret handed to a child run (workflow.run input) is not written to the database', async () => {
    h = EngineHarness.create({ env: { STN_SECRET_TOKEN: TOKEN } });
    h.writeWorkflow('child', `
      id: child
      version: "1"
      name: Child
      states:
        - {name: work, type: operation, action: noop, input: {got: "{{ size(input.token) }}"}, end: true}
    `);
    await h.define('parent', `
      id: parent
      version: "1"
      name: Parent
      states:
        - name: call
          type: operation
          action: workflow.run
          input: {workflow: child, input: {token: "{{ secrets.TOKEN }}"}}
          end: true
    `);
    const r = await h.run('parent');
    expect(r.status).toBe('COMPLETED');
    expect(h.locate(TOKEN)).toEqual([]);
  });
});

