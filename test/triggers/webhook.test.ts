import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TriggerStore } from '../../src/store/triggers.js';
import { signBody } from '../../src/triggers/signature.js';
import { WebhookHandler, type WebhookRequest, type WebhookResponse } from '../../src/triggers/webhook.js';
import { EngineHarness } from '../helpers/engine-harness.js';

const SECRET = 'hook-secret-0b6f7c';
const ENV = { HOOK_SECRET: SECRET };

const DEPLOY = `
  id: deploy
  version: "1"
  name: Deploy
  inputSchema:
    type: object
    required: [service, replicas]
    additionalProperties: false
    properties:
      service: {type: string, minLength: 1}
      replicas: {type: integer, minimum: 1}
      source: {type: string}
  triggers:
    - type: webhook
      name: github
      secretEnv: HOOK_SECRET
      input: {service: "{{ body.repository.name }}", replicas: "{{ body.replicas }}"}
    - {type: webhook, name: plain, input: "{{ body }}"}
    - type: webhook
      name: mapped
      dedupeHeader: X-Request-Id
      input: {service: "{{ query.svc }}", replicas: 2, source: "{{ headers['x-source'] }}"}
    - {type: webhook, name: off, enabled: false}
    - {type: webhook, name: unset, secretEnv: NOT_SET_ANYWHERE}
    - {type: cron, name: nightly, schedule: "0 3 * * *"}
  states:
    - {name: go, type: operation, action: noop, input: {service: "{{ service }}"}, end: true}
`;

const ECHO = `
  id: echo
  version: "1"
  name: Echo
  triggers:
    - {type: webhook, name: all, input: {headers: "{{ headers }}", query: "{{ query }}", body: "{{ body }}"}}
    - {type: webhook, name: raw}
  states:
    - {name: go, type: operation, action: noop, end: true}
`;

let h: EngineHarness;
let handler: WebhookHandler;

beforeEach(async () => {
  h = EngineHarness.create({ env: ENV });
  h.writeWorkflow('deploy', DEPLOY);
  h.writeWorkflow('echo', ECHO);
  await h.sync();
  handler = new WebhookHandler({ station: h.station, env: ENV });
});

afterEach(async () => {
  await h.close();
});

function request(trigger: string, body: unknown, headers: WebhookRequest['headers'] = {}, over: Partial<WebhookRequest> = {}): WebhookRequest {
  const rawBody = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return {
    environment: 'default',
    workflowId: 'deploy',
    trigger,
    rawBody,
    headers: { 'content-type': 'application/json', ...headers },
    query: {},
    ...over,
  };
}

function signed(trigger: string, body: unknown, headers: WebhookRequest['headers'] = {}): WebhookRequest {
  const req = request(trigger, body, headers);
  req.headers['x-hub-signature-256'] = `sha256=${signBody(req.rawBody, SECRET)}`;
  return req;
}

function runCount(): number {
  return h.station.db.prepare('SELECT COUNT(*) FROM workflow_runs').pluck().get() as number;
}

/** The error of a refused delivery, which has the API's one error shape: {error: {code, message, details}}. */
function errorOf(res: WebhookResponse): { code: string; message: string; details: Record<string, unknown> | null } {
  expect(Object.keys(res.body)).toEqual(['error']);
  const error = (res.body as { error: { code: string; message: string; details: Record<string, unknown> | null } }).error;
  expect(Object.keys(error).sort()).toEqual(['code', 'details', 'message']);
  return error;
}

const GOOD = { repository: { name: 'api' }, replicas: 3 };

