import type { Command } from 'commander';
import type { StationClient } from '../../client/types.js';
import type { JsonObject } from '../../definitions/types.js';
import { StationError, UsageError } from '../../errors.js';
import type { AgentRunProgressView, AgentRunResultView } from '../../views/types.js';
import { parseJsonArg } from '../json-arg.js';
import { print, printJson, shortSha, table } from '../output.js';
import { formatDuration, truncate } from '../run-view.js';

const STATUSES = ['active', 'disabled', 'invalid'];
/** Exit code of `stn agents run` after Ctrl-C (as `stn run`). */
const INTERRUPTED = 130;

export interface AgentCliContext {
  withClient(body: (client: StationClient) => Promise<number>): Promise<void>;
  json(): boolean;
}

interface Which {
  env?: string;
  bundle?: string;
}

/** `stn agents list|show|versions`: returns the `agents` command, so more subcommands can be added to it. */
export function registerAgentCommands(program: Command, ctx: AgentCliContext): Command {
  const agents = program.command('agents').description('inspect synced agents (environments/<env>/agents/*.prompt)');
  agents
    .command('list')
    .description('list agents with their status and active version')
    .option('--env <name>', 'only this environment')
    .option('--status <status>', 'active, disabled or invalid')
    .action(async (opts: { env?: string; status?: string }) => {
      await ctx.withClient((c) => listAgentsCommand(c, { ...opts, json: ctx.json() }));
    });
  agents
    .command('show')
    .description('show an agent (active version, or --version N): its settings and the file as written')
    .argument('<name>')
    .option('--env <name>', 'environment (needed when the agent exists in several)')
    .option('--bundle <name>', 'the bundle the agent comes from (when bundles share the name)')
    .option('--version <n>', 'a specific version')
    .action(async (name: string, opts: Which & { version?: string }) => {
      await ctx.withClient((c) => showAgentCommand(c, name, { ...opts, json: ctx.json() }));
    });
  agents
    .command('versions')
    .description('list every version of an agent')
    .argument('<name>')
    .option('--env <name>', 'environment')
    .option('--bundle <name>', 'the bundle the agent comes from')
    .action(async (name: string, opts: Which) => {
      await ctx.withClient((c) => agentVersionsCommand(c, name, { ...opts, json: ctx.json() }));
    });
  agents
    .command('run')
    .description(
      "try an agent alone: run its active version once on a task, outside any workflow, with the same model providers and MCP tools as agent.run (a try-out: nothing is stored); shows each model turn and tool call as it completes. Exit 0 succeeded, 1 the agent failed, 2 unknown agent or bad options/variables",
    )
    .argument('<name>')
    .requiredOption('--task <text>', "the task (the prompt's userInput)")
    .option('--var <key=value>', 'a variable, as a string (repeatable; wins over --vars)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--vars <json>', 'the variables as a JSON object, or @file.json (for values that are not strings)')
    .option('--env <name>', 'environment (needed when the agent exists in several)')
    .option('--bundle <name>', 'the bundle the agent comes from (when bundles share the name)')
    .action(async (name: string, opts: AgentRunCommandOptions) => {
      await ctx.withClient((c) => runAgentCommand(c, name, { ...opts, json: ctx.json() }));
    });
  return agents;
}

export interface AgentRunCommandOptions extends Which {
  task: string;
  var?: string[];
  vars?: string;
}

