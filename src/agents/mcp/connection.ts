/**
 * One MCP server of one mcp.yaml, as the hub keeps it: started on first use, shared by every step that uses it,
 * restarted by the next user after it died. A session is one started process (or one HTTP session) with its client
 * and its tool list.
 */
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError, ToolListChangedNotificationSchema, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import pkg from '../../../package.json' with { type: 'json' };
import type { JsonValue } from '../../definitions/types.js';
import { formatSeconds, stopReasonFromSignal } from '../../executors/stopping.js';
import type { Logger } from '../../log.js';
import type { ToolOutcome } from '../types.js';
import { resolveValues, type McpServerConfig } from './config.js';
import { McpFailure } from './errors.js';
import { ProcessGroupStdioTransport } from './stdio-transport.js';

/** What every connection of a hub shares. */
export interface ConnectionContext {
  secret: (name: string) => string | undefined;
  /** Relative `cwd`s are resolved against it. */
  repo: string;
  /** The daemon's variables a stdio server gets (before its own `env`). */
  baseEnv: Record<string, string>;
  logger: Logger | undefined;
}

interface Session {
  client: Client;
  transport: Transport;
  /** Set once the transport closed (the process exited, or the session was closed). */
  closed: boolean;
  tools: Promise<Tool[]> | undefined;
  /** Secret values the session was started with: masked in error messages. */
  secrets: string[];
  /** Stops the session: kills a stdio server's process group (resolves once it exited), closes an HTTP session. */
  stop(): Promise<void>;
}

/** How a failed request is treated. */
type Failure = 'tool' | 'timeout' | 'crashed';

/** How long closing an HTTP session (its DELETE request) may take at shutdown. */
const HTTP_CLOSE_MS = 2_000;

export class McpServerConnection {
  /** How many times a session was started (for tests and logs). */
  starts = 0;
  private live: Session | undefined;
  private starting: Promise<Session> | undefined;
  private readonly stopping = new Set<Promise<void>>();
  private closed = false;

  constructor(
    readonly config: McpServerConfig,
    private readonly ctx: ConnectionContext,
  ) {}

  get name(): string {
    return this.config.name;
  }

  /** The server's tools (listed once per session). Restarts a server that died once, like a call. */
  async tools(signal: AbortSignal): Promise<Tool[]> {
    for (let attempt = 0; ; attempt++) {
      const session = await this.ready(signal);
      session.tools ??= this.listTools(session);
      try {
        return await abortable(session.tools, signal, () => this.aborted(signal, 'tools/list'));
      } catch (err) {
        if (!(err instanceof McpFailure) || err.code !== 'STN_E_MCP_CRASHED' || attempt > 0) throw err;
      }
    }
  }

