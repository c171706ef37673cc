import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseMcpFile, type McpConfig } from '../../src/agents/mcp/config.js';
import { McpFailure } from '../../src/agents/mcp/errors.js';
import { McpHub } from '../../src/agents/mcp/hub.js';
import { startHttpMcpServer, type HttpMcpFixture } from '../fixtures/mcp/http-server.js';

let fixture: HttpMcpFixture;
let hub: McpHub;

beforeEach(async () => {
  fixture = await startHttpMcpServer();
  hub = new McpHub({ secret: (name) => (name === 'WEB_KEY' ? 'key-5678' : undefined) });
});

afterEach(async () => {
  await hub.close();
  await fixture.close();
});

function config(url = fixture.url, headers: Record<string, string> = { Authorization: 'Bearer {{ secrets.WEB_KEY }}' }): McpConfig {
  const parsed = parseMcpFile(`servers:\n  web:\n    url: ${url}\n    headers: ${JSON.stringify(headers)}\n    startTimeoutSeconds: 5\n`, 'environments/test/mcp.yaml');
  expect(parsed.problems).toEqual([]);
  return parsed.config as McpConfig;
}

const signal = (): AbortSignal => new AbortController().signal;

async function rejection(promise: Promise<unknown>): Promise<McpFailure> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(McpFailure);
    return err as McpFailure;
  }
  throw new Error('expected a rejection');
}

describe('MCP over Streamable HTTP', () => {
  it('lists and calls tools with the declared headers, secrets resolved, in one session', async () => {
    const box = hub.toolbox(config(), ['web/*']);
    expect((await box.list(signal())).map((t) => t.name).sort()).toEqual(['web__add', 'web__echo', 'web__fail', 'web__slow']);
    expect(await box.call('web__add', { a: 20, b: 22 }, signal())).toEqual({ ok: true, content: '42' });
    expect(await hub.toolbox(config(), ['web/echo']).call('web__echo', { text: 'hello' }, signal())).toEqual({ ok: true, content: 'hello' });
    expect(fixture.sessionsOpened).toBe(1);
    expect(fixture.requests.length).toBeGreaterThan(0);
    for (const headers of fixture.requests) expect(headers.authorization).toBe('Bearer key-5678');
  });

  it("gives a tool's own error back as a failed result", async () => {
    const box = hub.toolbox(config(), ['web/fail', 'web/add']);
    expect(await box.call('web__fail', {}, signal())).toEqual({ ok: false, content: 'http tool failed' });
    expect((await box.call('web__add', { a: 'x' }, signal())).ok).toBe(false);
  });

  it('opens a new session once when the server lost it, and the call answers', async () => {
    const box = hub.toolbox(config(), ['web/echo']);
    expect((await box.call('web__echo', { text: 'one' }, signal())).content).toBe('one');
    fixture.forgetSessions();
    expect(await box.call('web__echo', { text: 'two' }, signal())).toEqual({ ok: true, content: 'two' });
    expect(fixture.sessionsOpened).toBe(2);
  });

  it('a server that cannot be reached fails with STN_E_MCP_START, naming the server', async () => {
    const url = fixture.url;
    await fixture.close();
    const err = await rejection(hub.toolbox(config(url), ['web/*']).list(signal()));
    expect(err).toMatchObject({ code: 'STN_E_MCP_START', server: 'web', retryable: true });
    expect(err.message).toContain(`MCP server "web" could not be reached at ${url}`);
    fixture = await startHttpMcpServer(); // for afterEach
  });

  it('a missing header secret fails with STN_E_MCP_SECRET before any request', async () => {
    const err = await rejection(hub.toolbox(config(fixture.url, { 'X-Key': '{{ secrets.NOPE }}' }), ['web/*']).list(signal()));
    expect(err).toMatchObject({ code: 'STN_E_MCP_SECRET', server: 'web', retryable: false });
    expect(fixture.requests).toEqual([]);
  });

  it('an abort sends MCP cancellation for the request in flight', async () => {
    const box = hub.toolbox(config(), ['web/slow']);
    await box.list(signal());
    const controller = new AbortController();
    const call = rejection(box.call('web__slow', {}, controller.signal));
    await fixture.slowStarted;
    controller.abort();
    expect(await call).toMatchObject({ code: 'STN_E_ABORTED', retryable: false });
    expect(await fixture.cancelled).toMatch(/^\d+$/);
  });

  it('close() ends the HTTP session', async () => {
    await hub.toolbox(config(), ['web/*']).list(signal());
    await hub.close();
    expect(fixture.sessionsClosed).toBe(1);
  });
});
