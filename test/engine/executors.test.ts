import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineHarness, fakeClock } from '../helpers/engine-harness.js';
import { EXECUTORS } from '../../src/executors/registry.js';

/** The executors as steps of real runs. */

let h: EngineHarness;
let server: http.Server | undefined;

afterEach(async () => {
  await h.close();
  if (server) await new Promise<void>((resolve) => server?.close(() => resolve()));
  server = undefined;
});

describe('shell.exec', () => {
  it('parses JSON stdout into output.json', async () => {
    h = EngineHarness.create();
    await h.define('json', `
      id: json
      version: "1"
      name: JSON
      states:
        - name: query
          type: operation
          action: shell.exec
          input: {command: [sh, -c, 'printf "{\\"pods\\": [\\"a\\", \\"b\\"], \\"ready\\": %s}" "$1"', sh, "{{ input.ready }}"]}
          next: use
        - name: use
          type: operation
          action: noop
          input: {first: "{{ steps.query.json.pods[0] }}", ready: "{{ steps.query.json.ready }}"}
          end: true
    `);
    const r = await h.run('json', { ready: 'true' });
    expect(r.status).toBe('COMPLETED');
    expect(r.step('query').output).toMatchObject({ exitCode: 0, stderr: '', json: { pods: ['a', 'b'], ready: true } });
    expect(r.step('use').output).toEqual({ first: 'a', ready: true });
  });

  it('a non-zero exit fails the step and the run, with the exit code and stderr', async () => {
    h = EngineHarness.create();
    await h.define('exit', `
      id: exit
      version: "1"
      name: Exit
      states:
        - name: check
          type: operation
          action: shell.exec
          input: {command: [sh, -c, 'echo partial; echo "disk full" >&2; exit 3']}
          next: after
        - {name: after, type: operation, action: noop, end: true}
    `);
    const r = await h.run('exit');
    expect(r.status).toBe('FAILED');
    const step = r.step('check');
    expect(step.status).toBe('FAILED');
    expect(step.error).toMatchObject({
      code: 'STN_E_SHELL_EXIT',
      action: 'shell.exec',
      attempt: 1,
      details: { exitCode: 3, stdout: 'partial\n', stderr: 'disk full\n' },
    });
    expect(step.error?.message).toContain('disk full');
    expect(r.error?.code).toBe('STN_E_SHELL_EXIT');
    expect(r.steps.some((s) => s.state_name === 'after')).toBe(false);
  });

  it('passes STN_IDEMPOTENCY_KEY = run_id:step_id:attempt', async () => {
    h = EngineHarness.create();
    await h.define('key', `
      id: key
      version: "1"
      name: Key
      states:
        - name: show
          type: operation
          action: shell.exec
          input: {command: [sh, -c, 'printf %s "$STN_IDEMPOTENCY_KEY"']}
          end: true
    `);
    const id = h.start('key');
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    const step = r.step('show');
    expect((step.output as { stdout: string }).stdout).toBe(`${id}:${step.id}:1`);
  });
});

describe('http.request', () => {
  it('sends the Idempotency-Key header to a real server and outputs the response', async () => {
    const seen: Array<{ method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }> = [];
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ created: true }));
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;

    h = EngineHarness.create();
    await h.define('hook', `
      id: hook
      version: "1"
      name: Hook
      states:
        - name: call
          type: operation
          action: http.request
          input:
            method: POST
            url: "{{ input.url }}"
            query: {env: prod}
            json: {service: "{{ input.service }}"}
          end: true
    `);
    const id = h.start('hook', { url: `http://127.0.0.1:${port}/deploy`, service: 'api' });
    const r = await h.waitForEnd(id);

    expect(r.status).toBe('COMPLETED');
    const step = r.step('call');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.method).toBe('POST');
    expect(seen[0]?.url).toBe('/deploy?env=prod');
    expect(seen[0]?.headers['idempotency-key']).toBe(`${id}:${step.id}:1`);
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ service: 'api' });
    expect(step.output).toMatchObject({ status: 201, json: { created: true } });
  });
});

