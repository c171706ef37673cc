import type { FastifyInstance } from 'fastify';
import type { Station } from '../context.js';
import type { Engine } from '../engine/engine.js';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, StationError } from '../errors.js';
import { Auth, isLoopback } from '../server/auth.js';
import { buildServer } from '../server/app.js';
import type { DaemonState, GitPort, ServerDeps } from '../server/deps.js';
import { Metrics } from '../server/metrics.js';
import { Streams } from '../server/sse.js';
import { SlackRuntime } from '../slack/runtime.js';
import { storageHealth } from '../store/health.js';
import { StatsStore } from '../store/stats.js';
import { GitPoller } from '../sync/git-poll.js';
import { markInterruptedSyncs } from '../sync/interrupted.js';
import { RepoWatcher } from '../sync/watcher.js';
import type { SyncOptions, SyncReport } from '../sync/sync.js';
import { CronScheduler } from '../triggers/cron.js';
import { verifySignature } from '../triggers/signature.js';
import { WebhookHandler } from '../triggers/webhook.js';
import { DatabaseWatch } from './db-watch.js';
import { bridgeStepLogs } from './log-bridge.js';

export interface DaemonOptions {
  /** Bind address and port; default server.host / server.port (port 0: any free port). */
  host?: string | undefined;
  port?: number | undefined;
  /** The environment secrets and token variables are read from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Watch the checkout for changes (default true). */
  watch?: boolean;
  /** Execute runs in this process (default true). */
  engine?: boolean;
}

/** A sync changed what is active (so cron triggers must be re-read). */
function changedSomething(report: SyncReport): boolean {
  return !report.dryRun && report.environments.some((e) => e.added.length + e.updated.length + e.disabled.length + e.reenabled.length > 0);
}

/**
 * The daemon (`stn serve`): the HTTP API, the file watcher, the Git poller, the cron scheduler and the engine over one
 * Station. `start()` binds the port first and starts the engine last, so once it resolves everything answers;
 * `stop()` takes them down, giving running steps a grace period.
 */
export class Daemon {
  readonly metrics: Metrics;
  private readonly streams: Streams;
  private readonly auth: Auth;
  private readonly env: NodeJS.ProcessEnv;
  private readonly state: Omit<DaemonState, 'degraded'> = { initialSyncDone: false, shuttingDown: false, watching: false };
  /** git is not on PATH (checked at start-up): the daemon runs degraded (docs/reliability.md "Git"). */
  private gitMissing = false;
  /** The last sync of this process threw (cleared by the next one that does not). */
  private syncFailed = false;
  private engine: Engine | undefined;
  private watcher: RepoWatcher | undefined;
  private cron: CronScheduler | undefined;
  private readonly slack: SlackRuntime | undefined;
  private git: GitPoller | undefined;
  /** Refreshes asked for by the push webhook in flight: that route syncs itself, so the poller's hook does not. */
  private webhookRefreshes = 0;
  private server: FastifyInstance | undefined;
  private stopBridge: (() => void) | undefined;
  private stopping: Promise<void> | undefined;
  private readonly host: string;
  private readonly port: number;
  private readonly dbWatch: DatabaseWatch;
  private vanished = false;
  private fail: (err: StationError) => void = () => undefined;
  /** Settles when the daemon cannot go on (its database file vanished): the caller stops it and exits non-zero. */
  readonly failed = new Promise<StationError>((resolve) => (this.fail = resolve));

  constructor(
    readonly station: Station,
    private readonly o: DaemonOptions = {},
  ) {
    this.env = o.env ?? process.env;
    this.streams = new Streams(station.config.server.limits);
    this.host = o.host ?? station.config.server.host;
    this.port = o.port ?? station.config.server.port;
    // Token variables that are unset, or a public bind without tokens, stop the daemon before it does anything.
    this.auth = new Auth(station.config.server.tokens);
    if (!this.auth.enabled && !isLoopback(this.host)) {
      throw new ConfigError(
        `refusing to listen on ${this.host} without API tokens: anyone who can reach it could start and cancel runs. ` +
          'Configure server.tokens in station.yaml, or bind to 127.0.0.1 (server.host, STN_HOST or --host)',
      );
    }
    // Missing Slack secrets stop the daemon before it does anything, like missing API token variables.
    this.slack = SlackRuntime.create(station, { env: this.env });
    this.metrics = new Metrics({
      stats: new StatsStore(station.db),
      runStore: station.runStore,
      events: station.events,
      health: () => ({ reasons: this.degraded(), gitDiverged: this.git?.status().diverged ?? false }),
    });
    storageHealth(station.db).logTo(station.logger);
    this.dbWatch = new DatabaseWatch(station.config.database, (why) => this.databaseVanished(why));
  }

