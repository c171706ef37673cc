import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/definitions/types.js';
import { addressProblem } from '../../src/executors/egress.js';
import { httpRequest } from '../../src/executors/http-request.js';
import { DEFAULT_EXEC_POLICY, type EgressPolicy } from '../../src/executors/policy.js';
import type { ExecContext, ExecResult } from '../../src/executors/types.js';
import { ensureBuilt } from '../helpers/cli.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { expectHealthy } from '../helpers/security.js';
import { startServe, type ServeProc } from '../helpers/serve-proc.js';

/**
 * Issue #9 item 11: http.request follows redirects hop by hop within the egress policy. Two servers on 127.0.0.1 on
 * different ports are two origins: credential headers reach the first only; a redirect to the metadata address is
 * refused before any connection.
 */

interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
}

async function listen(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const API_SECRET = 'api-secret-7f3a9c1e5b';
const TRACE_SECRET = 'trace-secret-0d8e2b4f6a';
let origin: Awaited<ReturnType<typeof listen>>;
let other: Awaited<ReturnType<typeof listen>>;
let repo: GitRepo;
let daemon: ServeProc;

const redirect = (res: http.ServerResponse, status: number, location: string) => res.writeHead(status, { location }).end();

const workflow = (id: string, url: string) => `
id: ${id}
version: "1"
name: ${id}
states:
  - name: call
    type: operation
    action: http.request
    input:
      url: "${url}"
      headers:
        Authorization: "Bearer {{ secrets.API }}"
        X-Api-Key: literal-key-123
        Cookie: session=abc
        X-Custom-Token: tok
        X-Trace: "id {{ secrets.TRACE }}"
        X-Plain: hello
    end: true
`;

beforeAll(async () => {
  ensureBuilt();
  other = await listen((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"landed": "other"}'));
  origin = await listen((req, res) => {
    if (req.url === '/to-other') redirect(res, 302, `${other.url}/echo`);
    else if (req.url === '/to-same') redirect(res, 307, '/echo');
    else if (req.url === '/to-metadata') redirect(res, 302, 'http://169.254.169.254/latest/meta-data/iam/security-credentials/');
    else if (req.url === '/to-metadata-v6') redirect(res, 302, 'http://[fd00:ec2::254]/latest/meta-data/');
    else if (req.url === '/loop') redirect(res, 302, '/loop');
    else if (req.url === '/to-file') redirect(res, 302, 'file:///etc/passwd');
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"landed": "origin"}');
  });
  repo = createGitRepo('stn-egress-');
  repo.write('.gitignore', '.station/\n');
  for (const [id, p] of [
    ['cross', '/to-other'],
    ['same', '/to-same'],
    ['metadata', '/to-metadata'],
    ['metadata6', '/to-metadata-v6'],
    ['loop', '/loop'],
    ['scheme', '/to-file'],
  ] as const) {
    repo.write(`environments/default/workflows/${id}.workflow.yaml`, workflow(id, `${origin.url}${p}`));
  }
  repo.commit('fixtures');
  daemon = await startServe(repo.dir, { STN_SECRET_API: API_SECRET, STN_SECRET_TRACE: TRACE_SECRET }, ['--no-watch']);
});

afterAll(async () => {
  await daemon?.stop();
  await origin?.close();
  await other?.close();
  repo?.cleanup();
});

async function runToEnd(workflowId: string): Promise<{ status: string; steps: Array<{ status: string; output: { json?: unknown } | null; error: { code: string; message: string } | null }> }> {
  const res = await fetch(`${daemon.url}/api/v1/workflow-runs?wait=30`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ workflowId }),
  });
  expect(res.status).toBeLessThan(300);
  const { id } = (await res.json()) as { id: string };
  return (await (await fetch(`${daemon.url}/api/v1/workflow-runs/${id}`)).json()) as never;
}