describe('http.request failures', () => {
  async function serve(handler: http.RequestListener): Promise<string> {
    server = http.createServer(handler);
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }

  it('a 503 is retried with a new Idempotency-Key per attempt, then the 200 is the output', async () => {
    const keys: string[] = [];
    const url = await serve((req, res) => {
      keys.push(String(req.headers['idempotency-key']));
      res.writeHead(keys.length === 1 ? 503 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ n: keys.length }));
    });
    h = EngineHarness.create();
    await h.define('retry-http', `
      id: retry-http
      version: "1"
      name: Retry HTTP
      states:
        - name: call
          type: operation
          action: http.request
          input: {url: "{{ input.url }}"}
          retry: {maxAttempts: 3, backoffSeconds: 0}
          end: true
    `);
    const id = h.start('retry-http', { url });
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    const step = r.step('call');
    expect(keys).toEqual([`${id}:${step.id}:1`, `${id}:${step.id}:2`]);
    expect(step.output).toMatchObject({ status: 200, json: { n: 2 } });
    expect(r.events.find((e) => e.type === 'step:retrying')?.data).toMatchObject({ error: { code: 'STN_E_HTTP_STATUS' } });
  });

  it('a server that never answers hits the step timeout (TIMED_OUT, STN_E_STEP_TIMEOUT)', async () => {
    const url = await serve(() => undefined);
    h = EngineHarness.create();
    await h.define('hang-http', `
      id: hang-http
      version: "1"
      name: Hanging HTTP
      states:
        - name: call
          type: operation
          action: http.request
          timeoutSeconds: 1
          input: {url: "{{ input.url }}"}
          end: true
    `);
    const r = await h.run('hang-http', { url });
    expect(r.status).toBe('FAILED');
    expect(r.step('call').status).toBe('TIMED_OUT');
    expect(r.step('call').error?.code).toBe('STN_E_STEP_TIMEOUT');
    server?.closeAllConnections();
  });
});

describe('fail', () => {
  it('fails the step and the run with the given message and code', async () => {
    h = EngineHarness.create();
    await h.define('boom', `
      id: boom
      version: "1"
      name: Boom
      states:
        - name: explode
          type: operation
          action: fail
          input: {message: "rollback test for {{ input.who }}", code: E_ROLLBACK_TEST}
          end: true
    `);
    const r = await h.run('boom', { who: 'sre' });
    expect(r.status).toBe('FAILED');
    expect(r.step('explode').status).toBe('FAILED');
    expect(r.step('explode').error).toMatchObject({ code: 'E_ROLLBACK_TEST', message: 'rollback test for sre', state: 'explode' });
    expect(r.error).toMatchObject({ code: 'E_ROLLBACK_TEST', message: 'rollback test for sre' });
    expect(r.events.map((e) => e.type).slice(-2)).toEqual(['step:failed', 'run:failed']);
  });
});

describe('sleep', () => {
  it('is a durable timer: the run waits until the fake clock passes the deadline', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    await h.define('nap', `
      id: nap
      version: "1"
      name: Nap
      states:
        - name: wait
          type: operation
          action: sleep
          input: {seconds: 600}
          next: after
        - {name: after, type: operation, action: noop, end: true}
    `);
    const t0 = clock.t;
    const id = h.start('nap');
    await h.waitFor(id, (e) => e.type === 'step:waiting' && e.data.state === 'wait');
    const wake = h.station.db.prepare("SELECT run_at FROM workflow_tasks WHERE run_id = ? AND kind = 'wake'").pluck().all(id);
    expect(wake).toEqual([t0 + 600_000]);

    h.advance(clock, 600_000 - 1);
    await h.barrier();
    expect(h.runRow(id).status).toBe('RUNNING');
    expect(h.result(id).step('wait').status).toBe('RUNNING');
    expect(h.result(id).steps.some((s) => s.state_name === 'after')).toBe(false);

    h.advance(clock, 1);
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    expect(r.step('wait').output).toEqual({});
    expect(r.step('wait').status).toBe('SUCCEEDED');
    expect(Date.parse(r.step('wait').finished_at ?? '')).toBe(t0 + 600_000);
  });
});

