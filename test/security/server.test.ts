import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { parseRawAnswer, rawRequest, rawStream, slowConnection } from '../helpers/raw-http.js';
import { expectHealthy } from '../helpers/security.js';
import { startServe, until, type ServeProc } from '../helpers/serve-proc.js';
import { workflowPath } from '../helpers/workflow.js';

/**
 * The attacks of the hardening audit on the HTTP server, replayed against a real `stn serve` on loopback. A second
 * and third client are the addresses 127.0.0.2 and 127.0.0.3 (Linux routes all of 127/8 to loopback), so per-client
 * limits can be told apart from global ones. The daemons run with smaller limits than the defaults (same
 * mechanisms) so that timeouts pass within seconds.
 */

const GATED = `id: gated
version: "1"
name: Gated
states:
  - {name: first, type: operation, action: noop, next: gate}
  - {name: gate, type: operation, action: signal.wait, input: {name: go}, next: last}
  - {name: last, type: operation, action: noop, end: true}
`;

const HOOKED = `id: hooked
version: "1"
name: Hooked
triggers:
  - {type: webhook, name: alert, secretEnv: HOOK_SECRET}
states:
  - {name: ack, type: operation, action: noop, end: true}
`;

/** What a webhook trigger answers a request without a valid signature: the same as an unknown trigger. */
const UNSIGNED = 404;
const ATTACKER = '127.0.0.2';
const THIRD = '127.0.0.3';

function fixtureRepo(stationYaml: string): GitRepo {
  const repo = createGitRepo('stn-sec-server-');
  repo.write('.gitignore', '.station/\n');
  repo.write('station.yaml', stationYaml);
  repo.write(workflowPath('default', 'gated'), GATED);
  repo.write(workflowPath('default', 'hooked'), HOOKED);
  repo.commit('fixtures');
  return repo;
}

