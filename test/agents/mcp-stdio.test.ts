import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseMcpFile, type McpConfig } from '../../src/agents/mcp/config.js';
import { McpFailure } from '../../src/agents/mcp/errors.js';
import { McpHub } from '../../src/agents/mcp/hub.js';
import { pollUntil, PROJECT_ROOT } from '../helpers/procs.js';

const SERVER = path.join(PROJECT_ROOT, 'test', 'fixtures', 'mcp', 'stdio-server.mjs');
const SECRETS: Record<string, string> = { FIXTURE_TOKEN: 'tok-1234-secret' };

let dir: string;
let hub: McpHub;
let pidsFile: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-mcp-'));
  pidsFile = path.join(dir, 'pids');
  hub = new McpHub({ secret: (name) => SECRETS[name], repo: dir });
});

afterEach(async () => {
  await hub.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** An mcp.yaml with one stdio server `fx` running the fixture, read through the real parser. */
function config(extra: { env?: Record<string, string>; startTimeoutSeconds?: number; callTimeoutSeconds?: number; command?: string } = {}): McpConfig {
  const server = {
    command: extra.command ?? process.execPath,
    args: [SERVER],
    env: { FIXTURE_PIDS_FILE: pidsFile, FIXTURE_STATE_DIR: dir, ...extra.env },
    ...(extra.startTimeoutSeconds !== undefined ? { startTimeoutSeconds: extra.startTimeoutSeconds } : {}),
    ...(extra.callTimeoutSeconds !== undefined ? { callTimeoutSeconds: extra.callTimeoutSeconds } : {}),
  };
  const parsed = parseMcpFile(JSON.stringify({ servers: { fx: server } }), 'environments/test/mcp.yaml');
  expect(parsed.problems).toEqual([]);
  return parsed.config as McpConfig;
}

const signal = (): AbortSignal => new AbortController().signal;

function startedPids(): number[] {
  return fs.existsSync(pidsFile) ? fs.readFileSync(pidsFile, 'utf8').trim().split('\n').filter(Boolean).map(Number) : [];
}

/** Whether a process runs (a zombie, dead but not yet reaped by its new parent, does not count). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return !fs.existsSync('/proc/self'); // no /proc (macOS): kill(0) is all there is
  }
}

/** Waits for a process to be gone (it was signalled; the kernel and Node reap it). */
function gone(pid: number): Promise<true> {
  return pollUntil(`process ${pid} to end`, () => (alive(pid) ? undefined : true), 10_000, 20);
}

/** Waits until the fixture's `slow` tool runs (it writes a file in the state folder when it starts). */
function slowStarted(): Promise<true> {
  return pollUntil('the slow tool to start', () => (fs.existsSync(path.join(dir, 'slow-started')) ? true : undefined), 10_000, 10);
}

async function rejection(promise: Promise<unknown>): Promise<McpFailure> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(McpFailure);
    return err as McpFailure;
  }
  throw new Error('expected a rejection');
}

