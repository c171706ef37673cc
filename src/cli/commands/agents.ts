import type { Command } from 'commander';
import type { StationClient } from '../../client/types.js';
import { UsageError } from '../../errors.js';
import { print, printJson, shortSha, table } from '../output.js';

const STATUSES = ['active', 'disabled', 'invalid'];

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
  return agents;
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
