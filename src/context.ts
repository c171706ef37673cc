import fs from 'node:fs';
import { resolveConfig, type ConfigOptions, type ResolvedConfig } from './config/config.js';
import { NotFoundError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { openDatabase, type Db } from './store/db.js';
import { DefinitionStore } from './store/definitions.js';
import { GitInfo } from './sync/git.js';
import { Syncer } from './sync/sync.js';

/** Everything a command needs, wired once: the programmatic API the CLI (and later the daemon) sits on. */
export interface Station {
  config: ResolvedConfig;
  logger: Logger;
  db: Db;
  definitions: DefinitionStore;
  git: GitInfo;
  syncer: Syncer;
  close(): void;
}

export interface OpenOptions extends ConfigOptions {
  /** Refuse to create a database that does not exist yet (read-only commands). */
  mustExist?: boolean;
  /** Plan-only work: use a throw-away in-memory database when none exists, so nothing is written to disk. */
  ephemeralIfMissing?: boolean;
}

export function openStation(options: OpenOptions = {}, env: NodeJS.ProcessEnv = process.env): Station {
  const config = resolveConfig(options, env);
  const logger = createLogger(config.logLevel);
  const missing = !fs.existsSync(config.database);
  if (missing && options.mustExist) {
    throw new NotFoundError(`no database at ${config.database}: run "stn sync" first (or pass --db)`);
  }
  const db = openDatabase(missing && options.ephemeralIfMissing ? ':memory:' : config.database);
  const definitions = new DefinitionStore(db);
  const git = new GitInfo(config.repo);
  const syncer = new Syncer({ repo: config.repo, store: definitions, git, logger, workers: config.syncWorkers });
  return {
    config,
    logger,
    db,
    definitions,
    git,
    syncer,
    close: () => {
      logger.flush();
      db.close();
    },
  };
}