describe('MCP over stdio', () => {
  it('lists the allowed tools under model-facing names and calls them', async () => {
    const box = hub.toolbox(config(), ['fx/*']);
    const tools = await box.list(signal());
    const byName = new Map(tools.map((t) => [t.qualifiedName, t]));
    expect(byName.get('fx/add')).toMatchObject({ name: 'fx__add', description: 'Adds two numbers' });
    expect(byName.get('fx/add')?.parameters).toMatchObject({ type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } });
    for (const t of tools) expect(t.name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);

    expect(await box.call('fx__add', { a: 2, b: 3 }, signal())).toEqual({ ok: true, content: '5' });
    expect(await box.call('fx__echo', { text: 'hi' }, signal())).toEqual({ ok: true, content: 'hi' });
    const long = tools.find((t) => t.qualifiedName.startsWith('fx/ns.a.tool'));
    expect(long?.name).toMatch(/^fx__ns_a_tool_.*_[0-9a-f]{8}$/);
    expect(await box.call(long?.name as string, {}, signal())).toEqual({ ok: true, content: 'long name ok' });
    expect(startedPids()).toHaveLength(1);
  });

  it('applies the allowlist: other tools are neither listed nor callable', async () => {
    const box = hub.toolbox(config(), ['fx/echo', 'fx/fail']);
    expect((await box.list(signal())).map((t) => t.name).sort()).toEqual(['fx__echo', 'fx__fail']);
    const refused = await box.call('fx__add', { a: 1, b: 2 }, signal());
    expect(refused.ok).toBe(false);
    expect(refused.content).toMatch(/unknown tool "fx__add"/);
    // A toolbox that was never listed lists before its first call.
    expect(await hub.toolbox(config(), ['fx/echo']).call('fx__echo', { text: 'x' }, signal())).toEqual({ ok: true, content: 'x' });
  });

  it("gives a tool's own error and bad arguments back as a failed result", async () => {
    const box = hub.toolbox(config(), ['fx/*']);
    expect(await box.call('fx__fail', { message: 'boom' }, signal())).toEqual({ ok: false, content: 'failed: boom' });
    const bad = await box.call('fx__add', { a: 'one', b: 2 }, signal());
    expect(bad.ok).toBe(false);
    expect(bad.content).toMatch(/a/);
    expect(await box.call('fx__add', [1, 2], signal())).toMatchObject({ ok: false, content: expect.stringMatching(/JSON object/) as unknown });
    // The server is still the first one: tool errors do not restart it.
    expect(await box.call('fx__add', { a: 1, b: 1 }, signal())).toEqual({ ok: true, content: '2' });
    expect(startedPids()).toHaveLength(1);
  });

  it('shares one started server between steps and concurrent calls', async () => {
    const cfg = config();
    const calls = Array.from({ length: 20 }, (_, i) => hub.toolbox(cfg, ['fx/echo']).call('fx__echo', { text: `n${i}` }, signal()));
    const results = await Promise.all(calls);
    expect(results.map((r) => r.content)).toEqual(Array.from({ length: 20 }, (_, i) => `n${i}`));
    const pid1 = (await hub.toolbox(cfg, ['fx/pid']).call('fx__pid', {}, signal())).content;
    const pid2 = (await hub.toolbox(config(), ['fx/pid']).call('fx__pid', {}, signal())).content;
    expect(pid2).toBe(pid1);
    expect(startedPids()).toEqual([Number(pid1)]);
    expect(hub.starts()).toEqual({ 'environments/test/mcp.yaml#fx': 1 });
  });

  it("starts the server with a minimal environment plus its declared env, secrets resolved", async () => {
    process.env.H2_DAEMON_ONLY_VARIABLE = 'daemon-credential';
    try {
      const box = hub.toolbox(config({ env: { FIXTURE_TOKEN: 'Bearer {{ secrets.FIXTURE_TOKEN }}', LITERAL: 'plain' } }), ['fx/env']);
      const env = JSON.parse((await box.call('fx__env', {}, signal())).content) as Record<string, string>;
      expect(env.FIXTURE_TOKEN).toBe('Bearer tok-1234-secret');
      expect(env.LITERAL).toBe('plain');
      expect(env.PATH).toBe(process.env.PATH);
      expect(env.H2_DAEMON_ONLY_VARIABLE).toBeUndefined();
      expect(Object.keys(env).filter((k) => k.startsWith('VITEST'))).toEqual([]);
    } finally {
      delete process.env.H2_DAEMON_ONLY_VARIABLE;
    }
  });

  it('fails with STN_E_MCP_SECRET, naming the server and secret, when a secret is missing; nothing starts', async () => {
    const box = hub.toolbox(config({ env: { TOKEN: '{{ secrets.NOT_THERE }}' } }), ['fx/*']);
    const err = await rejection(box.list(signal()));
    expect(err).toMatchObject({ code: 'STN_E_MCP_SECRET', server: 'fx', retryable: false });
    expect(err.message).toMatch(/"fx".*"NOT_THERE"/);
    expect(startedPids()).toEqual([]);
  });

  it('fails with STN_E_MCP_CONFIG when the allowlist names a server mcp.yaml does not declare', async () => {
    const err = await rejection(hub.toolbox(config(), ['fx/*', 'other/tool']).list(signal()));
    expect(err).toMatchObject({ code: 'STN_E_MCP_CONFIG', server: 'other', retryable: false });
    expect(err.message).toContain('environments/test/mcp.yaml');
  });

  it('restarts a server that crashed during a call once, then fails retryably; the next user restarts it', async () => {
    const box = hub.toolbox(config(), ['fx/*']);
    const err = await rejection(box.call('fx__crash', {}, signal()));
    expect(err).toMatchObject({ code: 'STN_E_MCP_CRASHED', server: 'fx', retryable: true });
    expect(err.message).toMatch(/MCP server "fx" exited \(exit code 3\) during the call of tool "crash", again after a restart/);
    const [first, second] = startedPids();
    expect(startedPids()).toHaveLength(2);
    expect(alive(first as number) || alive(second as number)).toBe(false);
    expect(await box.call('fx__echo', { text: 'back' }, signal())).toEqual({ ok: true, content: 'back' });
    expect(startedPids()).toHaveLength(3);
  });

  it('a server that crashes once is restarted and the call answers', async () => {
    const box = hub.toolbox(config(), ['fx/flaky']);
    const result = await box.call('fx__flaky', {}, signal());
    const pids = startedPids();
    expect(pids).toHaveLength(2);
    expect(result).toEqual({ ok: true, content: `recovered in ${pids[1]}` });
  });

  it('a server that does not answer initialize in time: its group is killed, STN_E_MCP_TIMEOUT (retryable)', async () => {
    const box = hub.toolbox(config({ env: { FIXTURE_MODE: 'hang' }, startTimeoutSeconds: 0.5 }), ['fx/*']);
    const err = await rejection(box.list(signal()));
    expect(err).toMatchObject({ code: 'STN_E_MCP_TIMEOUT', server: 'fx', retryable: true });
    expect(err.message).toMatch(/MCP server "fx" did not answer initialize within 0.5s; its process group was killed/);
    const [pid] = startedPids();
    expect(alive(pid as number)).toBe(false);
  });

  it('a server that does not answer tools/list in time: STN_E_MCP_TIMEOUT, its group killed', async () => {
    // Long enough for node to start and answer initialize on a loaded machine; tools/list then never answers.
    const box = hub.toolbox(config({ env: { FIXTURE_MODE: 'hang-list' }, startTimeoutSeconds: 5 }), ['fx/*']);
    const err = await rejection(box.call('fx__echo', { text: 'x' }, signal()));
    expect(err).toMatchObject({ code: 'STN_E_MCP_TIMEOUT', server: 'fx', retryable: true });
    expect(err.message).toMatch(/did not answer tools\/list within 5s; its process group was killed/);
    await gone(startedPids()[0] as number);
  });

  it('a server that cannot start fails with STN_E_MCP_START, its stderr in the message with secrets masked', async () => {
    const missing = await rejection(hub.toolbox(config({ command: path.join(dir, 'no-such-program') }), ['fx/*']).list(signal()));
    expect(missing).toMatchObject({ code: 'STN_E_MCP_START', server: 'fx', retryable: true });
    expect(missing.message).toMatch(/command not found/);

    const other = new McpHub({ secret: (name) => SECRETS[name], repo: dir });
    try {
      const exits = config({ env: { FIXTURE_MODE: 'exit', FIXTURE_TOKEN: '{{ secrets.FIXTURE_TOKEN }}' } });
      const err = await rejection(other.toolbox(exits, ['fx/*']).list(signal()));
      expect(err).toMatchObject({ code: 'STN_E_MCP_START', retryable: true });
      expect(err.message).toMatch(/exited \(exit code 1\) before answering initialize; stderr: fixture: cannot start, token is \*\*\*/);
      expect(err.message).not.toContain('tok-1234-secret');
    } finally {
      await other.close();
    }
  });

  it('a call that outlives its timeout: the group is killed, STN_E_MCP_TIMEOUT', async () => {
    const box = hub.toolbox(config({ callTimeoutSeconds: 0.3 }), ['fx/*']);
    const pid = Number((await box.call('fx__pid', {}, signal())).content);
    const err = await rejection(box.call('fx__slow', { ms: 60_000 }, signal()));
    expect(err).toMatchObject({ code: 'STN_E_MCP_TIMEOUT', retryable: true });
    expect(err.message).toMatch(/did not answer the call of tool "slow" within 0.3s; its process group was killed/);
    await gone(pid);
  });

  it('an abort (cancel) stops the call at once and kills the process group, grandchildren included', async () => {
    const box = hub.toolbox(config(), ['fx/*']);
    const pid = Number((await box.call('fx__pid', {}, signal())).content);
    const grandchild = Number((await box.call('fx__child', {}, signal())).content);
    expect(alive(grandchild)).toBe(true);
    const controller = new AbortController();
    const call = rejection(box.call('fx__slow', { ms: 60_000 }, controller.signal));
    await slowStarted();
    controller.abort();
    const err = await call;
    expect(err).toMatchObject({ code: 'STN_E_ABORTED', retryable: false });
    await gone(pid);
    await gone(grandchild);
    // The next user starts it again.
    expect(await box.call('fx__echo', { text: 'again' }, signal())).toEqual({ ok: true, content: 'again' });
  });

  it('a call whose step was already cancelled sends nothing and leaves the server running', async () => {
    const box = hub.toolbox(config(), ['fx/*']);
    const pid = Number((await box.call('fx__pid', {}, signal())).content);
    const controller = new AbortController();
    controller.abort();
    expect(await rejection(box.call('fx__echo', { text: 'x' }, controller.signal))).toMatchObject({ code: 'STN_E_ABORTED' });
    expect(await box.call('fx__pid', {}, signal())).toEqual({ ok: true, content: String(pid) });
  });

  it('a step timeout aborting the call is a retryable STN_E_MCP_TIMEOUT', async () => {
    const box = hub.toolbox(config(), ['fx/*']);
    await box.list(signal());
    const controller = new AbortController();
    const call = rejection(box.call('fx__slow', { ms: 60_000 }, controller.signal));
    await slowStarted();
    controller.abort(new DOMException('step timeout', 'TimeoutError'));
    expect(await call).toMatchObject({ code: 'STN_E_MCP_TIMEOUT', retryable: true });
  });

  it('close() leaves no process behind', async () => {
    const box = hub.toolbox(config(), ['fx/*']);
    const pid = Number((await box.call('fx__pid', {}, signal())).content);
    const grandchild = Number((await box.call('fx__child', {}, signal())).content);
    const slow = rejection(box.call('fx__slow', { ms: 60_000 }, signal()));
    await hub.close();
    expect(alive(pid)).toBe(false);
    await gone(grandchild);
    // A call in flight at shutdown, and any call after it, are aborted (the engine decides what happens next).
    expect(await slow).toMatchObject({ code: 'STN_E_ABORTED', server: 'fx', retryable: false });
    expect(await rejection(box.call('fx__echo', { text: 'x' }, signal()))).toMatchObject({ code: 'STN_E_ABORTED', retryable: false });
  });
});
