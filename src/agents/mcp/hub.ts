/**
 * The MCP servers of a daemon. One hub per daemon: a server is started on first use (by any step of any agent of
 * its environment), shared by the steps that follow, restarted by the next user after it died, and stopped by
 * `close()`. `toolbox()` gives one agent step the tools its prompt's allowlist selects.
 */
import { DEFAULTS } from '../../config/defaults.js';
import type { JsonObject, JsonValue } from '../../definitions/types.js';
import { stepEnvironment } from '../../executors/step-env.js';
import type { Logger } from '../../log.js';
import type { ToolBox, ToolDef, ToolOutcome } from '../types.js';
import type { McpConfig, McpServerConfig } from './config.js';
import { McpServerConnection, toolArguments } from './connection.js';
import { McpFailure } from './errors.js';
import { assignToolNames, qualifiedToolName, splitQualifiedName, type ToolNameMap } from './tool-names.js';

export interface McpHubOptions {
  /** A secret's value by name (`{{ secrets.NAME }}` in mcp.yaml), undefined when the daemon has none. */
  secret: (name: string) => string | undefined;
  /** The repository checkout: a stdio server's relative `cwd` is resolved against it (default: the current folder). */
  repo?: string;
  /** The daemon's variables a stdio server inherits (station.yaml `steps.envAllowlist`; default: its default). */
  envAllowlist?: readonly string[];
  logger?: Logger;
}

/** An allowlist entry read: a server and one tool of it, or all of them. */
interface Allowed {
  server: string;
  tool: string | '*';
}

export class McpHub {
  private readonly connections = new Map<string, McpServerConnection>();
  private readonly options: McpHubOptions;
  private readonly baseEnv: Record<string, string>;
  private closed = false;

  constructor(options: McpHubOptions) {
    this.options = options;
    this.baseEnv = stepEnvironment(options.envAllowlist ?? DEFAULTS.steps.envAllowlist, process.env);
  }

  /**
   * The tools of `config`'s servers that `allowlist` selects (`server/tool` or `server/*`), for one agent step.
   * Servers start when the toolbox first lists or calls; an allowlist entry naming a server mcp.yaml does not
   * declare fails then with STN_E_MCP_CONFIG. An empty allowlist gives no tools and starts nothing.
   */
  toolbox(config: McpConfig, allowlist: readonly string[]): ToolBox {
    let names: ToolNameMap | undefined;
    let listing: Promise<ToolDef[]> | undefined;

    const list = async (signal: AbortSignal): Promise<ToolDef[]> => {
      // Read here, not in toolbox(): a bad entry rejects the listing like every other failure of the tools.
      const allowed = allowlist.map(parseAllowlistEntry);
      const servers = [...new Set(allowed.map((a) => a.server))];
      const perServer = await Promise.all(
        servers.map(async (server) => {
          const connection = this.connection(config, server);
          const tools = await connection.tools(signal);
          return tools
            .filter((t) => isAllowed(allowed, server, t.name))
            .map((t) => ({ qualifiedName: qualifiedToolName(server, t.name), description: t.description ?? '', parameters: t.inputSchema as JsonObject }));
        }),
      );
      const tools = perServer.flat();
      names = assignToolNames(tools.map((t) => t.qualifiedName));
      const map = names;
      return tools.map((t) => ({ name: map.toModel(t.qualifiedName) as string, ...t }));
    };

    return {
      list: (signal) => list(signal),
      call: async (name: string, args: JsonValue, signal: AbortSignal): Promise<ToolOutcome> => {
        if (!names) {
          listing ??= list(signal).finally(() => (listing = undefined));
          await listing;
        }
        const qualified = names?.fromModel(name);
        const split = qualified === undefined ? undefined : splitQualifiedName(qualified);
        if (!split) return { ok: false, content: `unknown tool "${name}": call one of the tools you were given` };
        const input = toolArguments(args);
        if (typeof input === 'string') return { ok: false, content: `tool "${name}": ${input}` };
        return this.connection(config, split.server).call(split.tool, input, signal);
      },
    };
  }

  /** Stops every server (stdio process groups killed, HTTP sessions closed); resolves once their processes are gone. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(all.map((c) => c.close()));
  }

  /** How many times each server was started, by `file#server` (for tests and diagnostics). */
  starts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, c] of this.connections) out[key.replace('\0', '#')] = c.starts;
    return out;
  }

  /** The connection of a server of an mcp.yaml; a server whose declaration changed gets a new one. */
  private connection(config: McpConfig, server: string): McpServerConnection {
    const declared = config.servers.get(server);
    if (!declared) {
      throw new McpFailure('STN_E_MCP_CONFIG', server, `the agent's tools name MCP server "${server}", which ${config.file} does not declare`, {
        retryable: false,
      });
    }
    if (this.closed) throw new McpFailure('STN_E_ABORTED', server, `MCP server "${server}" was stopped: the daemon is shutting down`, { retryable: false });
    const key = `${config.file}\0${server}`;
    const existing = this.connections.get(key);
    if (existing && sameServer(existing.config, declared)) return existing;
    if (existing) void existing.close(); // the file changed: the old process goes, in-flight calls on it fail over
    const created = new McpServerConnection(declared, {
      secret: this.options.secret,
      repo: this.options.repo ?? process.cwd(),
      baseEnv: this.baseEnv,
      logger: this.options.logger,
    });
    this.connections.set(key, created);
    return created;
  }
}

/**
 * What is wrong with an agent's `tools:` allowlist against its environment's mcp.yaml, in words (empty: nothing), for
 * sync-time warnings: entries that are not `server/tool` or `server/*`, and servers mcp.yaml does not declare. Whether
 * a named tool exists is only known once the server runs.
 */
export function allowlistProblems(config: McpConfig, allowlist: readonly string[]): string[] {
  const problems: string[] = [];
  for (const entry of allowlist) {
    const split = splitQualifiedName(entry);
    if (!split) problems.push(`tools entry "${entry}" is not "server/tool" or "server/*"`);
    else if (!config.servers.has(split.server)) problems.push(`tools entry "${entry}" names MCP server "${split.server}", which ${config.file} does not declare`);
  }
  return problems;
}

/** Reads `server/tool` or `server/*`. */
export function parseAllowlistEntry(entry: string): Allowed {
  const split = splitQualifiedName(entry);
  if (!split) throw new McpFailure('STN_E_MCP_CONFIG', '', `tools entry "${entry}" is not "server/tool" or "server/*"`, { retryable: false });
  return { server: split.server, tool: split.tool === '*' ? '*' : split.tool };
}

function isAllowed(allowed: readonly Allowed[], server: string, tool: string): boolean {
  return allowed.some((a) => a.server === server && (a.tool === '*' || a.tool === tool));
}

function sameServer(a: McpServerConfig, b: McpServerConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
