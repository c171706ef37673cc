import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/definitions/types.js';
import { HTTP_BODY_LIMIT, httpRequest } from '../../src/executors/http-request.js';
import type { ExecContext, ExecResult } from '../../src/executors/types.js';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let server: http.Server;
let base: string;
let received: Received[];

/**
 * Routes: /echo answers 200 with the request as JSON; /status/<n> answers n; /hang never answers; /big sends 1.5 MiB;
 * /redirect sends 302 to /echo; /cookies sets two cookies.
 */
function handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
  const url = req.url ?? '/';
  received.push({ method: req.method ?? '', url, headers: req.headers, body });
  const status = /^\/status\/(\d{3})/.exec(url);
  if (url.startsWith('/echo')) {
    res.writeHead(200, { 'Content-Type': 'application/json', 'X-Custom': 'Yes' });
    res.end(JSON.stringify({ method: req.method, url, body }));
  } else if (status) {
    res.writeHead(Number(status[1]), { 'Content-Type': 'text/plain' });
    res.end(`status ${status[1]} ${'x'.repeat(3000)}`);
  } else if (url === '/hang') {
    // Never answers: the executor's timeout or abort has to end the request.
  } else if (url === '/big') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('a'.repeat(HTTP_BODY_LIMIT + HTTP_BODY_LIMIT / 2));
  } else if (url === '/redirect') {
    res.writeHead(302, { Location: '/echo?from=redirect' });
    res.end();
  } else if (url === '/cookies') {
    res.writeHead(200, [
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
    ]);
    res.end('plain text');
  } else {
    res.writeHead(404);
    res.end();
  }
}

