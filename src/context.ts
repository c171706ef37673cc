import fs from 'node:fs';
import path from 'node:path';
import { ApprovalService, approvalHooks } from './approvals/service.js';
import { resolveConfig, type ConfigOptions, type ResolvedConfig } from './config/config.js';
import { credentialEnvNames } from './config/credentials.js';
import { Engine, type Clock } from './engine/engine.js';
import { RunEvents } from './engine/events.js';
import { Secrets } from './engine/secrets.js';
import { RunService } from './engine/service.js';
import { Specs } from './engine/specs.js';
import { NotFoundError, StationError } from './errors.js';
import { AgentRuntime } from './agents/runtime.js';
import { execPolicy } from './executors/policy.js';
import { setExpressionLimits } from './expressions/index.js';
import type { ExecutorRegistry } from './executors/registry.js';
import { createLogger, type Logger } from './log.js';
import { createSlackPoster } from './slack/poster.js';
import { ApprovalStore } from './store/approvals.js';
import { openDatabase, type Db } from './store/db.js';
import { storageHealth } from './store/health.js';
import { databaseWasKnown, rememberDatabase } from './store/known-databases.js';
import { DefinitionStore } from './store/definitions.js';
import { RunStore } from './store/runs.js';
import { GitInfo } from './sync/git.js';
import { Syncer } from './sync/sync.js';
import { activeTriggers } from './triggers/registry.js';

/** Everything a command needs, wired once: the programmatic API the CLI (and the daemon) sits on. */
export interface Station {
  config: ResolvedConfig;
  logger: Logger;
  db: Db;
  definitions: DefinitionStore;
  runStore: RunStore;
  git: GitInfo;
  syncer: Syncer;
  events: RunEvents;
  specs: Specs;
  runs: RunService;
  /** human.approval: create, decide (Slack, API, CLI), list. */
  approvals: ApprovalService;
  /** agent.run's services: agent versions pinned by runs, model providers, MCP servers (closed with the station). */
  agents: AgentRuntime;
  /** Creates (once) the engine of this process; call `start()` on it to execute runs here. */
  engine(options?: EngineOverrides): Engine;
  /**
   * The secrets of this process (read once, on first use) and the masks of everything stored: `{{ secrets.X }}`
   * values and the daemon's own credentials.
   */
  secrets(): Secrets;
  /** Masks the values of the webhook triggers' secretEnv and previousSecretEnv variables of the active definitions too (after a sync). */
  maskTriggerSecrets(): void;
  close(): Promise<void>;
}

export interface EngineOverrides {
  concurrency?: number;
  clock?: Clock;
  random?: () => number;
  executors?: ExecutorRegistry;
  pollMs?: number;
  leaseMs?: number;
  /** Only execute this run and its child runs. */
  onlyRunTree?: string;
}

export interface OpenOptions extends ConfigOptions {
  /** Refuse to create a database that does not exist yet (read-only commands). */
  mustExist?: boolean;
  /** Plan-only work: use a throw-away in-memory database when none exists, so nothing is written to disk. */
  ephemeralIfMissing?: boolean;
}

export function openStation(options: OpenOptions = {}, env: NodeJS.ProcessEnv = process.env): Station {
  const config = resolveConfig(options, env);
  setExpressionLimits(config.expressions);
  const logger = createLogger(config.logLevel);
  const missing = !fs.existsSync(config.database);
  if (missing && options.mustExist) {
    throw new NotFoundError(`no database at ${config.database}: run "stn sync" first (or pass --db)`);
  }
  const ephemeral = missing && options.ephemeralIfMissing;
  if (missing && !ephemeral && env.STN_ALLOW_NEW_DATABASE !== '1' && databaseWasKnown(config.repo, config.database)) {
    throw new StationError(
      'STN_E_STORE_MISSING',
      `the database ${config.database} was used by this checkout before and is gone: Station will not start again with an ` +
        'empty one and lose every run. Restore the file (or point --db / STN_DB at it); to really begin with a new, empty ' +
        'database, set STN_ALLOW_NEW_DATABASE=1 once',
    );
  }
  const db = openDatabase(ephemeral ? ':memory:' : config.database);
  if (!ephemeral) {
    rememberDatabase(config.repo, config.database);
    if (!writable(config.database)) {
      storageHealth(db).raise('database_read_only', `${config.database} (or its folder) is not writable`, 'open');
    }
  }
  const definitions = new DefinitionStore(db);
  const runStore = new RunStore(db);
  const git = new GitInfo(config.repo);
  const syncer = new Syncer({ repo: config.repo, store: definitions, git, logger, workers: config.syncWorkers });
  const events = new RunEvents();
  const specs = new Specs(definitions);
  let engine: Engine | undefined;
  let clock: Clock | undefined;
  let secrets: Secrets | undefined;
  const agents = new AgentRuntime({
    db,
    runs: runStore,
    repo: config.repo,
    config: config.agents,
    secret: (name) => station.secrets().value(name),
    logger,
    envAllowlist: config.steps.envAllowlist,
  });
  const runs = new RunService({
    pinAgents: (runId, environment, bundle, spec) => agents.pinAtStart(runId, environment, bundle, spec),
    store: runStore,
    definitions,
    specs,
    events,
    now: () => (clock ?? Date).now(),
    poke: () => engine?.poke(),
  });
  const approvals = new ApprovalService({
    store: new ApprovalStore(db),
    runs: runStore,
    events,
    notify: config.slack !== undefined,
    now: () => (clock ?? Date).now(),
    poke: () => engine?.poke(),
  });
  const station: Station = {
    config,
    logger,
    db,
    definitions,
    runStore,
    git,
    syncer,
    events,
    specs,
    runs,
    approvals,
    agents,
    engine(o: EngineOverrides = {}) {
      clock = o.clock;
      engine ??= new Engine({
        store: runStore,
        definitions,
        events,
        secrets: station.secrets(),
        logger,
        repo: config.repo,
        concurrency: o.concurrency ?? config.engine.concurrency,
        leaseMs: o.leaseMs ?? config.engine.leaseSeconds * 1000,
        createChildRun: (parent, step, wait) => runs.createChild(parent, step, wait),
        approvals: approvalHooks(approvals),
        slack: createSlackPoster({ config: config.slack, env, db, runs: runStore, logger, publicUrl: config.server.publicUrl }),
        policy: execPolicy(config),
        agents,
        specs,
        ...(o.clock ? { clock: o.clock } : {}),
        ...(o.random ? { random: o.random } : {}),
        ...(o.executors ? { executors: o.executors } : {}),
        ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}),
        ...(o.onlyRunTree !== undefined ? { onlyRunTree: o.onlyRunTree } : {}),
      });
      station.maskTriggerSecrets();
      return engine;
    },
    secrets() {
      secrets ??= new Secrets(env, config.secretsFile, { credentialEnv: credentialEnvNames(config, env), logger });
      return secrets;
    },
    maskTriggerSecrets() {
      const names: string[] = [];
      for (const { trigger } of activeTriggers(station)) {
        if (trigger.type !== 'webhook') continue;
        if (trigger.secretEnv !== undefined) names.push(trigger.secretEnv);
        if (trigger.previousSecretEnv !== undefined) names.push(trigger.previousSecretEnv);
      }
      station.secrets().addCredentialEnv(names);
    },
    async close() {
      await engine?.stop();
      await agents.close();
      logger.flush();
      db.close();
    },
  };
  return station;
}

/** Whether the database file and its folder accept writes (a read-only mount, or a file made read-only). */
function writable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    fs.accessSync(path.dirname(file), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
