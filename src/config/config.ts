import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { compileSchema, formatSchemaErrors } from '../json-schema.js';
import { resolveAgentsConfig, type AgentsFile, type ResolvedAgentsConfig } from './agents.js';
import { DEFAULTS, LOG_LEVELS, type LogLevel } from './defaults.js';
import { resolveSlackConfig, type ResolvedSlackConfig, type SlackFile } from './slack.js';
import stationSchema from '../../schemas/station.schema.json' with { type: 'json' };

/** What a caller may pass in (CLI flags); anything not given comes from station.yaml, then STN_*, then defaults. */
export interface ConfigOptions {
  repo?: string | undefined;
  db?: string | undefined;
  config?: string | undefined;
  logLevel?: string | undefined;
}

/** The shape of station.yaml (see schemas/station.schema.json). */
export interface StationFile {
  database?: string;
  logLevel?: LogLevel;
  server?: {
    host?: string;
    port?: number;
    publicUrl?: string;
    maxBodyBytes?: number;
    shutdownGraceSeconds?: number;
    tokens?: Array<{ name: string; role: TokenRole; sha256?: string; env?: string; user?: string; email?: string }>;
    trustProxy?: boolean | string[];
    limits?: Partial<ServerLimits>;
    rateLimits?: Partial<Record<keyof RateLimits, RateLimit>>;
  };
  git?: { pollSeconds?: number; remote?: string; branch?: string; webhookSecretEnv?: string; onDiverged?: 'report' | 'reset' };
  engine?: { concurrency?: number; leaseSeconds?: number };
  steps?: { envAllowlist?: string[]; cgroups?: boolean };
  http?: { allowHosts?: string[]; denyPrivateNetworks?: boolean; maxRedirects?: number };
  sync?: { workers?: number; deletionWindowSeconds?: number };
  expressions?: { maxCost?: number; maxMillis?: number };
  secrets?: { file?: string };
  slack?: SlackFile;
  agents?: AgentsFile;
  [key: string]: unknown;
}

export interface ResolvedConfig {
  readonly repo: string;
  /** Absolute path of the config file, or undefined when none exists. */
  readonly configFile: string | undefined;
  readonly database: string;
  readonly logLevel: LogLevel;
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly publicUrl: string | undefined;
    /** Largest request body the API accepts (webhooks included); larger ones get 413. */
    readonly maxBodyBytes: number;
    /** On SIGTERM/SIGINT, how long running steps may take to finish before they are stopped and redelivered later. */
    readonly shutdownGraceSeconds: number;
    readonly tokens: readonly ResolvedToken[];
    /** Take the client address from X-Forwarded-For: true (any proxy) or the proxies' addresses/CIDRs; false: the socket's. */
    readonly trustProxy: boolean | readonly string[];
    readonly limits: Readonly<ServerLimits>;
    readonly rateLimits: Readonly<RateLimits>;
  };
  readonly git: {
    readonly pollSeconds: number;
    readonly remote: string;
    /** The branch to fast-forward; undefined: whatever branch the checkout is on. */
    readonly branch: string | undefined;
    /** Name of the environment variable holding the push webhook's HMAC secret (never the secret itself). */
    readonly webhookSecretEnv: string | undefined;
    /** A checkout with commits its remote lacks (remote history rewritten): report it, or reset to the remote. */
    readonly onDiverged: 'report' | 'reset';
  };
  readonly engine: { readonly concurrency: number; readonly leaseSeconds: number };
  /** What shell.exec processes inherit: variables of the daemon's environment by name or `PREFIX*`. */
  readonly steps: {
    readonly envAllowlist: readonly string[];
    /** Put each shell.exec step's processes in a cgroup v2 of its own when this process may create them. */
    readonly cgroups: boolean;
  };
  /** http.request egress policy. */
  readonly http: {
    /** Only these hosts (exact, or `*.example.com`); undefined: any host the address rules allow. */
    readonly allowHosts: readonly string[] | undefined;
    /** Refuse loopback and private addresses too (link-local and metadata addresses are always refused). */
    readonly denyPrivateNetworks: boolean;
    readonly maxRedirects: number;
  };
  /** Worker threads that validate definition files during large syncs; 0 validates on the main thread. */
  readonly syncWorkers: number;
  /** The CEL cost budget (docs/security.md); openStation applies it to the process. */
  readonly expressions: { readonly maxCost: number; readonly maxMillis: number };
  /** Daemon: vanished definitions are disabled once none has vanished for this long (0: at once). */
  readonly deletionWindowSeconds: number;
  readonly secretsFile: string | undefined;
  /** Slack (approvals in threads); undefined when station.yaml has no `slack:` section. */
  readonly slack: ResolvedSlackConfig | undefined;
  /** agent.run model providers; without an `agents:` section, only the offline `fixture` provider. */
  readonly agents: ResolvedAgentsConfig;
  /** The parsed file as written, for sections that later features read. */
  readonly file: Readonly<StationFile>;
}