  /**
   * The database file was deleted or replaced while the daemon ran: SQLite goes on writing to the open file, which no
   * longer has a name, so every run would be lost at exit. Not ready at once, then stop (the engine drains), save the
   * open database back to its path (or beside a file that replaced it) and exit non-zero, for the supervisor to start
   * Station again on the saved file.
   */
  private databaseVanished(why: string): void {
    this.vanished = true;
    storageHealth(this.station.db).raise('database_missing', why, 'watch');
    this.fail(
      new StationError(
        'STN_E_STORE_VANISHED',
        `the database file vanished while the daemon ran (${why}); what the daemon had was saved (see the log) and it stopped: start it again`,
      ),
    );
  }

  /** Writes the open database (with everything committed to it) back to a file; returns where. */
  private async rescueDatabase(): Promise<void> {
    const file = this.station.config.database;
    const target = fs.existsSync(file) ? `${file}.rescued-${new Date().toISOString().replace(/[:.]/g, '-')}` : file;
    try {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      await this.station.db.backup(target);
      this.station.logger.error({ file: target, replaced: target !== file }, `database saved to ${target}${target === file ? '' : ` (another file now stands at ${file}: compare the two before you keep one)`}`);
    } catch (err) {
      this.station.logger.fatal({ err, file: target }, 'the vanished database could not be saved: the runs since its last backup are lost when this process exits');
    }
  }

  /** The HTTP server (for `inject()` in tests); set once `start()` has built it. */
  get app(): FastifyInstance {
    if (!this.server) throw new Error('the daemon has not been started');
    return this.server;
  }

  /**
   * Builds the server and binds its port first, then syncs and starts the watcher, poller, cron and Slack, and starts
   * the engine last: a daemon that cannot bind (or fails any other start-up step) has claimed no work, so it aborts no
   * step that another start would then run again. Returns the base URL once everything is up.
   */
  async start(opts: { listen?: boolean } = {}): Promise<string | undefined> {
    const { station } = this;
    const log = station.logger;
    if (!this.auth.enabled) log.warn({ host: this.host }, 'no API tokens configured (server.tokens): every request is allowed, so the API binds to loopback only');
    this.stopBridge = bridgeStepLogs(station.events, log, station.runStore);
    this.server = await buildServer(this.deps());
    // Before this process can start a sync of its own (the API answers once bound).
    markInterruptedSyncs(station.definitions, log);
    // Bound before anything else: /readyz answers "not ready" until the first sync is done.
    const url = opts.listen === false ? undefined : await this.listen(this.server);

    if (station.git.isRepo && !(await station.git.available())) {
      this.gitMissing = true;
      log.error(
        { error_type: 'STN_E_GIT_MISSING', path_env: this.env.PATH ?? '' },
        'git is not on PATH: starting degraded (/readyz reports git_missing). Definitions still sync from the files, without ' +
          'dirty/untracked flags; git polling and the push webhook cannot fetch. Install git or fix PATH, then restart',
      );
    }
    station.syncer.holdDeletions(station.config.deletionWindowSeconds * 1000, (environment) => {
      if (this.state.shuttingDown) return;
      this.sync({ environment, source: 'watch' }).catch((err: unknown) => log.error({ err }, 'sync after held deletions failed'));
    });
    await this.sync({ source: 'start' }).catch((err: unknown) => log.error({ err }, 'the first sync failed; serving the definitions already in the database'));
    this.state.initialSyncDone = true;

    // Created now (cron names it as the owner of the slots it fires), started last.
    const engine = (this.o.engine ?? true) ? station.engine() : undefined;
    this.engine = engine;
    if (this.o.watch ?? true) {
      this.watcher = new RepoWatcher({
        station,
        onSynced: (report) => this.afterSync(report, syncMs(station, report), 'watch'),
        onError: () => {
          this.syncFailed = true;
          this.metrics.syncFinished(null, 0, 'watch');
        },
      });
      await this.watcher.start();
      this.state.watching = true;
    }
    this.git = new GitPoller({
      station,
      onUpdated: () => {
        if (this.webhookRefreshes > 0 || this.state.shuttingDown) return;
        this.sync({ source: 'poll' }).catch((err: unknown) => log.error({ err }, 'sync after a git fast-forward failed'));
      },
    });
    this.git.start();
    this.cron = new CronScheduler({ station, owner: engine?.id ?? `serve:${process.pid}`, env: this.env });
    this.cron.start();
    await this.slack?.start();

    this.dbWatch.start();
    if (engine) {
      engine.start();
      log.info({ engine: engine.id, concurrency: station.config.engine.concurrency }, 'engine started');
    }
    if (url) log.info({ url, api: `${url}/api/v1`, auth: this.auth.enabled ? 'bearer tokens' : 'none (loopback only)' }, 'listening');
    return url;
  }