/** CPU seconds (user + system) the process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const json = <T>(text: string) => JSON.parse(text) as T;

beforeAll(() => {
  ensureBuilt();
});

describe('a daemon without API tokens (the `npm start` default)', () => {
  let repo: GitRepo;
  let d: ServeProc;
  let port: string;

  beforeAll(async () => {
    repo = fixtureRepo(`server:
  limits:
    headersTimeoutSeconds: 2
    requestTimeoutSeconds: 3
    maxBodiesPerClient: 8
    maxStreams: 200
    maxStreamsPerClient: 100
  rateLimits:
    webhooks: {max: 20, windowSeconds: 60}
`);
    d = await startServe(repo.dir, { HOOK_SECRET: 'hook-secret' }, ['--no-watch']);
    port = new URL(d.url).port;
  });
  afterAll(async () => {
    await d?.stop();
    repo?.cleanup();
  });

  const startGated = async (): Promise<string> => {
    const r = await fetch(`${d.url}/api/v1/workflow-runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflowId: 'gated' }) });
    expect(r.status).toBe(201);
    return ((await r.json()) as { id: string }).id;
  };

  it('300 slow-loris connections from one address: cut by the timeouts and caps, while other clients are served', async () => {
    const t0 = Date.now();
    // Half never finish their headers; half announce a 100 kB body and send 5 bytes of it.
    const slowHeaders = [];
    for (let i = 0; i < 150; i++) slowHeaders.push(await slowConnection(d.url, `POST /api/v1/workflow-runs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: `, ATTACKER));
    const slowBodies = [];
    for (let i = 0; i < 150; i++) {
      slowBodies.push(
        await slowConnection(
          d.url,
          `POST /api/v1/workflow-runs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"wo`,
          ATTACKER,
        ),
      );
    }
    const opened = Date.now() - t0;

    // While the attacker holds its connections: the API answers, and another client can start a run.
    await expectHealthy(d.url);
    expect(await startGated()).toMatch(/./);
    // The attacker itself cannot send one more body.
    const more = await rawRequest(d.url, { method: 'POST', path: '/api/v1/workflow-runs', headers: { 'content-type': 'application/json' }, body: '{"workflowId":"gated"}', localAddress: ATTACKER }).catch(
      (err: Error) => ({ status: 0, headers: {}, body: err.message }),
    );
    expect(more.status).toBe(429);
    expect(json<{ error: { code: string } }>(more.body).error.code).toBe('STN_E_CLIENT_LIMIT');

    const ends = await Promise.all([...slowHeaders, ...slowBodies].map((c) => c.closed));
    const answers = ends.map((e) => parseRawAnswer(e.answer));
    // Every connection was closed by the server with an answer: 408 (timeout) or 429 (over a per-client cap).
    for (const a of answers) expect([`408 STN_E_REQUEST_TIMEOUT`, `429 STN_E_CLIENT_LIMIT`]).toContain(`${a.status} ${a.code}`);
    const timedOut = answers.filter((a) => a.status === 408).length;
    const refused = answers.filter((a) => a.status === 429).length;
    // The slow headers time out; of the slow bodies at most maxBodiesPerClient were ever being received.
    expect(answers.slice(0, 150).every((a) => a.status === 408)).toBe(true);
    expect(answers.slice(150).filter((a) => a.status === 408).length).toBeLessThanOrEqual(8);
    expect(refused).toBeGreaterThanOrEqual(142);
    expect(timedOut + refused).toBe(300);
    // All within the request timeout (3 s) plus the 1 s check interval and the time it took to open them.
    expect(Math.max(...ends.map((e) => e.afterMs))).toBeLessThan(opened + 3_000 + 1_000 + 3_000);
    await until(() => d.logs().find((l) => l.code === 'STN_E_REQUEST_TIMEOUT' && l.client === ATTACKER), 5_000, 'a log line naming the client');
    await expectHealthy(d.url);
  });

  it('event streams are capped per client and in all, and are woken by events instead of polling SQLite', async () => {
    const runId = await startGated();
    const path = `/api/v1/workflow-runs/${runId}/stream`;
    const streams = [];
    for (let i = 0; i < 100; i++) streams.push(await rawStream(d.url, path));
    for (let i = 0; i < 100; i++) streams.push(await rawStream(d.url, path, ATTACKER));
    expect(streams.every((s) => s.status === 200)).toBe(true);

    const perClient = await rawStream(d.url, path);
    expect([perClient.status, perClient.code]).toEqual([429, 'STN_E_CLIENT_LIMIT']);
    const overall = await rawStream(d.url, path, THIRD);
    expect([overall.status, overall.code]).toEqual([503, 'STN_E_SERVER_BUSY']);
    const busy = await rawRequest(d.url, { path, localAddress: THIRD });
    expect(Number(busy.headers['retry-after'])).toBeGreaterThan(0);

    // 200 idle streams cost (next to) nothing: one shared check of SQLite's data version, not 200 queries per tick
    // (measured on a loaded 2-core machine: about 6 % of a core with a poll per stream, under 1 % now).
    await new Promise((r) => setTimeout(r, 500));
    const pid = d.proc.pid as number;
    const cpu0 = cpuSeconds(pid);
    const wall0 = performance.now();
    await new Promise((r) => setTimeout(r, 3_000));
    const share = (cpuSeconds(pid) - cpu0) / ((performance.now() - wall0) / 1000);
    expect(share, `daemon CPU share with 200 idle streams: ${(share * 100).toFixed(1)} %`).toBeLessThan(0.03);

    // One event wakes every stream at once.
    const signalled = Date.now();
    const r = await fetch(`${d.url}/api/v1/workflow-runs/${runId}/signals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'go' }) });
    expect(r.status).toBe(202);
    await Promise.all(streams.map((s) => s.ended));
    expect(Date.now() - signalled).toBeLessThan(3_000);
    expect(streams.every((s) => s.text().includes('"run:completed"'))).toBe(true);
    // The caps count open streams: once they ended, a new one is admitted.
    const again = await rawStream(d.url, `/api/v1/workflow-runs/${await startGated()}/stream`, THIRD);
    expect(again.status).toBe(200);
    again.close();
    await expectHealthy(d.url);
  });

  it('refuses DNS rebinding (a foreign Host) and web pages (an Origin) with 403, and changes nothing', async () => {
    const runs = async () => ((await (await fetch(`${d.url}/api/v1/workflow-runs?limit=500`)).json()) as { items: unknown[] }).items.length;
    const before = await runs();
    const start = { method: 'POST', path: '/api/v1/workflow-runs', headers: { 'content-type': 'application/json' } as Record<string, string>, body: '{"workflowId":"gated"}' };

    for (const req of [start, { path: '/api/v1/workflow-runs', headers: {} as Record<string, string> }]) {
      const rebound = await rawRequest(d.url, { ...req, headers: { ...req.headers, host: `evil.example:${port}` } });
      expect(rebound.status).toBe(403);
      expect(json<{ error: { code: string; details: { host: string } } }>(rebound.body).error).toMatchObject({ code: 'STN_E_HOST_REFUSED', details: { host: `evil.example:${port}` } });
      const crossSite = await rawRequest(d.url, { ...req, headers: { ...req.headers, origin: 'http://evil.example' } });
      expect(crossSite.status).toBe(403);
      expect(json<{ error: { code: string } }>(crossSite.body).error.code).toBe('STN_E_ORIGIN_REFUSED');
    }
    expect(await runs()).toBe(before);

    // Loopback names are served.
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'localhost']) {
      expect((await rawRequest(d.url, { path: '/api/v1/workflow-runs', headers: { host } })).status, host).toBe(200);
    }
    // The signed routes are authenticated by their signature, not the Host (a tunnel forwards another one).
    const hook = await rawRequest(d.url, { method: 'POST', path: '/api/v1/hooks/default/hooked/alert', headers: { host: 'abc.tunnel.example', 'content-type': 'application/json' }, body: '{}' });
    expect(hook.status).toBe(UNSIGNED);
    expect(d.logs().some((l) => l.code === 'STN_E_HOST_REFUSED' && l.client === '127.0.0.1')).toBe(true);
    await expectHealthy(d.url);
  });

  it('a webhook flood from one address gets 429 with Retry-After; other senders are still served', async () => {
    const send = (localAddress?: string) =>
      rawRequest(d.url, { method: 'POST', path: '/api/v1/hooks/default/hooked/alert', headers: { 'content-type': 'application/json' }, body: '{"x":1}', localAddress: localAddress ?? THIRD });
    const answers = [];
    for (let i = 0; i < 40; i++) answers.push(await send());
    const statuses = answers.map((a) => a.status);
    // The flood is unsigned: the first 20 (server.rateLimits.webhooks.max) are checked and refused, the rest not even that.
    expect(statuses.slice(0, 20).every((s) => s === UNSIGNED)).toBe(true);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
    const limited = answers[39]!;
    expect(json<{ error: { code: string } }>(limited.body).error.code).toBe('STN_E_RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await send(ATTACKER)).status).toBe(UNSIGNED);
    await expectHealthy(d.url);
  });
});

describe('a daemon with API tokens', () => {
  const TOKEN = 'tok-viewer-7f3a9c';
  let repo: GitRepo;
  let d: ServeProc;

  beforeAll(async () => {
    repo = fixtureRepo(`server:
  tokens:
    - {name: dash, role: viewer, env: TEST_VIEWER_TOKEN}
`);
    d = await startServe(repo.dir, { TEST_VIEWER_TOKEN: TOKEN, HOOK_SECRET: 'hook-secret' }, ['--no-watch']);
  });
  afterAll(async () => {
    await d?.stop();
    repo?.cleanup();
  });

  const get = (path: string, token?: string, localAddress?: string) =>
    rawRequest(d.url, { path, headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, localAddress });

  it('guessing tokens gets 429 with Retry-After after server.rateLimits.authFailures, logged with the address and never the token', async () => {
    const guesses = Array.from({ length: 25 }, (_, i) => `guess-${i}-${'x'.repeat(8)}`);
    const statuses = [];
    for (const g of guesses) statuses.push((await get('/api/v1/workflow-runs', g)).status);
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
    // Blocked: even the right token is not told apart from a wrong one, from that address.
    const blocked = await get('/api/v1/workflow-runs', TOKEN);
    expect(blocked.status).toBe(429);
    expect(json<{ error: { code: string } }>(blocked.body).error.code).toBe('STN_E_RATE_LIMITED');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Other clients are not affected; public probes neither.
    expect((await get('/api/v1/workflow-runs', TOKEN, ATTACKER)).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
    // A client retrying one stale token is logged, not locked out: it counts once.
    for (let i = 0; i < 30; i++) expect((await get('/api/v1/workflow-runs', 'stale-token-1234', THIRD)).status).toBe(401);

    const failures = d.logs().filter((l) => l.msg === 'authentication failed');
    expect(failures.some((l) => l.client === '127.0.0.1' && typeof l.token_fingerprint === 'string')).toBe(true);
    expect(failures.some((l) => l.client === THIRD)).toBe(true);
    expect(d.logs().some((l) => l.code === 'STN_E_RATE_LIMITED' && l.client === '127.0.0.1')).toBe(true);
    const logText = JSON.stringify(d.logs());
    for (const secret of [...guesses, 'stale-token-1234', TOKEN]) expect(logText).not.toContain(secret);
    await expectHealthy(d.url);
  });

  it('/readyz without a token says degraded and a reason code, never the sync error text', async () => {
    // Break the checkout so that a sync fails inside Git (a new commit whose root tree object is gone), and restart:
    // the daemon's first sync fails and it keeps serving the definitions it has.
    repo.write(workflowPath('default', 'late'), GATED.replace('id: gated', 'id: late'));
    repo.commit('late');
    const tree = repo.git('rev-parse', 'HEAD^{tree}');
    fs.rmSync(`${repo.dir}/.git/objects/${tree.slice(0, 2)}/${tree.slice(2)}`);
    await d.stop();
    d = await startServe(repo.dir, { TEST_VIEWER_TOKEN: TOKEN }, ['--no-watch']);

    const open = await get('/readyz');
    expect(open.status).toBe(200);
    const body = json<{ status: string; checks: { lastSync: Record<string, unknown> } }>(open.body);
    expect(body.status).toBe('degraded');
    expect(body.checks.lastSync).toMatchObject({ status: 'error', reason: 'sync_failed' });
    expect(body.checks.lastSync).not.toHaveProperty('error');
    expect(open.body).not.toContain(tree);
    expect(open.body).not.toContain(repo.dir);

    // A token holder sees the text, as does GET /api/v1/sync/status.
    const withToken = json<{ checks: { lastSync: { error: string } } }>((await get('/readyz', TOKEN)).body);
    expect(withToken.checks.lastSync.error).toMatch(/\S/);
    const status = json<{ syncs: Array<{ error: string | null }> }>((await get('/api/v1/sync/status', TOKEN)).body);
    expect(status.syncs[0]?.error).toBe(withToken.checks.lastSync.error);
    await expectHealthy(d.url);
  });
});