  /**
   * Calls a tool. Its own errors resolve `{ok: false}`; a server that dies during the call is restarted and the call
   * made once more; a timeout or a second crash rejects (retryable). An abort sends MCP cancellation, and a stdio
   * server's process group is killed (the tool may not stop on its own; the next user restarts the server).
   */
  async call(tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<ToolOutcome> {
    for (let attempt = 0; ; attempt++) {
      const session = await this.ready(signal);
      // Aborted while the server started: nothing was sent, so nothing needs stopping.
      if (signal.aborted) throw this.aborted(signal, `tool "${tool}"`);
      try {
        const result = (await session.client.callTool({ name: tool, arguments: args }, undefined, {
          signal,
          timeout: this.config.callTimeoutMs,
        })) as CallToolResult;
        return { ok: result.isError !== true, content: resultText(result) };
      } catch (err) {
        if (signal.aborted) {
          if (this.config.transport === 'stdio') void this.retire(session);
          throw this.aborted(signal, `tool "${tool}"`);
        }
        const kind = classify(err, session, this.config);
        if (kind === 'tool') return { ok: false, content: errorText(err) };
        if (kind === 'timeout') {
          void this.retire(session);
          throw this.failure('STN_E_MCP_TIMEOUT', `did not answer the call of tool "${tool}" within ${formatSeconds(this.config.callTimeoutMs)}${this.killedNote()}`, err);
        }
        await this.retire(session);
        if (this.closed) throw this.shutDown();
        if (attempt > 0) {
          throw this.failure('STN_E_MCP_CRASHED', `${this.endedText(session)} during the call of tool "${tool}", again after a restart${this.stderrNote(session)}`, err);
        }
        this.ctx.logger?.warn({ server: this.name, tool }, 'MCP server ended during a tool call: restarting it once');
      }
    }
  }

  /** Stops the server for good (daemon shutdown); resolves once its processes are gone. */
  async close(): Promise<void> {
    this.closed = true;
    const starting = this.starting;
    if (starting) await starting.then((s) => this.retire(s)).catch(() => undefined);
    if (this.live) await this.retire(this.live);
    await Promise.all([...this.stopping]);
  }

  /** The live session, or a new one (one start shared by every caller waiting for it). */
  private ready(signal: AbortSignal): Promise<Session> {
    if (this.closed) return Promise.reject(this.shutDown());
    if (this.live && !this.live.closed) return Promise.resolve(this.live);
    if (!this.starting) {
      const starting = this.start().finally(() => {
        if (this.starting === starting) this.starting = undefined;
      });
      this.starting = starting;
    }
    // A caller that gives up waiting does not stop the start: others may be waiting for it.
    return abortable(this.starting, signal, () => this.aborted(signal, 'start'));
  }

  private async start(): Promise<Session> {
    const config = this.config;
    let transport: Transport;
    let secrets: string[];
    if (config.transport === 'stdio') {
      const env = resolveValues(this.name, config.env, this.ctx.secret);
      secrets = env.secrets;
      transport = new ProcessGroupStdioTransport({
        command: config.command,
        args: config.args,
        env: { ...this.ctx.baseEnv, ...env.values },
        cwd: path.resolve(this.ctx.repo, config.cwd ?? '.'),
      });
    } else {
      const headers = resolveValues(this.name, config.headers, this.ctx.secret);
      secrets = headers.secrets;
      transport = new StreamableHTTPClientTransport(new URL(config.url), { requestInit: { headers: headers.values } });
    }
    this.starts++;
    const client = new Client({ name: 'station', version: pkg.version }, { capabilities: {} });
    const session: Session = {
      client,
      transport,
      closed: false,
      tools: undefined,
      secrets,
      stop: () => stopSession(session),
    };
    client.onclose = () => {
      session.closed = true;
      if (this.live === session) this.live = undefined;
    };
    // The server's tools changed: the next listing asks again.
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      session.tools = undefined;
    });
    // Errors the client reports outside a request (a stray non-JSON line on stdout): logged, never fatal.
    client.onerror = (error) => this.ctx.logger?.debug({ server: this.name, err: error.message }, 'MCP transport reported an error');
    try {
      await client.connect(transport, { timeout: config.startTimeoutMs });
    } catch (err) {
      await session.stop().catch(() => undefined);
      throw this.startFailure(err, session);
    }
    if (this.closed) {
      await session.stop().catch(() => undefined);
      throw this.shutDown();
    }
    this.live = session;
    this.ctx.logger?.info({ server: this.name, transport: config.transport, pid: pidOf(session) }, 'MCP server started');
    return session;
  }

  private async listTools(session: Session): Promise<Tool[]> {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    try {
      do {
        const page = await session.client.listTools(cursor === undefined ? {} : { cursor }, { timeout: this.config.startTimeoutMs });
        tools.push(...page.tools);
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      return tools;
    } catch (err) {
      const kind = classify(err, session, this.config);
      await this.retire(session);
      if (kind === 'timeout') {
        throw this.failure('STN_E_MCP_TIMEOUT', `did not answer tools/list within ${formatSeconds(this.config.startTimeoutMs)}${this.killedNote()}`, err);
      }
      if (kind === 'crashed') throw this.failure('STN_E_MCP_CRASHED', `${this.endedText(session)} while listing its tools${this.stderrNote(session)}`, err);
      throw this.failure('STN_E_MCP_START', `refused tools/list: ${errorText(err)}`, err);
    }
  }

  /** Takes a session out of use and stops it; the next user starts a new one. */
  private retire(session: Session): Promise<void> {
    if (this.live === session) this.live = undefined;
    session.closed = true;
    const stopped = session.stop().catch(() => undefined);
    this.stopping.add(stopped);
    void stopped.then(() => this.stopping.delete(stopped));
    return stopped;
  }

  private startFailure(err: unknown, session: Session): McpFailure {
    if (err instanceof McpFailure) return err;
    if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) {
      return this.failure('STN_E_MCP_TIMEOUT', `did not answer initialize within ${formatSeconds(this.config.startTimeoutMs)}${this.killedNote()}${this.stderrNote(session)}`, err);
    }
    if (this.config.transport === 'stdio') {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES') {
        const what = code === 'ENOENT' ? 'command not found (or cwd missing)' : 'permission denied';
        return this.failure('STN_E_MCP_START', `could not be started: ${what}: ${this.config.command}`, err);
      }
      return this.failure('STN_E_MCP_START', `${this.endedText(session)} before answering initialize${this.stderrNote(session)}`, err);
    }
    return this.failure('STN_E_MCP_START', `could not be reached at ${this.config.url}: ${this.mask(errorText(err), session)}`, err);
  }

  private aborted(signal: AbortSignal, what: string): McpFailure {
    const stop = stopReasonFromSignal(signal, `MCP server "${this.name}": ${what}`);
    // Like shell.exec: the step timeout is retryable, a cancel or shutdown is the engine's decision.
    if (stop.kind === 'timeout') return new McpFailure('STN_E_MCP_TIMEOUT', this.name, stop.message, { retryable: true, cause: signal.reason });
    return new McpFailure('STN_E_ABORTED', this.name, stop.message, { retryable: false, cause: signal.reason });
  }

  /** Calls during and after daemon shutdown: aborted, like the steps making them. */
  private shutDown(): McpFailure {
    return new McpFailure('STN_E_ABORTED', this.name, `MCP server "${this.name}" was stopped: the daemon is shutting down`, { retryable: false });
  }

  private failure(code: McpFailure['code'], text: string, cause: unknown): McpFailure {
    return new McpFailure(code, this.name, `MCP server "${this.name}" ${text}`, { retryable: true, cause });
  }

  private killedNote(): string {
    return this.config.transport === 'stdio' ? '; its process group was killed' : '';
  }

  private endedText(session: Session): string {
    if (session.transport instanceof ProcessGroupStdioTransport) {
      return `exited${session.transport.exitDescription ? ` (${session.transport.exitDescription})` : ''}`;
    }
    return 'closed the connection';
  }

  private stderrNote(session: Session): string {
    if (!(session.transport instanceof ProcessGroupStdioTransport)) return '';
    const tail = session.transport.stderr.trim().split('\n').slice(-3).join(' | ');
    return tail === '' ? '' : `; stderr: ${this.mask(tail, session)}`;
  }

  /** Secret values never reach a message (a server may print its own configuration). */
  private mask(text: string, session: Session): string {
    let out = text;
    for (const s of session.secrets) if (s.length > 0) out = out.split(s).join('***');
    return out;
  }
}

