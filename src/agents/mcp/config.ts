/**
 * environments/<env>/mcp.yaml: the MCP servers an environment's agents may use. Read with the definition files'
 * YAML limits (duplicate keys, alias bombs, nesting: src/definitions/source.ts), checked against
 * schemas/mcp.schema.json, every problem at its line and column. Secrets are referenced by name only
 * (`{{ secrets.NAME }}` inside env values and headers) and resolved when a server starts (`resolveValues`).
 */
import fs from 'node:fs';
import path from 'node:path';
import mcpSchema from '../../../schemas/mcp.schema.json' with { type: 'json' };
import { schemaIssues } from '../../definitions/schema-check.js';
import { parseSource, readSourceFile } from '../../definitions/source.js';
import { escapePointer } from '../../expressions/index.js';
import { compileSchema } from '../../json-schema.js';
import { McpFailure } from './errors.js';

/** A server run as a child process, spoken to over its stdin/stdout. */
export interface McpStdioServer {
  transport: 'stdio';
  name: string;
  command: string;
  args: string[];
  /** As written: literals, or text holding `{{ secrets.NAME }}`. */
  env: Record<string, string>;
  /** As written (relative to the repository root), or undefined: the repository root. */
  cwd: string | undefined;
  startTimeoutMs: number;
  callTimeoutMs: number;
}

/** A server reached over MCP Streamable HTTP. */
export interface McpHttpServer {
  transport: 'http';
  name: string;
  url: string;
  /** As written: literals, or text holding `{{ secrets.NAME }}`. */
  headers: Record<string, string>;
  startTimeoutMs: number;
  callTimeoutMs: number;
}

export type McpServerConfig = McpStdioServer | McpHttpServer;

/** One mcp.yaml, parsed and valid. */
export interface McpConfig {
  /** The file it was read from, as given to parseMcpFile (for messages). */
  file: string;
  servers: ReadonlyMap<string, McpServerConfig>;
}

/** A problem of an mcp.yaml, at its place in the file. */
export interface McpConfigProblem {
  file: string;
  line: number;
  col: number;
  /** STN_E_MCP_CONFIG, or the YAML diagnostic (STN_E_YAML_SYNTAX, STN_E_YAML_DUPLICATE_KEY, ...). */
  code: string;
  /** JSON pointer of the field concerned (`/servers/github/env/TOKEN`); empty for the whole file. */
  field: string;
  message: string;
}

export const MCP_DEFAULT_START_TIMEOUT_SECONDS = 30;
export const MCP_DEFAULT_CALL_TIMEOUT_SECONDS = 300;

/** `{{ secrets.NAME }}`, the one template mcp.yaml allows. */
const SECRET_REF = /\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

interface RawServer {
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  url?: string;
  headers?: Record<string, string>;
  startTimeoutSeconds?: number;
  callTimeoutSeconds?: number;
}

/**
 * Parses one mcp.yaml. `file` names it in the problems (`environments/prod/mcp.yaml`). The config is set only when
 * there is no problem.
 */