beforeEach(async () => {
  received = [];
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function makeCtx(input: JsonValue, overrides: Partial<ExecContext> = {}): ExecContext {
  return {
    runId: 'run-1',
    stepId: 'step-1',
    attempt: 1,
    idempotencyKey: 'run-1:step-1:1',
    input,
    signal: new AbortController().signal,
    startedAt: Date.now(),
    timeoutMs: undefined,
    repo: process.cwd(),
    now: () => Date.now(),
    logger: pino({ level: 'silent' }),
    ...overrides,
  };
}

function output(result: ExecResult): Record<string, JsonValue> {
  if (result.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return result.output as Record<string, JsonValue>;
}

function error(result: ExecResult) {
  if (result.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result.error;
}

function last(): Received {
  const req = received.at(-1);
  if (!req) throw new Error('the server received no request');
  return req;
}

describe('http.request', () => {
  it('sends a GET with query parameters, repeating arrays, and returns status, headers, body and json', async () => {
    const query = { a: ['1', 2], b: 'x y&z', t: true };
    const out = output(await httpRequest.run(makeCtx({ url: `${base}/echo?keep=1`, query })));
    expect(last().method).toBe('GET');
    expect(last().url).toBe('/echo?keep=1&a=1&a=2&b=x+y%26z&t=true');
    expect(out.status).toBe(200);
    expect(out.truncated).toBe(false);
    expect(out.headers).toMatchObject({ 'content-type': 'application/json', 'x-custom': 'Yes' });
    expect(out.json).toEqual({ method: 'GET', url: last().url, body: '' });
    expect(JSON.parse(String(out.body))).toEqual(out.json);
  });

  it('always sends Idempotency-Key and User-Agent: station', async () => {
    await httpRequest.run(makeCtx({ url: `${base}/echo` }));
    expect(last().headers['idempotency-key']).toBe('run-1:step-1:1');
    expect(last().headers['user-agent']).toBe('station');
  });

  it('POSTs json with its content type and the idempotency key', async () => {
    const json = { service: 'api', replicas: 3, tags: ['a'] };
    const out = output(await httpRequest.run(makeCtx({ method: 'POST', url: `${base}/echo`, json })));
    expect(out.status).toBe(200);
    expect(last()).toMatchObject({ method: 'POST', body: JSON.stringify(json) });
    expect(last().headers['content-type']).toBe('application/json');
    expect(last().headers['idempotency-key']).toBe('run-1:step-1:1');
  });

  it('keeps headers the input sets explicitly, whatever their case', async () => {
    const headers = { 'IDEMPOTENCY-KEY': 'mine', 'user-agent': 'deployer/1', 'Content-Type': 'text/csv', 'X-Token': 't' };
    await httpRequest.run(makeCtx({ method: 'PUT', url: `${base}/echo`, headers, body: 'a,b\n1,2\n' }));
    expect(last()).toMatchObject({ method: 'PUT', body: 'a,b\n1,2\n' });
    expect(last().headers).toMatchObject({
      'idempotency-key': 'mine',
      'user-agent': 'deployer/1',
      'content-type': 'text/csv',
      'x-token': 't',
    });
  });

  it('accepts the statuses of expectStatus, single or array', async () => {
    const single = output(await httpRequest.run(makeCtx({ url: `${base}/status/404`, expectStatus: 404 })));
    expect(single.status).toBe(404);
    const list = output(await httpRequest.run(makeCtx({ url: `${base}/status/202`, expectStatus: [200, 202] })));
    expect(list.status).toBe(202);

    const notListed = error(await httpRequest.run(makeCtx({ url: `${base}/status/201`, expectStatus: [200, 202, 204] })));
    expect(notListed).toMatchObject({ code: 'STN_E_HTTP_STATUS', retryable: false });
    expect(notListed.message).toBe(`GET ${base}/status/201 answered 201, expected 200, 202 or 204`);
    const other = error(await httpRequest.run(makeCtx({ url: `${base}/echo`, expectStatus: 201 })));
    expect(other.message).toBe(`GET ${base}/echo answered 200, expected 201`);
  });

  it('fails 503 as retryable, with the start of the body in the details', async () => {
    const err = error(await httpRequest.run(makeCtx({ method: 'POST', url: `${base}/status/503`, json: {} })));
    expect(err).toMatchObject({
      code: 'STN_E_HTTP_STATUS',
      message: `POST ${base}/status/503 answered 503, expected 2xx`,
      retryable: true,
    });
    const details = err.details as { status: number; body: string };
    expect(details.status).toBe(503);
    expect(details.body).toHaveLength(2048);
    expect(details.body.startsWith('status 503 xxx')).toBe(true);
  });

  it('retries 429 and 408 but not the other 4xx', async () => {
    for (const [status, retryable] of [
      [404, false],
      [400, false],
      [429, true],
      [408, true],
    ] as const) {
      const err = error(await httpRequest.run(makeCtx({ url: `${base}/status/${status}` })));
      expect(err, String(status)).toMatchObject({ code: 'STN_E_HTTP_STATUS', retryable });
    }
  });

  it('keeps the query and credentials out of failure messages', async () => {
    const url = base.replace('http://', 'http://user:pw@') + '/status/500?token=s3cret';
    const err = error(await httpRequest.run(makeCtx({ url, query: { key: 'hidden' } })));
    expect(err.message).toBe(`GET ${base}/status/500 answered 500, expected 2xx`);
  });

  it('sends URL credentials as Basic auth, unless an Authorization header is set', async () => {
    const url = base.replace('http://', 'http://deploy%40ci:p%3Ass@') + '/echo';
    output(await httpRequest.run(makeCtx({ url })));
    expect(last().headers.authorization).toBe(`Basic ${Buffer.from('deploy@ci:p:ss').toString('base64')}`);
    output(await httpRequest.run(makeCtx({ url, headers: { Authorization: 'Bearer tok' } })));
    expect(last().headers.authorization).toBe('Bearer tok');
  });

  it('times out a server that never answers', async () => {
    const started = Date.now();
    const err = error(await httpRequest.run(makeCtx({ url: `${base}/hang` }, { timeoutMs: 300 })));
    expect(err).toMatchObject({ code: 'STN_E_HTTP_TIMEOUT', retryable: true, message: `GET ${base}/hang timed out after 0.3s` });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('uses the input timeoutSeconds when it is shorter than the step timeout', async () => {
    const started = Date.now();
    const err = error(await httpRequest.run(makeCtx({ url: `${base}/hang`, timeoutSeconds: 1 }, { timeoutMs: 60_000 })));
    expect(err.code).toBe('STN_E_HTTP_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('treats an abort whose reason is a TimeoutError as a timeout', async () => {
    const err = error(await httpRequest.run(makeCtx({ url: `${base}/hang` }, { signal: AbortSignal.timeout(200) })));
    expect(err.code).toBe('STN_E_HTTP_TIMEOUT');
  });

  it('reports a refused connection as a retryable request failure', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const err = error(await httpRequest.run(makeCtx({ url: `http://127.0.0.1:${port}/x` })));
    expect(err).toMatchObject({ code: 'STN_E_HTTP_REQUEST', retryable: true, details: { errno: 'ECONNREFUSED' } });
    expect(err.message).toContain(`GET http://127.0.0.1:${port}/x failed`);
  });

  it('stops the request when ctx.signal aborts, as STN_E_ABORTED', async () => {
    const controller = new AbortController();
    const running = httpRequest.run(makeCtx({ url: `${base}/hang` }, { signal: controller.signal }));
    await waitFor(() => received.length === 1);
    const started = Date.now();
    controller.abort(new Error('run cancelled'));
    const err = error(await running);
    expect(err).toMatchObject({ code: 'STN_E_ABORTED', retryable: false, message: `GET ${base}/hang aborted: run cancelled` });
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('sends nothing when ctx.signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const err = error(await httpRequest.run(makeCtx({ url: `${base}/echo` }, { signal: controller.signal })));
    expect(err.code).toBe('STN_E_ABORTED');
    expect(received).toHaveLength(0);
  });

  it('follows redirects', async () => {
    const out = output(await httpRequest.run(makeCtx({ url: `${base}/redirect` })));
    expect(out.status).toBe(200);
    expect(out.json).toMatchObject({ url: '/echo?from=redirect' });
    expect(last().headers['idempotency-key']).toBe('run-1:step-1:1');
  });

  it('keeps the first 1 MiB of the body and flags the truncation', async () => {
    const out = output(await httpRequest.run(makeCtx({ url: `${base}/big` })));
    expect(out.truncated).toBe(true);
    expect(out.body).toHaveLength(HTTP_BODY_LIMIT);
    expect(out).not.toHaveProperty('json');
  });

  it('returns repeated headers joined and no json for a text body', async () => {
    const out = output(await httpRequest.run(makeCtx({ url: `${base}/cookies` })));
    expect(out.headers).toMatchObject({ 'set-cookie': 'a=1, b=2' });
    expect(out.body).toBe('plain text');
    expect(out).not.toHaveProperty('json');
  });

  it('refuses a body on GET as a request failure that retries cannot fix', async () => {
    const err = error(await httpRequest.run(makeCtx({ url: `${base}/echo`, body: 'x' })));
    expect(err).toMatchObject({ code: 'STN_E_HTTP_REQUEST', retryable: false });
    expect(received).toHaveLength(0);
  });
});

async function waitFor(check: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