  /** Binds the API's port; a port that is taken or not allowed is a configuration error (exit 2). */
  private async listen(server: FastifyInstance): Promise<string> {
    try {
      return baseUrl(await server.listen({ host: this.host, port: this.port }));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
        throw new ConfigError(`cannot listen on ${this.host}:${this.port} (${code}): choose another server.host / server.port (STN_HOST, STN_PORT, --host, --port)`);
      }
      throw err;
    }
  }

  /** Runs a sync the daemon's way: timed into the metrics, cron triggers re-read when something changed. */
  async sync(options: SyncOptions): Promise<SyncReport> {
    const started = performance.now();
    try {
      const report = await this.station.syncer.sync(options);
      this.afterSync(report, performance.now() - started, options.source ?? 'api');
      return report;
    } catch (err) {
      if (!options.dryRun) this.syncFailed = true;
      this.metrics.syncFinished(null, performance.now() - started, options.source ?? 'api');
      throw err;
    }
  }

  private afterSync(report: SyncReport, ms: number, source: string): void {
    if (!report.dryRun) this.syncFailed = false;
    this.metrics.syncFinished(report, ms, source);
    if (!changedSomething(report)) return;
    this.cron?.reload();
    // New webhook triggers may name new secret variables: mask their values in step output too.
    if (this.engine) this.station.maskTriggerSecrets();
  }

  /**
   * Why the daemon serves but may be serving stale definitions, as /readyz reason codes (docs/api.md): git missing or
   * diverged, the last fetch failed, the last sync threw, an environment's last sync was refused or failed.
   */
  private degraded(): string[] {
    const reasons = new Set<string>();
    const git = this.git?.status();
    if (this.gitMissing || git?.gitMissing) reasons.add('git_missing');
    else if (git?.lastError) reasons.add('git_fetch_failed');
    if (git?.diverged) reasons.add('git_diverged');
    if (this.syncFailed) reasons.add('sync_failed');
    try {
      for (const e of this.station.definitions.environments()) {
        if (e.last_sync_status === 'refused') reasons.add('sync_refused');
        else if (e.last_sync_status === 'error') reasons.add('sync_failed');
      }
    } catch {
      // The database cannot be read: /readyz says "not ready" with the storage problem, not this.
    }
    return [...reasons].sort();
  }

  private deps(): ServerDeps {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the getters below read fields set after the server is built
    const self = this;
    return {
      station: this.station,
      auth: this.auth,
      metrics: this.metrics,
      stats: new StatsStore(this.station.db),
      streams: this.streams,
      sync: (options) => this.sync(options),
      state: () => ({ ...this.state, degraded: this.degraded() }),
      webhooks: new WebhookHandler({ station: this.station, env: this.env }),
      // Read through getters: the poller and the scheduler are created after the server.
      get git(): GitPort | undefined {
        const git = self.git;
        if (!git) return undefined;
        return {
          status: () => git.checkout(),
          refresh: async () => {
            self.webhookRefreshes++;
            try {
              return await git.refresh();
            } finally {
              self.webhookRefreshes--;
            }
          },
        };
      },
      get cron() {
        return self.cron;
      },
      verifySignature,
      slack: this.slack,
      approverDirectory: this.slack?.directory,
      env: this.env,
    };
  }

  /**
   * Stops in reverse order: no new requests (open streams and waits are ended), no new syncs or cron fires, then the
   * engine: running steps get server.shutdownGraceSeconds to finish; the rest are stopped and their leases released,
   * so the next start delivers them again. Safe to call twice.
   */
  stop(reason = 'stop'): Promise<void> {
    this.stopping ??= this.stopNow(reason);
    return this.stopping;
  }

  private async stopNow(reason: string): Promise<void> {
    const log = this.station.logger;
    const graceMs = this.station.config.server.shutdownGraceSeconds * 1000;
    this.state.shuttingDown = true;
    log.info({ reason, grace_ms: graceMs, running_steps: this.engine?.busy ?? 0 }, 'shutting down: no new requests; running steps get the grace period');
    await this.server?.close();
    this.cron?.stop();
    await this.slack?.stop();
    this.station.syncer.stopHolding();
    this.git?.stop();
    await this.watcher?.stop();
    this.state.watching = false;
    await this.engine?.stop(graceMs);
    this.dbWatch.stop();
    if (this.vanished) await this.rescueDatabase();
    this.stopBridge?.();
    this.metrics.close();
    log.info({ reason }, 'stopped; leases released');
  }
}

/** How long the sync of a report took, from its sync_runs row (the watcher runs syncs itself). */
function syncMs(station: Station, report: SyncReport): number {
  const row = report.syncRunId === null ? undefined : station.definitions.syncRuns(5).find((r) => r.id === report.syncRunId);
  return row?.finished_at ? Date.parse(row.finished_at) - Date.parse(row.started_at) : 0;
}

/** `http://127.0.0.1:7878` from Fastify's listen address (IPv6 hosts in brackets). */
function baseUrl(address: string): string {
  const u = new URL(address);
  return `${u.protocol}//${u.host}`;
}