export function parseMcpFile(text: string, file: string): { config: McpConfig | undefined; problems: McpConfigProblem[] } {
  const problems: McpConfigProblem[] = [];
  const parsed = parseSource(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  if (!parsed.ok) {
    return { config: undefined, problems: parsed.errors.map((d) => ({ file, line: d.line, col: d.col, code: d.code, field: d.pointer ?? '', message: d.message })) };
  }
  const value = parsed.doc.value ?? {};
  const add = (field: string, message: string, at: 'key' | 'value' = 'value') =>
    problems.push({ file, ...parsed.doc.locate(field, at), code: 'STN_E_MCP_CONFIG', field, message });

  const validate = compileSchema(mcpSchema);
  if (!validate(value)) {
    const errors = validate.errors ?? [];
    // A key that breaks a `propertyNames` rule: ajv reports it on the mapping; it is reported at the key itself.
    const badKeys = errors.filter((e) => e.keyword === 'propertyNames' || (e as { propertyName?: string }).propertyName !== undefined);
    for (const e of badKeys) {
      const key = (e as { propertyName?: string }).propertyName;
      if (key === undefined) continue;
      add(`${e.instancePath}/${escapePointer(key)}`, e.instancePath === '/servers' ? serverNameMessage(key) : `name "${key}" is not allowed in ${e.instancePath.slice(1)}`, 'key');
    }
    for (const issue of schemaIssues(value, errors.filter((e) => !badKeys.includes(e)), 'mcp.yaml')) add(issue.pointer, issue.message, issue.at);
    return { config: undefined, problems: dedupe(problems) };
  }

  const servers = new Map<string, McpServerConfig>();
  for (const [name, raw] of Object.entries((value as { servers: Record<string, RawServer> }).servers)) {
    const base = `/servers/${escapePointer(name)}`;
    const values = raw.url !== undefined ? raw.headers ?? {} : raw.env ?? {};
    const kind = raw.url !== undefined ? 'headers' : 'env';
    for (const [key, v] of Object.entries(values)) {
      const bad = badTemplate(v);
      if (bad !== undefined) add(`${base}/${kind}/${escapePointer(key)}`, `${kind} "${key}" of server "${name}": ${bad}`);
    }
    const startTimeoutMs = (raw.startTimeoutSeconds ?? MCP_DEFAULT_START_TIMEOUT_SECONDS) * 1000;
    const callTimeoutMs = (raw.callTimeoutSeconds ?? MCP_DEFAULT_CALL_TIMEOUT_SECONDS) * 1000;
    if (raw.url !== undefined) {
      servers.set(name, { transport: 'http', name, url: raw.url, headers: { ...(raw.headers ?? {}) }, startTimeoutMs, callTimeoutMs });
    } else {
      servers.set(name, {
        transport: 'stdio',
        name,
        command: raw.command as string,
        args: [...(raw.args ?? [])],
        env: { ...(raw.env ?? {}) },
        cwd: raw.cwd,
        startTimeoutMs,
        callTimeoutMs,
      });
    }
  }
  if (problems.length > 0) return { config: undefined, problems };
  return { config: { file, servers }, problems };
}

/**
 * Reads `environments/<env>/mcp.yaml` of a checkout (with the definition files' size and encoding checks). An
 * environment without the file has no servers: an empty config, no problem. Problems name the file relative to `repo`.
 */
export function loadMcpFile(repo: string, env: string): { config: McpConfig | undefined; problems: McpConfigProblem[] } {
  const file = `environments/${env}/mcp.yaml`;
  const abs = path.join(repo, file);
  if (!fs.existsSync(abs)) return { config: { file, servers: new Map() }, problems: [] };
  const read = readSourceFile(abs);
  if (!read.ok) return { config: undefined, problems: read.errors.map((d) => ({ file, line: d.line, col: d.col, code: d.code, field: '', message: d.message })) };
  return parseMcpFile(read.text, file);
}

/** `file:line:col: message`, as sync and the CLI print problems. */
export function formatMcpProblem(p: McpConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message}`;
}

/** The failure of a step whose environment's mcp.yaml is invalid (not retried: the file must change first). */
export function mcpConfigFailure(problems: readonly McpConfigProblem[]): McpFailure {
  const first = problems[0];
  const server = first ? /^\/servers\/([^/]+)/.exec(first.field)?.[1] ?? '' : '';
  const text = problems.map(formatMcpProblem).join('; ');
  return new McpFailure('STN_E_MCP_CONFIG', server, `mcp.yaml is invalid: ${text}`, { retryable: false });
}

/** The secret names a value refers to. */
export function secretNames(value: string): string[] {
  return [...value.matchAll(SECRET_REF)].map((m) => m[1] as string);
}

/** The names of every secret a server needs (env values or headers). */
export function serverSecretNames(server: McpServerConfig): string[] {
  const values = Object.values(server.transport === 'http' ? server.headers : server.env);
  return [...new Set(values.flatMap(secretNames))];
}

/**
 * The values with their `{{ secrets.NAME }}` replaced by the secrets' values. A secret `secret` does not know fails
 * with STN_E_MCP_SECRET naming the server and the secret (never a value). Also returns the secret values used, so
 * that output can be masked.
 */
export function resolveValues(
  server: string,
  values: Record<string, string>,
  secret: (name: string) => string | undefined,
): { values: Record<string, string>; secrets: string[] } {
  const out: Record<string, string> = {};
  const used: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    out[key] = value.replace(SECRET_REF, (_all, name: string) => {
      const found = secret(name);
      if (found === undefined) {
        throw new McpFailure('STN_E_MCP_SECRET', server, `MCP server "${server}" needs the secret "${name}" (in "${key}"), which this daemon does not have: set STN_SECRET_${name}`, {
          retryable: false,
        });
      }
      used.push(found);
      return found;
    });
  }
  return { values: out, secrets: used };
}

/** Why a value's `{{ }}` is not allowed, or undefined when every template in it is `{{ secrets.NAME }}`. */
function badTemplate(value: string): string | undefined {
  const rest = value.replace(SECRET_REF, '');
  if (!rest.includes('{{') && !rest.includes('}}')) return undefined;
  return 'only "{{ secrets.NAME }}" may appear between {{ }} here (the value is read when the server starts, not per step)';
}

function serverNameMessage(name: string): string {
  return `server name "${name}" is not allowed: use letters, digits, "_", "." and "-" (at most 64, no "/"), starting with a letter or digit`;
}


function dedupe(problems: McpConfigProblem[]): McpConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.line}|${p.col}|${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