describe('webhook triggers', () => {
  it('a GitHub-signed delivery starts a run with the mapped input, which completes', async () => {
    const res = handler.handle(signed('github', GOOD, { 'x-github-delivery': 'd-1' }));
    expect(res.status).toBe(202);
    expect(res.outcome).toBe('accepted');
    const runId = (res.body as { runId: string }).runId;
    const result = await h.waitForEnd(runId);
    expect(result.status).toBe('COMPLETED');
    expect(JSON.parse(result.run.input)).toEqual({ service: 'api', replicas: 3 });
    expect(JSON.parse(result.run.trigger)).toEqual({ type: 'webhook', name: 'github', deliveryId: 'd-1' });
    expect(result.run.initiator).toBe('webhook:github');
    expect(result.step('go').output).toEqual({ service: 'api' });
  });

  it('accepts the generic X-Signature header (with or without sha256=)', () => {
    const a = request('github', GOOD);
    a.headers['x-signature'] = signBody(a.rawBody, SECRET);
    expect(handler.handle(a).status).toBe(202);
    const b = request('github', GOOD);
    b.headers['x-signature'] = `sha256=${signBody(b.rawBody, SECRET)}`;
    expect(handler.handle(b).status).toBe(202);
    expect(runCount()).toBe(2);
  });

  it('answers a wrong or missing signature like an unknown trigger (404, same body) and starts nothing', () => {
    const unknown = handler.handle(request('no-such-trigger', GOOD));
    expect(unknown.status).toBe(404);
    const wrong = request('github', GOOD, { 'x-hub-signature-256': `sha256=${signBody(Buffer.from(JSON.stringify(GOOD)), 'guess')}` });
    const r1 = handler.handle(wrong);
    expect(r1.status).toBe(404);
    expect(r1.outcome).toBe('unauthorized');
    expect(r1.body).toEqual(unknown.body);
    const tampered = signed('github', GOOD);
    const forged = { ...tampered, rawBody: Buffer.from(JSON.stringify({ ...GOOD, replicas: 99 })) };
    expect(handler.handle(forged).status).toBe(404);
    const missing = handler.handle(request('github', GOOD));
    expect(missing.status).toBe(404);
    expect(errorOf(missing).code).toBe('STN_E_NOT_FOUND');
    expect(runCount()).toBe(0);
  });

  it('refuses every delivery (never unsigned) when the secret variable is not set in the daemon, answering like an unknown trigger', () => {
    const res = handler.handle(request('unset', GOOD, { 'x-signature': signBody(Buffer.from(JSON.stringify(GOOD)), '') }));
    expect(res.status).toBe(404);
    expect(res.outcome).toBe('error');
    expect(errorOf(res).code).toBe('STN_E_NOT_FOUND');
    expect(errorOf(res).message).not.toContain('NOT_SET_ANYWHERE');
    expect(runCount()).toBe(0);
  });

  it('a redelivery answers 200 with the first run and starts no second run', () => {
    const first = handler.handle(signed('github', GOOD, { 'x-github-delivery': 'abc-123' }));
    expect(first.status).toBe(202);
    const again = handler.handle(signed('github', GOOD, { 'x-github-delivery': 'abc-123' }));
    expect(again).toEqual({ status: 200, body: { runId: (first.body as { runId: string }).runId, duplicate: true }, outcome: 'duplicate' });
    const other = handler.handle(signed('github', GOOD, { 'x-github-delivery': 'abc-124' }));
    expect(other.status).toBe(202);
    expect(runCount()).toBe(2);
    const stored = new TriggerStore(h.station.db).delivery({ environment: 'default', workflowId: 'deploy', trigger: 'github' }, 'abc-123');
    expect(stored?.run_id).toBe((first.body as { runId: string }).runId);
  });

  it('dedupes on Idempotency-Key when there is no X-GitHub-Delivery, and on a custom dedupeHeader', () => {
    const a = handler.handle(request('plain', { service: 's', replicas: 1 }, { 'idempotency-key': 'k1' }));
    const b = handler.handle(request('plain', { service: 's', replicas: 1 }, { 'idempotency-key': 'k1' }));
    expect(b.status).toBe(200);
    expect(b.body.runId).toBe(a.body.runId);
    const q = { svc: 'web' };
    const c = handler.handle(request('mapped', {}, { 'x-request-id': 'r-9', 'x-source': 'ci' }, { query: q }));
    const d = handler.handle(request('mapped', {}, { 'x-request-id': 'r-9', 'x-source': 'ci' }, { query: q }));
    expect(c.status).toBe(202);
    expect(d.status).toBe(200);
    expect(d.body.runId).toBe(c.body.runId);
    // With its own dedupeHeader, Idempotency-Key is not a delivery id for that trigger.
    const e = handler.handle(request('mapped', {}, { 'idempotency-key': 'k1', 'x-source': 'ci' }, { query: q }));
    const f = handler.handle(request('mapped', {}, { 'idempotency-key': 'k1', 'x-source': 'ci' }, { query: q }));
    expect(e.body.runId).not.toBe(f.body.runId);
    expect(JSON.parse(h.runRow(c.body.runId as string).input)).toEqual({ service: 'web', replicas: 2, source: 'ci' });
  });

  it('without a delivery id header, every request starts a run', () => {
    handler.handle(request('plain', { service: 's', replicas: 1 }));
    handler.handle(request('plain', { service: 's', replicas: 1 }));
    expect(runCount()).toBe(2);
  });

  it('a redelivery through another process on the same database gets the first run', () => {
    const other = h.openAnother();
    const second = new WebhookHandler({ station: other.station, env: ENV });
    const a = handler.handle(signed('github', GOOD, { 'x-github-delivery': 'shared' }));
    const b = second.handle(signed('github', GOOD, { 'x-github-delivery': 'shared' }));
    expect(a.status).toBe(202);
    expect(b.status).toBe(200);
    expect(b.body.runId).toBe(a.body.runId);
    expect(runCount()).toBe(1);
  });

  it('answers 404 for an unknown environment, workflow or trigger, a switched-off trigger and a cron trigger', () => {
    const cases: Array<Partial<WebhookRequest>> = [
      { environment: 'prod' },
      { workflowId: 'nope' },
      { trigger: 'nope' },
      { trigger: 'off' },
      { trigger: 'nightly' },
    ];
    for (const over of cases) {
      const res = handler.handle({ ...request('plain', GOOD), ...over });
      expect(res.status, JSON.stringify(over)).toBe(404);
      expect(errorOf(res).code).toBe('STN_E_NOT_FOUND');
    }
    expect(runCount()).toBe(0);
  });

  it('answers 404 once the definition is disabled (its file deleted)', async () => {
    expect(handler.handle(request('raw', {}, {}, { workflowId: 'echo' })).status).toBe(202);
    fs.rmSync(path.join(h.dir, 'environments/default/workflows/echo.workflow.yaml'));
    await h.sync();
    expect(h.station.definitions.definition('default', 'echo')?.status).toBe('disabled');
    expect(handler.handle(request('raw', {}, {}, { workflowId: 'echo' })).status).toBe(404);
  });

  it('answers 422 listing every inputSchema violation, and starts nothing', () => {
    const res = handler.handle(request('plain', { replicas: 0, extra: true }));
    expect(res.status).toBe(422);
    const err = errorOf(res);
    expect(err.code).toBe('STN_E_INPUT_INVALID');
    const errors = (err.details as { errors: Array<{ path: string; message: string; missing?: string; field?: string }> }).errors;
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ missing: 'service' }),
        expect.objectContaining({ field: 'extra' }),
        expect.objectContaining({ path: '/replicas' }),
      ]),
    );
    expect(errors).toHaveLength(3);
    expect(runCount()).toBe(0);
  });

  it('answers 422 when the input mapping reads a key the request does not have', () => {
    const res = handler.handle(signed('github', { replicas: 1 }));
    expect(res.status).toBe(422);
    expect(errorOf(res).code).toBe('STN_E_EXPR_MISSING_KEY');
    expect(errorOf(res).message).toContain('repository');
    expect(runCount()).toBe(0);
  });

  it('answers 400 to a body that claims to be JSON but is not', () => {
    const res = handler.handle(signed('github', '{"repository": '));
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('STN_E_USAGE');
  });

  it('templates see body, headers (without credentials) and query; form bodies become fields', () => {
    const res = handler.handle(
      request('all', 'a=1&b=two', { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Bearer tok', 'x-custom': 'v' }, { workflowId: 'echo', query: { q: 'x', many: ['1', '2'] } }),
    );
    expect(res.status).toBe(202);
    const input = JSON.parse(h.runRow(res.body.runId as string).input) as { headers: Record<string, string>; query: unknown; body: unknown };
    expect(input.body).toEqual({ a: '1', b: 'two' });
    expect(input.query).toEqual({ q: 'x', many: ['1', '2'] });
    expect(input.headers['x-custom']).toBe('v');
    expect(input.headers.authorization).toBeUndefined();
  });

  it('without an input mapping, a JSON object body is the input; other bodies are wrapped; none is {}', () => {
    const obj = handler.handle(request('raw', { a: 1 }, {}, { workflowId: 'echo' }));
    const text = handler.handle(request('raw', 'hello', { 'content-type': 'text/plain' }, { workflowId: 'echo' }));
    const empty = handler.handle(request('raw', Buffer.alloc(0), {}, { workflowId: 'echo' }));
    expect(JSON.parse(h.runRow(obj.body.runId as string).input)).toEqual({ a: 1 });
    expect(JSON.parse(h.runRow(text.body.runId as string).input)).toEqual({ body: 'hello' });
    expect(JSON.parse(h.runRow(empty.body.runId as string).input)).toEqual({});
  });

  it('never stores the secret', () => {
    handler.handle(signed('github', GOOD, { 'x-github-delivery': 'd' }));
    handler.handle(request('github', GOOD));
    expect(h.locate(SECRET)).toEqual([]);
  });
});
