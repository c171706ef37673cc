import { afterEach, describe, expect, it } from 'vitest';
import { EngineHarness } from '../helpers/engine-harness.js';

/**
 * The run-time side of Station's dialect (docs/station-dialect.md): transform states, the previous output, output
 * aggregation, outputSchema, state output mappings, and the four things compat mode switches on. Written in the
 * canonical format (the normalizer's tests cover the spellings).
 */

let h: EngineHarness;

afterEach(async () => {
  await h.close();
});

describe('transform', () => {
  it('reads the previous output as input and the context as ctx; a dict is the output, stored at steps.<name>', async () => {
    h = EngineHarness.create();
    await h.define('tr', `
      id: tr
      version: "1"
      name: Transform
      states:
        - name: fetch
          type: operation
          action: noop
          input:
            incident_id: 7
            title: disk full
            services: [{name: api, enabled: true}, {name: db, enabled: false}, {name: web}]
            logs: [l1, l2, l3, l4]
          next: shape
        - name: shape
          type: transform
          expression: |
            {
                "incident_id": input.incident_id,
                "services": [s["name"] for s in input.services if s.get("enabled", True)],
                "summary": "Incident " + str(input.incident_id) + ": " + input.title,
                "recent": input.logs[-2:] if input.get("logs") else [],
                "who": ctx.workflow.input.who,
                "stamped": len(ctx._timestamp) > 0,
            }
          end: true
    `);
    const r = await h.run('tr', { who: 'ana' });
    expect(r.status).toBe('COMPLETED');
    const expected = { incident_id: 7, services: ['api', 'web'], summary: 'Incident 7: disk full', recent: ['l3', 'l4'], who: 'ana', stamped: true };
    expect(r.step('shape').output).toEqual(expected);
    expect((r.context.steps as Record<string, unknown>).shape).toEqual(expected);
  });

  it('a value that is not a dict becomes {result: v}; programs with statements run; resultPath is honoured', async () => {
    h = EngineHarness.create();
    await h.define('prog', `
      id: prog
      version: "1"
      name: Program
      states:
        - name: count
          type: transform
          expression: len(input.xs)
          next: classify
        - name: classify
          type: transform
          resultPath: verdict
          expression: |
            big = []
            for x in ctx.workflow.input.xs:
                if x > 10:
                    big.append(x)
                elif x < 0:
                    pass
            level = "high" if len(big) > 1 else "low"
            {"big": big, "level": level, "count": steps.count.result}
          end: true
    `);
    const r = await h.run('prog', { xs: [1, 20, 30, -4] });
    expect(r.status).toBe('COMPLETED');
    expect(r.step('count').output).toEqual({ result: 4 });
    expect(r.context.verdict).toEqual({ big: [20, 30], level: 'high', count: 4 });
  });

  it('runs inside parallel branches and foreach iterators, each seeing its own previous output', async () => {
    h = EngineHarness.create();
    await h.define('nested', `
      id: nested
      version: "1"
      name: Nested
      states:
        - name: seed
          type: operation
          action: noop
          input: {base: 100}
          next: fan
        - name: fan
          type: parallel
          branches:
            - name: a
              states:
                - name: t
                  type: transform
                  expression: '{"from_parent": input.base + 1}'
                  end: true
            - name: b
              states:
                - name: one
                  type: operation
                  action: noop
                  input: {n: 5}
                  next: t
                - name: t
                  type: transform
                  expression: '{"doubled": input.n * 2}'
                  end: true
          next: loop
        - name: loop
          type: foreach
          itemsPath: input.hosts
          itemName: host
          iterator:
            states:
              - name: t
                type: transform
                expression: '{"host": host, "same": input._item == input.host, "index": input._index}'
                end: true
          end: true
    `);
    const r = await h.run('nested', { hosts: ['h1', 'h2'] });
    expect(r.status).toBe('COMPLETED');
    expect(r.step('fan/a/t').output).toEqual({ from_parent: 101 });
    expect(r.step('fan/b/t').output).toEqual({ doubled: 10 });
    expect(r.step('loop[1]/t').output).toEqual({ host: 'h2', same: true, index: 1 });
  });

  it('a run-time error fails the step naming the state and the line; a hostile expression hits the budget', async () => {
    h = EngineHarness.create();
    await h.define('bad', `
      id: bad
      version: "1"
      name: Bad
      states:
        - name: boom
          type: transform
          expression: |
            x = 1
            {"missing": input.nope}
          end: true
    `);
    const r = await h.run('bad', { here: 1 });
    expect(r.status).toBe('FAILED');
    expect(r.error?.code).toBe('STN_E_EXPR_MISSING_KEY');
    expect(r.error?.message).toMatch(/^state "boom", line 2: /);

    await h.define('hostile', `
      id: hostile
      version: "1"
      name: Hostile
      states:
        - name: spin
          type: transform
          expression: '[x for x in range(1000000000)]'
          end: true
    `);
    const t0 = Date.now();
    const r2 = await h.run('hostile', {});
    expect(r2.status).toBe('FAILED');
    expect(r2.error?.code).toBe('STN_E_TRANSFORM_LIMIT');
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('never sees secrets', async () => {
    h = EngineHarness.create({ env: { STN_SECRET_TOKEN: 'hunter2-long-secret' } });
    await h.define('sec', `
      id: sec
      version: "1"
      name: Secrets
      states:
        - name: peek
          type: transform
          expression: '{"has": hasattr(ctx, "secrets")}'
          end: true
    `);
    const r = await h.run('sec', {});
    expect(r.status).toBe('COMPLETED');
    expect(r.step('peek').output).toEqual({ has: false });
  });
});

describe('outputAggregation', () => {
  const parallel = (mode: string) => `
      id: agg-${mode}
      version: "1"
      name: Aggregation
      states:
        - name: fan
          type: parallel
          outputAggregation: ${mode}
          branches:
            - name: slow
              states:
                - {name: wait, type: operation, action: sleep, input: {seconds: 0.3}, next: out}
                - {name: out, type: operation, action: noop, input: {v: slow}, resultPath: $, end: true}
            - name: fast
              states:
                - {name: out, type: operation, action: noop, input: {v: fast}, resultPath: $, end: true}
          end: true
  `;

  it('parallel merge (default) is {branch: scope}; array lists scopes in branch order; first is the first branch to end', async () => {
    h = EngineHarness.create();
    for (const mode of ['merge', 'array', 'first']) await h.define(`agg-${mode}`, parallel(mode));
    const merge = await h.run('agg-merge', {});
    expect(merge.step('fan').output).toEqual({ slow: { v: 'slow' }, fast: { v: 'fast' } });
    const array = await h.run('agg-array', {});
    expect(array.step('fan').output).toEqual([{ v: 'slow' }, { v: 'fast' }]);
    const first = await h.run('agg-first', {});
    expect(first.status).toBe('COMPLETED');
    expect(first.step('fan').output).toEqual({ v: 'fast' });
  });

  it('foreach array is [{item, index, output}] in item order', async () => {
    h = EngineHarness.create();
    await h.define('each', `
      id: each
      version: "1"
      name: Each
      states:
        - name: loop
          type: foreach
          itemsPath: input.xs
          maxConcurrency: 3
          outputAggregation: array
          iterator:
            states:
              - {name: sq, type: transform, expression: 'item * item', resultPath: $, end: true}
          end: true
    `);
    const r = await h.run('each', { xs: [2, 3, 4] });
    expect(r.status).toBe('COMPLETED');
    expect(r.step('loop').output).toEqual([
      { item: 2, index: 0, output: { result: 4 } },
      { item: 3, index: 1, output: { result: 9 } },
      { item: 4, index: 2, output: { result: 16 } },
    ]);
  });
});

describe('outputSchema and state output mappings', () => {
  const wf = (compat: boolean) => `
      id: out-${compat ? 'compat' : 'ts'}
      version: "1"
      name: Output schema
      ${compat ? 'compat: station' : ''}
      outputSchema:
        type: object
        required: [status]
        properties: {status: {type: string}}
      states:
        - name: check
          type: operation
          action: noop
          input: {result: {status: "{{ input.status }}", code: 3}}
          output: {status: result.status, everything: ""}
          end: true
      output: {status: "{{ status }}", code: "{{ everything.result.code }}"}
  `;

  it('output mappings set context keys from the step output; a matching output passes', async () => {
    h = EngineHarness.create();
    await h.define('out-ts', wf(false));
    const r = await h.run('out-ts', { status: 'ok' });
    expect(r.status).toBe('COMPLETED');
    expect(r.context.status).toBe('ok');
    expect(r.output).toEqual({ status: 'ok', code: 3 });
  });

  it('a mismatch fails the run (STN_E_OUTPUT_INVALID); in compat mode it is a warning on a COMPLETED run', async () => {
    h = EngineHarness.create();
    await h.define('out-ts', wf(false));
    await h.define('out-compat', wf(true));
    const r = await h.run('out-ts', { status: 5 });
    expect(r.status).toBe('FAILED');
    expect(r.error?.code).toBe('STN_E_OUTPUT_INVALID');
    expect(r.error?.message).toMatch(/status/);
    const c = await h.run('out-compat', { status: 5 });
    expect(c.status).toBe('COMPLETED');
    const warning = c.events.find((e) => e.type === 'run:warning');
    expect(warning?.data.code).toBe('STN_E_OUTPUT_INVALID');
  });
});

describe('compat mode', () => {
  it('stores results under steps. as {...O, output: O}; the run output is the last top-level step output', async () => {
    h = EngineHarness.create();
    await h.define('records', `
      id: records
      version: "1"
      name: Records
      compat: station
      states:
        - name: health
          type: operation
          action: noop
          input: {error_rate: 0.2}
          next: scalar
        - name: scalar
          type: transform
          expression: 'steps.health.output.error_rate + health.error_rate'
          resultPath: steps.total
          next: last
        - name: last
          type: operation
          action: noop
          input: {rate: "{{ steps.health.error_rate }}", total: "{{ steps.total.output.result }}"}
          end: true
    `);
    const r = await h.run('records', {});
    expect(r.status).toBe('COMPLETED');
    const steps = r.context.steps as Record<string, unknown>;
    expect(steps.health).toEqual({ error_rate: 0.2, output: { error_rate: 0.2 } });
    expect(steps.total).toEqual({ result: 0.4, output: { result: 0.4 } });
    expect(r.step('health').output).toEqual({ error_rate: 0.2 });
    expect(r.output).toEqual({ rate: 0.2, total: 0.4 });
  });

  it('leaves a missing key in free text as written, with a step warning; other fields still fail', async () => {
    h = EngineHarness.create();
    await h.define('lenient', `
      id: lenient
      version: "1"
      name: Lenient
      compat: station
      states:
        - name: ask
          type: operation
          action: human.approval
          input: {message: "Restart {{ input.service }} reported at {{ alarm.reported_at }}?"}
          end: true
    `);
    const id = h.start('lenient', { service: 'api' });
    await h.waitFor(id, 'step:waiting');
    const r = h.result(id);
    expect(r.step('ask').input).toEqual({ message: 'Restart api reported at {{ alarm.reported_at }}?' });
    const warning = r.events.find((e) => e.type === 'step:warning');
    expect(warning?.data).toMatchObject({ state: 'ask', code: 'STN_E_EXPR_MISSING_KEY' });

    await h.define('strict', `
      id: strict
      version: "1"
      name: Strict
      states:
        - name: ask
          type: operation
          action: human.approval
          input: {message: "Restart {{ alarm.reported_at }}?"}
          end: true
    `);
    const s = await h.run('strict', {});
    expect(s.status).toBe('FAILED');
    expect(s.error?.code).toBe('STN_E_EXPR_MISSING_KEY');
  });
});