export type TokenRole = 'viewer' | 'operator' | 'approver' | 'admin';

/** Connection and request limits of the HTTP server (docs/security.md "Server limits"). */
export interface ServerLimits {
  /** A request's headers must arrive within this; else 408 and the connection is closed. */
  headersTimeoutSeconds: number;
  /** A whole request (headers and body) must arrive within this; else 408 and the connection is closed. */
  requestTimeoutSeconds: number;
  /** A connection with no traffic either way for this long is closed (a client that stops reading). */
  idleTimeoutSeconds: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutSeconds: number;
  /** Open connections in all; more are closed at once. */
  maxConnections: number;
  /** Open connections from one client address; more are answered 429 and closed. */
  maxConnectionsPerClient: number;
  /** Request bodies being received at once from one client address; more are answered 429. */
  maxBodiesPerClient: number;
  /** Open event streams in all; more are answered 503. */
  maxStreams: number;
  /** Open event streams per token (per client address without tokens); more are answered 429. */
  maxStreamsPerClient: number;
}

/** A token bucket per client: up to `max` at once, refilled at `max` per `windowSeconds`. */
export interface RateLimit {
  max: number;
  windowSeconds: number;
}

export interface RateLimits {
  /** Failed bearer-token authentications (distinct wrong tokens) per client address. */
  authFailures: RateLimit;
  /** Requests to the HMAC-signed routes (webhook triggers, the Git push webhook, Slack) per client address. */
  webhooks: RateLimit;
}

/** An API token: only its SHA-256 is kept; `sha256` is null when the environment variable named by `env` is unset. */
export interface ResolvedToken {
  readonly name: string;
  readonly role: TokenRole;
  readonly sha256: string | null;
  /** The environment variable the token came from, if any (for error messages). */
  readonly env: string | undefined;
  /** The person holding the token (approvals count people): a Slack user id or login, and an email. */
  readonly user: string | undefined;
  readonly email: string | undefined;
}


function resolveTokens(file: StationFile, env: NodeJS.ProcessEnv): ResolvedToken[] {
  return (file.server?.tokens ?? []).map((t) => {
    const person = { user: t.user, email: t.email };
    if (t.sha256 !== undefined) return { name: t.name, role: t.role, sha256: t.sha256, env: undefined, ...person };
    const value = t.env !== undefined ? env[t.env] : undefined;
    const sha256 = value ? createHash('sha256').update(value).digest('hex') : null;
    return { name: t.name, role: t.role, sha256, env: t.env, ...person };
  });
}

function resolveLimits(file: StationFile, configFile: string): ServerLimits {
  const limits: ServerLimits = { ...DEFAULTS.server.limits, ...file.server?.limits };
  if (limits.headersTimeoutSeconds > limits.requestTimeoutSeconds) {
    throw new ConfigError(
      `${configFile}: server.limits.headersTimeoutSeconds (${limits.headersTimeoutSeconds}) must not exceed server.limits.requestTimeoutSeconds (${limits.requestTimeoutSeconds})`,
    );
  }
  return limits;
}

function readStationFile(file: string): StationFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  const first = doc.errors[0];
  if (first) throw new ConfigError(`${file}: ${first.message}`);
  const value: unknown = doc.toJS({ maxAliasCount: DEFAULTS.definitions.maxAliasCount }) ?? {};
  // Compiled on first use (and cached by compileSchema): commands that never validate don't pay for it.
  const validateStationFile = compileSchema(stationSchema);
  if (!validateStationFile(value)) {
    throw new ConfigError(`${file}: ${formatSchemaErrors(validateStationFile.errors)}`);
  }
  return value as StationFile;
}

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

function logLevel(value: string | undefined, source: string): LogLevel | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new ConfigError(`${source}: log level must be one of ${LOG_LEVELS.join(', ')}, got "${value}"`);
  }
  return value as LogLevel;
}

