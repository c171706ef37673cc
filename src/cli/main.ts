#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { HttpClient } from '../client/http.js';
import { LocalClient } from '../client/local.js';
import { remoteTarget } from '../client/transport.js';
import type { StationClient } from '../client/types.js';
import { resolveConfig } from '../config/config.js';
import { openStation, type OpenOptions } from '../context.js';
import { NotFoundError, toStationError } from '../errors.js';
import { setExpressionLimits } from '../expressions/index.js';
import { registerAgentCommands } from './commands/agents.js';
import { registerApprovalCommands } from './commands/approvals.js';
import { registerBundleCommands } from './commands/bundle.js';
import { runCommand } from './commands/run.js';
import {
  cancelCommand,
  eventsCommand,
  listRunsCommand,
  pauseCommand,
  resumeCommand,
  showRunCommand,
  signalCommand,
} from './commands/runs.js';
import { syncCommand } from './commands/sync.js';
import { validateCommand } from './commands/validate.js';
import { workerCommand } from './commands/worker.js';
import { diffCommand, listCommand, showCommand, versionsCommand } from './commands/workflows.js';
import { exitQuietlyOnClosedStdout, printJson } from './output.js';

interface GlobalOptions {
  repo?: string;
  db?: string;
  config?: string;
  json?: boolean;
  logLevel?: string;
  server?: string;
}

/**
 * A command's own default log level, unless STN_LOG_LEVEL is set: then the config resolves (and checks) it, so a bad
 * value is reported as STN_LOG_LEVEL rather than as --log-level.
 */
function commandLogLevel(fallback: string): string | undefined {
  return process.env.STN_LOG_LEVEL === undefined ? fallback : undefined;
}