/** `--vars` then each `--var key=value` over it. */
export function agentRunVariables(opts: { var?: string[] | undefined; vars?: string | undefined }): JsonObject {
  const base = parseJsonArg('--vars', opts.vars) ?? {};
  if (base === null || typeof base !== 'object' || Array.isArray(base)) throw new UsageError('--vars must be a JSON object');
  const variables: JsonObject = { ...base };
  for (const kv of opts.var ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--var must be key=value, got "${kv}"`);
    variables[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return variables;
}

/** One progress line of `stn agents run`. */
export function agentProgressLine(p: AgentRunProgressView): string {
  if (p.type === 'turn') {
    const asks = p.toolCalls.length > 0 ? `calls ${p.toolCalls.join(', ')}` : 'final reply';
    return `  turn ${p.turn}  ${p.provider}/${p.model}  ${p.inputTokens} in / ${p.outputTokens} out tokens  ${formatDuration(p.latencyMs)}  ${asks}`;
  }
  return `  tool  ${p.tool}  ${p.ok ? 'ok' : 'error'}  ${formatDuration(p.latencyMs)}  ${truncate(p.result.replace(/\s+/g, ' '), 100)}`;
}

/**
 * `stn agents run <name> --task ... [--var k=v] [--vars json] [--env] [--bundle]`: progress lines as the agent works,
 * then its output (the step output agent.run would give). `--json`: only the result object. Exit 0 succeeded, 1 the
 * agent failed (its step error code shown), 2 unknown agent, bad options or variables that break its input schema, 130
 * interrupted (Ctrl-C stops the agent: its model request and tool calls are aborted).
 */
export async function runAgentCommand(client: StationClient, name: string, opts: AgentRunCommandOptions & { json: boolean }): Promise<number> {
  const variables = agentRunVariables(opts);
  const stop = new AbortController();
  const onSigint = () => stop.abort(new Error('interrupted (Ctrl-C)'));
  process.once('SIGINT', onSigint);
  let result: AgentRunResultView | undefined;
  try {
    result = await client.runAgent(name, {
      task: opts.task,
      variables,
      env: opts.env,
      bundle: opts.bundle,
      signal: stop.signal,
      onProgress: opts.json
        ? undefined
        : (p) => print(agentProgressLine(p)),
    });
  } catch (err) {
    // Over HTTP the answer is cut off (the daemon stops the agent when the connection closes).
    if (!stop.signal.aborted) throw err;
    result = undefined;
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (stop.signal.aborted) {
    if (opts.json) printJson({ interrupted: true });
    else print('interrupted: the agent was stopped (nothing is stored)');
    return INTERRUPTED;
  }
  if (!result) throw new StationError('STN_E_INTERNAL', 'the agent run ended without a result');
  if (opts.json) {
    printJson(result);
    return result.status === 'succeeded' ? 0 : 1;
  }
  const where = `${result.environment}/${result.bundle ? `${result.bundle}/` : ''}${result.name} v${result.version}`;
  const counts = `${result.turns} turn${result.turns === 1 ? '' : 's'}, ${result.toolCalls} tool call${result.toolCalls === 1 ? '' : 's'}, ${formatDuration(result.durationMs)}`;
  if (result.status === 'succeeded') {
    print(`succeeded  ${where}  (${counts})`);
    print(JSON.stringify(result.output, null, 2));
    return 0;
  }
  print(`failed  ${where}  (${counts})`);
  print(`  ${result.error?.code ?? 'STN_E_EXECUTOR'}: ${result.error?.message ?? 'unknown error'}`);
  return 1;
}

/** `stn agents list [--env] [--status]` */
export async function listAgentsCommand(client: StationClient, opts: { env?: string; status?: string; json: boolean }): Promise<number> {
  if (opts.status !== undefined && !STATUSES.includes(opts.status)) {
    throw new UsageError(`--status must be active, disabled or invalid, got "${opts.status}"`);
  }
  const rows = await client.listAgents({ env: opts.env, status: opts.status });
  if (opts.json) {
    printJson(rows);
    return 0;
  }
  if (rows.length === 0) {
    print(opts.env !== undefined || opts.status !== undefined ? 'no agents match' : 'no agents (add environments/<env>/agents/<name>.prompt and run "stn sync")');
    return 0;
  }
  print(
    table(
      ['ENV', 'NAME', 'BUNDLE', 'STATUS', 'VERSION', 'MODEL', 'COMMIT', 'PATH'],
      rows.map((r) => [
        r.environment,
        r.name,
        r.bundle ?? '-',
        r.error && r.status === 'active' ? 'active (file invalid)' : r.status,
        r.version === null ? '-' : `v${r.version}`,
        r.model ?? '-',
        shortSha(r.commit),
        r.path,
      ]),
    ),
  );
  for (const r of rows) if (r.error) print(`\n${r.environment}/${r.bundle ? `${r.bundle}/` : ''}${r.name}: ${r.error}`);
  return 0;
}

function parseVersion(v: string): number {
  const n = Number(v.replace(/^v/, ''));
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--version must be a version number like 3 or v3, got "${v}"`);
  return n;
}

/** `stn agents show <name> [--env] [--bundle] [--version N]` */
export async function showAgentCommand(client: StationClient, name: string, opts: Which & { version?: string; json: boolean }): Promise<number> {
  const version = opts.version !== undefined ? parseVersion(opts.version) : undefined;
  const a = await client.showAgent(name, { env: opts.env, bundle: opts.bundle, version });
  if (opts.json) {
    printJson(a);
    return 0;
  }
  print(`${a.environment}/${a.bundle ? `${a.bundle}/` : ''}${a.name}  ${a.status}${a.activeVersion ? `  active v${a.activeVersion}` : ''}  (latest v${a.latestVersion})`);
  print(`path: ${a.path}${a.bundle ? `  (bundle ${a.bundle})` : ''}`);
  for (const e of a.errors) print(`error: ${a.path}:${e.line}:${e.col}: ${e.code}: ${e.message}`);
  const v = a.version;
  if (v) {
    const git = v.untracked ? ' (untracked)' : v.dirty ? ' (uncommitted changes)' : '';
    print(`version ${v.version} (id ${v.id}): commit ${shortSha(v.commit)}${git}, synced ${v.createdAt}`);
    const spec = v.spec as { model?: string; tools?: string[]; maxSteps?: number; outputFormat?: string };
    print(`model: ${spec.model ?? '(provider default)'}  output: ${spec.outputFormat ?? 'text'}  max_steps: ${spec.maxSteps ?? '-'}`);
    print(`tools: ${spec.tools && spec.tools.length > 0 ? spec.tools.join(', ') : '(none)'}`);
    print('');
    print(v.raw.trimEnd());
  }
  return 0;
}

/** `stn agents versions <name> [--env] [--bundle]` */
export async function agentVersionsCommand(client: StationClient, name: string, opts: Which & { json: boolean }): Promise<number> {
  const a = await client.showAgent(name, { env: opts.env, bundle: opts.bundle });
  const { versions } = await client.agentVersions(name, { env: a.environment, bundle: a.bundle ?? '' });
  if (opts.json) {
    printJson(versions);
    return 0;
  }
  print(
    table(
      ['VERSION', 'ID', 'COMMIT', 'GIT', 'HASH', 'SYNCED', ''],
      versions.map((v) => [
        `v${v.version}`,
        String(v.id),
        shortSha(v.commit),
        v.untracked ? 'untracked' : v.dirty ? 'dirty' : v.commit ? 'clean' : '-',
        v.contentHash.slice(0, 12),
        v.createdAt,
        v.active ? (a.status === 'active' ? 'active' : a.status) : '',
      ]),
    ),
  );
  return 0;
}