/**
 * Resolves the configuration: CLI options win over STN_* variables, which win over station.yaml, which wins over the
 * defaults. All environment-variable reads of Station's settings happen here.
 */
export function resolveConfig(options: ConfigOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const repo = path.resolve(options.repo ?? env.STN_REPO ?? process.cwd());
  const explicitConfig = options.config ?? env.STN_CONFIG;
  const configPath = path.resolve(repo, explicitConfig ?? DEFAULTS.configFile);
  let file: StationFile = {};
  let configFile: string | undefined;
  if (fs.existsSync(configPath)) {
    file = readStationFile(configPath);
    configFile = configPath;
  } else if (explicitConfig !== undefined) {
    throw new ConfigError(`config file ${configPath} does not exist`);
  }

  const database = path.resolve(repo, options.db ?? env.STN_DB ?? file.database ?? DEFAULTS.database);
  const resolved: ResolvedConfig = {
    repo,
    configFile,
    database,
    logLevel:
      logLevel(options.logLevel, '--log-level') ??
      logLevel(env.STN_LOG_LEVEL, 'STN_LOG_LEVEL') ??
      file.logLevel ??
      DEFAULTS.logLevel,
    server: {
      host: env.STN_HOST ?? file.server?.host ?? DEFAULTS.server.host,
      port: envInt(env, 'STN_PORT') ?? file.server?.port ?? DEFAULTS.server.port,
      publicUrl: env.STN_PUBLIC_URL ?? file.server?.publicUrl,
      maxBodyBytes: file.server?.maxBodyBytes ?? DEFAULTS.server.maxBodyBytes,
      shutdownGraceSeconds:
        envInt(env, 'STN_SHUTDOWN_GRACE_SECONDS') ?? file.server?.shutdownGraceSeconds ?? DEFAULTS.server.shutdownGraceSeconds,
      tokens: resolveTokens(file, env),
      trustProxy: file.server?.trustProxy ?? false,
      limits: resolveLimits(file, configFile ?? 'station.yaml'),
      rateLimits: {
        authFailures: file.server?.rateLimits?.authFailures ?? DEFAULTS.server.rateLimits.authFailures,
        webhooks: file.server?.rateLimits?.webhooks ?? DEFAULTS.server.rateLimits.webhooks,
      },
    },
    git: {
      pollSeconds: envInt(env, 'STN_GIT_POLL_SECONDS') ?? file.git?.pollSeconds ?? DEFAULTS.git.pollSeconds,
      remote: file.git?.remote ?? DEFAULTS.git.remote,
      branch: file.git?.branch,
      webhookSecretEnv: file.git?.webhookSecretEnv,
      onDiverged: file.git?.onDiverged ?? DEFAULTS.git.onDiverged,
    },
    engine: {
      concurrency: envInt(env, 'STN_CONCURRENCY') ?? file.engine?.concurrency ?? DEFAULTS.engine.concurrency,
      leaseSeconds: file.engine?.leaseSeconds ?? DEFAULTS.engine.leaseSeconds,
    },
    steps: {
      envAllowlist: Object.freeze([...(file.steps?.envAllowlist ?? DEFAULTS.steps.envAllowlist)]),
      cgroups: file.steps?.cgroups ?? DEFAULTS.steps.cgroups,
    },
    http: {
      allowHosts: file.http?.allowHosts === undefined ? undefined : Object.freeze(file.http.allowHosts.map((h) => h.toLowerCase())),
      denyPrivateNetworks: file.http?.denyPrivateNetworks ?? DEFAULTS.http.denyPrivateNetworks,
      maxRedirects: file.http?.maxRedirects ?? DEFAULTS.http.maxRedirects,
    },
    syncWorkers: envInt(env, 'STN_SYNC_WORKERS') ?? file.sync?.workers ?? Math.min(os.availableParallelism(), DEFAULTS.sync.maxWorkers),
    expressions: {
      maxCost: file.expressions?.maxCost ?? DEFAULTS.expressions.maxCost,
      maxMillis: file.expressions?.maxMillis ?? DEFAULTS.expressions.maxMillis,
    },
    deletionWindowSeconds: file.sync?.deletionWindowSeconds ?? DEFAULTS.sync.deletionWindowSeconds,
    secretsFile: env.STN_SECRETS_FILE ?? file.secrets?.file,
    slack: resolveSlackConfig(file.slack, env),
    agents: resolveAgentsConfig(file.agents),
    file,
  };
  return Object.freeze(resolved);
}