describe('signal.wait', () => {
  const SIGNALS = `
    id: signals
    version: "1"
    name: Signals
    states:
      - name: first
        type: operation
        action: signal.wait
        input: {name: go}
        next: second
      - name: second
        type: operation
        action: signal.wait
        input: {name: data}
        end: true
  `;

  it('a signal delivered while the step waits completes it; its payload is the step output', async () => {
    h = EngineHarness.create();
    await h.define('signals', SIGNALS);
    const id = h.start('signals');
    await h.waitFor(id, (e) => e.type === 'step:waiting' && e.data.state === 'first');
    expect(h.runRow(id).status).toBe('WAITING_SIGNAL');
    expect(h.result(id).step('first').status).toBe('WAITING_SIGNAL');

    h.station.runs.signal(id, 'go', { approvedBy: 'alice' });
    await h.waitFor(id, (e) => e.type === 'step:waiting' && e.data.state === 'second');
    // The wait began in the same transaction as the step before it completed: the run still shows it waits.
    expect(h.runRow(id).status).toBe('WAITING_SIGNAL');
    h.station.runs.signal(id, 'data', [1, 2, 3]);
    const r = await h.waitForEnd(id);

    expect(r.status).toBe('COMPLETED');
    expect(r.step('first').output).toEqual({ approvedBy: 'alice' });
    expect(r.step('second').output).toEqual([1, 2, 3]);
    expect(r.context.steps).toEqual({ first: { approvedBy: 'alice' }, second: [1, 2, 3] });
    expect(r.events.filter((e) => e.type === 'signal:received').map((e) => e.data.name)).toEqual(['go', 'data']);
  });

  it('a signal delivered before the step waits is kept for it', async () => {
    h = EngineHarness.create();
    await h.define('signals', SIGNALS);
    const id = h.start('signals');
    await h.waitFor(id, (e) => e.type === 'step:waiting' && e.data.state === 'first');

    // `data` arrives while the run still waits for `go`: it is buffered for the later step.
    h.station.runs.signal(id, 'data', { early: true });
    await h.waitFor(id, (e) => e.type === 'signal:received' && e.data.name === 'data');
    expect(h.runRow(id).status).toBe('WAITING_SIGNAL');
    h.station.runs.signal(id, 'go', null);
    const r = await h.waitForEnd(id);

    expect(r.status).toBe('COMPLETED');
    expect(r.step('first').output).toBeNull();
    expect(r.step('second').output).toEqual({ early: true });
  });

  it('a signal sent before the run even started is kept', async () => {
    h = EngineHarness.create({ startEngine: false });
    await h.define('signals', SIGNALS);
    const id = h.start('signals');
    h.station.runs.signal(id, 'data', 'second payload');
    h.station.runs.signal(id, 'go', 'first payload');
    h.engine.start();
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('COMPLETED');
    expect(r.step('first').output).toBe('first payload');
    expect(r.step('second').output).toBe('second payload');
  });

  it('times out with STN_E_SIGNAL_TIMEOUT when the fake clock passes timeoutSeconds', async () => {
    const clock = fakeClock();
    h = EngineHarness.create({ engine: { clock } });
    await h.define('approval-ish', `
      id: approval-ish
      version: "1"
      name: Wait with timeout
      states:
        - name: gate
          type: operation
          action: signal.wait
          input: {name: go, timeoutSeconds: 300}
          end: true
    `);
    const id = h.start('approval-ish');
    await h.waitFor(id, (e) => e.type === 'step:waiting');

    h.advance(clock, 299_000);
    await h.barrier();
    expect(h.runRow(id).status).toBe('WAITING_SIGNAL');

    h.advance(clock, 1_000);
    const r = await h.waitForEnd(id);
    expect(r.status).toBe('FAILED');
    expect(r.step('gate').status).toBe('FAILED');
    expect(r.step('gate').error?.code).toBe('STN_E_SIGNAL_TIMEOUT');
    expect(r.step('gate').error?.message).toContain('go');
    expect(r.error?.code).toBe('STN_E_SIGNAL_TIMEOUT');
  });
});