const program = new Command('stn')
  .description('Station: GitOps workflow daemon and CLI')
  .option('--repo <dir>', 'repository with environments/ and bundles/ (default: current folder, or STN_REPO)')
  .option('--db <file>', 'SQLite database (default: <repo>/.station/station.db, or STN_DB)')
  .option('--config <file>', 'station.yaml to use (default: <repo>/station.yaml, or STN_CONFIG)')
  .option('--json', 'machine-readable output')
  .addOption(new Option('--log-level <level>', 'log level on stderr').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
  .option('--server <url>', 'talk to a running daemon instead of the database (or STN_SERVER; token from STN_TOKEN): every command but validate, bundle, serve and worker')
  .showHelpAfterError()
  .exitOverride();

const globals = (): GlobalOptions => program.opts<GlobalOptions>();
const json = () => globals().json ?? false;
const openOpts = (extra: Partial<OpenOptions> = {}): OpenOptions => {
  const g = globals();
  // CLI commands keep stderr quiet unless asked: their stdout report is the interface.
  return { repo: g.repo, db: g.db, config: g.config, logLevel: g.logLevel ?? commandLogLevel('warn'), ...extra };
};

let exitCode = 0;

/** Runs a command body with a Station context that is always closed. */
async function withStation<T extends number>(extra: Partial<OpenOptions>, body: (s: ReturnType<typeof openStation>) => T | Promise<T>) {
  const station = openStation(openOpts(extra));
  try {
    exitCode = await body(station);
  } finally {
    await station.close();
  }
}

/**
 * Runs a command body with its client, always closed: the daemon of --server / STN_SERVER, else this process on the
 * database (opened with `extra`). The body is the same either way, so is the output.
 */
async function withClient(extra: Partial<OpenOptions>, body: (client: StationClient) => Promise<number>, local?: () => void) {
  const target = remoteTarget(globals().server);
  if (!target) local?.();
  const client: StationClient = target ? new HttpClient(target) : new LocalClient(openStation(openOpts(extra)));
  try {
    exitCode = await body(client);
  } finally {
    await client.close();
  }
}

program
  .command('validate')
  .description('validate workflow files without a database (default: environments/ and bundles/)')
  .argument('[paths...]', 'files or folders')
  .action((paths: string[]) => {
    const g = globals();
    try {
      // Judge expressions against the configured cost budget (station.yaml expressions:), as sync does.
      setExpressionLimits(resolveConfig(openOpts()).expressions);
    } catch {
      // validate needs no valid station.yaml: without one, the default budget applies.
    }
    exitCode = validateCommand(paths, { repo: openOpts().repo ?? process.env.STN_REPO ?? process.cwd(), json: g.json ?? false });
  });

program
  .command('sync')
  .description('sync definitions from the checkout into the database, once')
  .option('--env <name>', 'only this environment')
  .option('--dry-run', 'plan only: show what would change, write nothing')
  .option('--allow-empty', 'allow disabling every definition of an environment')
  .action(async (opts: { env?: string; dryRun?: boolean; allowEmpty?: boolean }) => {
    await withClient({ ephemeralIfMissing: opts.dryRun ?? false }, (c) => syncCommand(c, { ...opts, json: json() }), () => {
      // Without a database, an unknown --env must not leave a fresh database behind.
      const config = resolveConfig(openOpts());
      if (opts.env !== undefined && !fs.existsSync(config.database) && !fs.existsSync(path.join(config.repo, 'environments', opts.env))) {
        throw new NotFoundError(`environment "${opts.env}" is not in environments/ (and there is no database yet)`);
      }
    });
  });

const workflows = program.command('workflows').description('inspect synced workflow definitions');
workflows
  .command('list')
  .description('list definitions with their status and active version')
  .option('--env <name>', 'only this environment')
  .option('--status <status>', 'active, disabled or invalid')
  .action(async (opts: { env?: string; status?: string }) => {
    await withClient({ mustExist: true }, (c) => listCommand(c, { ...opts, json: json() }));
  });
workflows
  .command('show')
  .description('show a definition (active version, or --version N)')
  .argument('<id>')
  .option('--env <name>', 'environment (needed when the id exists in several)')
  .option('--version <n>', 'a specific version')
  .option('--normalized', 'print the definition as Station runs it (older spellings rewritten), not the file as written')
  .action(async (id: string, opts: { env?: string; version?: string; normalized?: boolean }) => {
    await withClient({ mustExist: true }, (c) => showCommand(c, id, { ...opts, json: json() }));
  });
workflows
  .command('versions')
  .description('list every version of a definition')
  .argument('<id>')
  .option('--env <name>', 'environment')
  .action(async (id: string, opts: { env?: string }) => {
    await withClient({ mustExist: true }, (c) => versionsCommand(c, id, { ...opts, json: json() }));
  });
workflows
  .command('diff')
  .description('diff two versions of a definition (normalized, so formatting never shows)')
  .argument('<id>')
  .argument('<a>', 'version, e.g. 1')
  .argument('<b>', 'version, e.g. 2')
  .option('--env <name>', 'environment')
  .action(async (id: string, a: string, b: string, opts: { env?: string }) => {
    await withClient({ mustExist: true }, (c) => diffCommand(c, id, a, b, { ...opts, json: json() }));
  });

program
  .command('run')
  .description('start a run; in the foreground (default) this process executes it and shows each step')
  .argument('<workflow>', 'workflow id')
  .option('--env <name>', 'environment (needed when the id exists in several)')
  .option('--input <json>', "run input: JSON text, or @file.json")
  .option('--idempotency-key <key>', 'a second run with the same key returns the first one')
  .option('--detach', 'only enqueue the run and print its id; "stn worker" or the daemon executes it')
  .option('--version <n>', 'run this version instead of the active one (audited; with --server it needs an admin token)')
  .action(async (workflow: string, opts: { env?: string; input?: string; idempotencyKey?: string; detach?: boolean; version?: string }) => {
    // The progress lines already report each step: the engine's warn lines (step:failed, run:failed) would repeat them.
    const logLevel = globals().logLevel ?? commandLogLevel('error');
    await withClient({ mustExist: true, logLevel }, (c) => runCommand(c, workflow, { ...opts, json: json() }));
  });

program
  .command('serve')
  .description('run the daemon: HTTP API, engine, file watcher, Git poller, cron and webhook triggers (until SIGTERM/SIGINT)')
  .option('--host <addr>', 'bind address (default: server.host, or STN_HOST; 127.0.0.1)')
  .option('--port <n>', 'port (default: server.port, or STN_PORT; 7878); 0 picks a free one')
  .option('--no-watch', 'do not watch the checkout for changes (sync with "stn sync" or POST /api/v1/sync)')
  .action(async (opts: { host?: string; port?: string; watch?: boolean }) => {
    // A long-running process: its logs are its report, so the level comes from --log-level, STN_LOG_LEVEL or station.yaml.
    // The daemon's modules (HTTP server, Slack, metrics) are loaded only by the command that runs it.
    const { serveCommand } = await import('./commands/serve.js');
    await withStation({ logLevel: globals().logLevel }, (s) => serveCommand(s, opts));
  });

program
  .command('worker')
  .description('run the engine alone: execute every run in the database until SIGTERM/SIGINT')
  .option('--concurrency <n>', 'steps executing at once (default: engine.concurrency, or STN_CONCURRENCY)')
  .action(async (opts: { concurrency?: string }) => {
    // A long-running process: its log lines are its report, so info is shown by default.
    const logLevel = globals().logLevel ?? commandLogLevel('info');
    await withStation({ mustExist: true, logLevel }, (s) => workerCommand(s, opts));
  });

const runs = program.command('runs').description('inspect and act on runs');
runs
  .command('list')
  .description('list runs, newest first')
  .option('--workflow <id>', 'only this workflow')
  .option('--status <status>', 'only this status (PENDING, RUNNING, ..., COMPLETED, FAILED, CANCELLED, TIMED_OUT)')
  .option('--env <name>', 'only this environment')
  .option('--trigger <type>', 'only runs started this way: manual, cron, webhook or workflow (child runs)')
  .option('--since <time>', 'only runs created at or after this time (2026-12-03 or 2026-12-03T10:00:00Z)')
  .option('--until <time>', 'only runs created before this time')
  .option('--limit <n>', 'at most this many (default 50)')
  .option('--before <runId>', 'runs created before this one (the next page)')
  .action(async (opts: { workflow?: string; status?: string; env?: string; trigger?: string; since?: string; until?: string; limit?: string; before?: string }) => {
    await withClient({ mustExist: true }, (c) => listRunsCommand(c, { ...opts, json: json() }));
  });
runs
  .command('show')
  .description("a run's timeline: header, then every step with its input, output or error; --step: one step in detail")
  .argument('<id>')
  .option('--step <step>', "one step (id, path or state name) in detail; an agent step's transcript: turns, tokens, tool calls")
  .action(async (id: string, opts: { step?: string }) => {
    await withClient({ mustExist: true }, (c) => showRunCommand(c, id, { json: json(), step: opts.step }));
  });
runs
  .command('events')
  .description("a run's event log, one line per event")
  .argument('<id>')
  .option('--follow', 'keep printing new events until the run ends')
  .action(async (id: string, opts: { follow?: boolean }) => {
    await withClient({ mustExist: true }, (c) => eventsCommand(c, id, { ...opts, json: json() }));
  });
runs
  .command('cancel')
  .description('cancel a run: running steps are stopped (processes killed), the run ends CANCELLED')
  .argument('<id>')
  .option('--compensate', 'run the compensations of the succeeded steps first')
  .action(async (id: string, opts: { compensate?: boolean }) => {
    await withClient({ mustExist: true }, (c) => cancelCommand(c, id, { ...opts, json: json() }));
  });
runs
  .command('pause')
  .description('pause a run: no new steps start; a running step finishes')
  .argument('<id>')
  .action(async (id: string) => {
    await withClient({ mustExist: true }, (c) => pauseCommand(c, id, { json: json() }));
  });
runs
  .command('resume')
  .description('resume a paused run')
  .argument('<id>')
  .action(async (id: string) => {
    await withClient({ mustExist: true }, (c) => resumeCommand(c, id, { json: json() }));
  });
runs
  .command('signal')
  .description('send a signal to a run (its signal.wait step of that name gets the payload as output)')
  .argument('<id>')
  .argument('<name>', 'signal name')
  .option('--payload <json>', 'payload: JSON text, or @file.json')
  .action(async (id: string, name: string, opts: { payload?: string }) => {
    await withClient({ mustExist: true }, (c) => signalCommand(c, id, name, { ...opts, json: json() }));
  });

registerBundleCommands(program, {
  repo: () => resolveConfig(openOpts()).repo,
  json,
  setExitCode: (code) => {
    exitCode = code;
  },
});

registerApprovalCommands(program, {
  withClient: (body) => withClient({ mustExist: true }, body),
  json,
});

registerAgentCommands(program, {
  withClient: (body) => withClient({ mustExist: true }, body),
  json,
});

async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; everything else commander rejects is a usage error.
      return err.exitCode === 0 ? 0 : 2;
    }
    const e = toStationError(err);
    if (globals().json) printJson({ error: { code: e.code, message: e.message, details: e.details ?? null } });
    else process.stderr.write(`stn: ${e.code}: ${e.message}\n`);
    if (e.code === 'STN_E_INTERNAL' && process.env.STN_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    return e.exitCode;
  }
}

exitQuietlyOnClosedStdout();
process.exitCode = await main(process.argv);