async function stopSession(session: Session): Promise<void> {
  session.closed = true;
  if (session.transport instanceof ProcessGroupStdioTransport) {
    // Closing the client closes the transport, which kills the process group and waits for the exit.
    await session.client.close();
    return;
  }
  const transport = session.transport as StreamableHTTPClientTransport;
  const timer = new Promise<void>((resolve) => setTimeout(resolve, HTTP_CLOSE_MS).unref());
  await Promise.race([transport.terminateSession().catch(() => undefined), timer]);
  await session.client.close();
}

/** Whether a request's failure is the tool's own error, a timeout, or the server (or connection) gone. */
function classify(err: unknown, session: Session, config: McpServerConfig): Failure {
  if (err instanceof McpError) {
    if (err.code === ErrorCode.ConnectionClosed) return 'crashed';
    if (err.code === ErrorCode.RequestTimeout) return 'timeout';
    return session.closed ? 'crashed' : 'tool';
  }
  if (session.closed) return 'crashed';
  // Over HTTP, anything but a JSON-RPC error is the connection failing (refused, reset, an HTTP error status).
  return config.transport === 'http' ? 'crashed' : 'tool';
}

/** A call result as the text given back to the model. */
function resultText(result: CallToolResult): string {
  const parts: string[] = [];
  for (const item of result.content ?? []) {
    if (item.type === 'text') parts.push(item.text);
    else if (item.type === 'resource') parts.push('text' in item.resource ? item.resource.text : `[resource ${item.resource.uri}]`);
    else if (item.type === 'resource_link') parts.push(`[resource ${item.uri}]`);
    else parts.push(`[${item.type} ${item.mimeType}]`);
  }
  if (parts.length === 0 && result.structuredContent !== undefined) return JSON.stringify(result.structuredContent);
  return parts.join('\n');
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function pidOf(session: Session): number | undefined {
  return session.transport instanceof ProcessGroupStdioTransport ? session.transport.pid : undefined;
}

/** `promise`, or the error of `onAbort` as soon as `signal` aborts (the promise itself goes on). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(onAbort());
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** JSON arguments as MCP takes them: an object (none: `{}`), or why not. */
export function toolArguments(args: JsonValue): Record<string, unknown> | string {
  if (args === null) return {};
  if (typeof args !== 'object' || Array.isArray(args)) return `the arguments must be a JSON object, not ${Array.isArray(args) ? 'a list' : typeof args}`;
  return args;
}