describe('workflow.run', () => {
  it("starts a linked child run whose output becomes the step's output", async () => {
    h = EngineHarness.create();
    h.writeWorkflow('child', `
      id: child
      version: "1"
      name: Child
      states:
        - name: work
          type: operation
          action: noop
          input: {doubled: "{{ input.n * 2 }}"}
          end: true
      output: {result: "{{ steps.work.doubled }}", who: "{{ run.workflowId }}"}
    `);
    await h.define('parent', `
      id: parent
      version: "1"
      name: Parent
      states:
        - name: call
          type: operation
          action: workflow.run
          input: {workflow: child, input: {n: "{{ input.n }}"}}
          next: after
        - name: after
          type: operation
          action: noop
          input: {got: "{{ steps.call.result }}"}
          end: true
    `);
    const id = h.start('parent', { n: 21 });
    const r = await h.waitForEnd(id);

    expect(r.status).toBe('COMPLETED');
    const children = h.station.runStore.childRuns(id);
    expect(children).toHaveLength(1);
    const child = children[0];
    expect(child?.workflow_id).toBe('child');
    expect(child?.status).toBe('COMPLETED');
    expect(child?.parent_run_id).toBe(id);
    expect(child?.parent_step_id).toBe(r.step('call').id);
    expect(child?.root_run_id).toBe(id);
    expect(JSON.parse(child?.input ?? '')).toEqual({ n: 21 });
    expect(r.step('call').output).toEqual({ result: 42, who: 'child' });
    expect(r.step('after').output).toEqual({ got: 42 });
  });

  it('a failing child run fails the parent step with STN_E_CHILD_RUN_FAILED', async () => {
    h = EngineHarness.create();
    h.writeWorkflow('bad-child', `
      id: bad-child
      version: "1"
      name: Bad child
      states:
        - {name: explode, type: operation, action: fail, input: {message: child broke}, end: true}
    `);
    await h.define('parent', `
      id: parent
      version: "1"
      name: Parent
      states:
        - name: call
          type: operation
          action: workflow.run
          input: {workflow: bad-child}
          end: true
    `);
    const id = h.start('parent');
    const r = await h.waitForEnd(id);

    expect(r.status).toBe('FAILED');
    const child = h.station.runStore.childRuns(id)[0];
    expect(child?.status).toBe('FAILED');
    const step = r.step('call');
    expect(step.status).toBe('FAILED');
    expect(step.error?.code).toBe('STN_E_CHILD_RUN_FAILED');
    expect(step.error?.message).toContain(child?.id ?? 'no child');
    expect(step.error?.details).toMatchObject({ runId: child?.id, status: 'FAILED', error: { message: 'child broke' } });
    expect(r.error?.code).toBe('STN_E_CHILD_RUN_FAILED');
  });
});

describe('actions without an executor', () => {
  it('an action this build has no executor for fails with STN_E_EXECUTOR_MISSING naming the action', async () => {
    const { 'agent.run': _, ...without } = EXECUTORS;
    h = EngineHarness.create({ engine: { executors: without } });
    await h.define('agent', `
      id: agent
      version: "1"
      name: Agent
      states:
        - name: ask
          type: operation
          action: agent.run
          input: {agent: triage}
          end: true
    `);
    const r = await h.run('agent');
    expect(r.status).toBe('FAILED');
    expect(r.step('ask').status).toBe('FAILED');
    expect(r.step('ask').error?.code).toBe('STN_E_EXECUTOR_MISSING');
    expect(r.step('ask').error?.message).toContain('agent.run');
    expect(r.error?.code).toBe('STN_E_EXECUTOR_MISSING');
  });
});