describe('http.request egress, against a real daemon', () => {
  it('a cross-origin redirect is followed without Authorization, Cookie, X-Api-Key, *token* or secret-valued headers', async () => {
    const run = await runToEnd('cross');
    expect(run.status).toBe('COMPLETED');
    expect(run.steps[0]?.output?.json).toEqual({ landed: 'other' });
    const first = origin.seen.find((s) => s.url === '/to-other');
    expect(first?.headers).toMatchObject({ authorization: `Bearer ${API_SECRET}`, 'x-api-key': 'literal-key-123', cookie: 'session=abc', 'x-custom-token': 'tok' });
    const hop = other.seen.find((s) => s.url === '/echo');
    expect(hop).toBeDefined();
    for (const h of ['authorization', 'x-api-key', 'cookie', 'x-custom-token', 'x-trace']) expect(hop?.headers[h], h).toBeUndefined();
    expect(hop?.headers['x-plain']).toBe('hello');
    expect(hop?.headers['idempotency-key']).toMatch(/:1$/);
    await expectHealthy(daemon.url);
  });

  it('a same-origin redirect keeps the headers', async () => {
    const run = await runToEnd('same');
    expect(run.status).toBe('COMPLETED');
    const hop = origin.seen.filter((s) => s.url === '/echo').at(-1);
    expect(hop?.headers).toMatchObject({ authorization: `Bearer ${API_SECRET}`, 'x-api-key': 'literal-key-123' });
  });

  it('redirects to the metadata address (IPv4 and IPv6), to another scheme, or in a loop fail with STN_E_HTTP_EGRESS, at once', async () => {
    for (const [id, why] of [
      ['metadata', '169.254.169.254'],
      ['metadata6', 'fd00:ec2::254'],
      ['scheme', 'file:'],
      ['loop', 'more than 5 redirects'],
    ] as const) {
      const t0 = Date.now();
      const run = await runToEnd(id);
      expect(run.status, id).toBe('FAILED');
      expect(run.steps[0]?.error?.code, id).toBe('STN_E_HTTP_EGRESS');
      expect(run.steps[0]?.error?.message, id).toContain(why);
      // Refused before connecting: no connect timeout to an unroutable address.
      expect(Date.now() - t0, id).toBeLessThan(10_000);
    }
    expect(origin.seen.filter((s) => s.url === '/loop')).toHaveLength(6);
    await expectHealthy(daemon.url);
  });
});

function ctxFor(input: JsonValue, http: Partial<EgressPolicy>): ExecContext {
  return {
    runId: 'r',
    stepId: 's',
    attempt: 1,
    idempotencyKey: 'r:s:1',
    input,
    signal: new AbortController().signal,
    startedAt: Date.now(),
    timeoutMs: 10_000,
    repo: process.cwd(),
    now: () => Date.now(),
    logger: pino({ level: 'silent' }),
    policy: { ...DEFAULT_EXEC_POLICY, http: { ...DEFAULT_EXEC_POLICY.http, ...http } },
  };
}

const errorOf = (r: ExecResult) => (r.kind === 'error' ? r.error : undefined);

describe('the egress policy (station.yaml http:)', () => {
  it('denyPrivateNetworks refuses loopback by IP and by a name that resolves to it (checked on the resolved address)', async () => {
    const byIp = errorOf(await httpRequest.run(ctxFor({ url: `${origin.url}/echo` }, { denyPrivateNetworks: true })));
    expect(byIp).toMatchObject({ code: 'STN_E_HTTP_EGRESS', retryable: false });
    const port = new URL(origin.url).port;
    const before = origin.seen.length;
    const byName = errorOf(await httpRequest.run(ctxFor({ url: `http://localhost:${port}/echo` }, { denyPrivateNetworks: true })));
    expect(byName?.code).toBe('STN_E_HTTP_EGRESS');
    expect(byName?.message).toContain('localhost resolves to');
    expect(origin.seen.length).toBe(before);
  });

  it('allowHosts limits every hop, the redirect target included', async () => {
    const ok = await httpRequest.run(ctxFor({ url: `${origin.url}/echo` }, { allowHosts: ['127.0.0.1'] }));
    expect(ok.kind).toBe('ok');
    const off = errorOf(await httpRequest.run(ctxFor({ url: `${origin.url}/echo` }, { allowHosts: ['*.example.com'] })));
    expect(off?.message).toContain('not in http.allowHosts');
    const hop = errorOf(await httpRequest.run(ctxFor({ url: `http://localhost:${new URL(origin.url).port}/to-other` }, { allowHosts: ['localhost'] })));
    expect(hop).toMatchObject({ code: 'STN_E_HTTP_EGRESS' });
    expect(hop?.message).toContain('127.0.0.1 is not in http.allowHosts');
  });

  it('classifies addresses in every spelling', () => {
    const policy = { ...DEFAULT_EXEC_POLICY.http, denyPrivateNetworks: true };
    for (const a of ['169.254.169.254', '::ffff:169.254.169.254', '::ffff:a9fe:a9fe', 'fe80::1', 'fd00:ec2::254', '0.0.0.0', '100.100.100.200']) {
      expect(addressProblem(a, DEFAULT_EXEC_POLICY.http), a).toContain('always refused');
    }
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '::1', 'fd12::1', '::ffff:127.0.0.1']) {
      expect(addressProblem(a, DEFAULT_EXEC_POLICY.http), a).toBeUndefined();
      expect(addressProblem(a, policy), a).toContain('denyPrivateNetworks');
    }
    expect(addressProblem('93.184.216.34', policy)).toBeUndefined();
  });
});
