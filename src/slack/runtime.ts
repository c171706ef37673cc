import { setTimeout as sleep } from 'node:timers/promises';
import { App, LogLevel, SocketModeReceiver } from '@slack/bolt';
import type { Station } from '../context.js';
import { ConfigError } from '../errors.js';
import { ApprovalStore } from '../store/approvals.js';
import {
  createWebClient,
  DEFAULT_SLACK_RETRY,
  slackCredentials,
  slackErrorText,
  slackLogger,
  webClientOptions,
  type SlackRetry,
  type WebClient,
} from './client.js';
import { SlackDirectory } from './directory.js';
import { registerInteractions } from './interactions.js';
import { SlackNotifier } from './notifier.js';
import { FastifyBoltReceiver, type Headers, type SlackHttpAnswer } from './receiver.js';
import { slackBackoffMs, SlackThreads } from './threads.js';

export interface SlackRuntimeOptions {
  /** Where the token and secret variables are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Per-call retries of the Web API client (tests shorten them). */
  retry?: SlackRetry;
  /** How often the notifier looks for work committed by other processes. */
  pollMs?: number;
  now?: () => number;
}

/**
 * Slack in the daemon (docs/approvals.md "Slack"): the Bolt app (HTTP mode through the daemon's `/slack/events`, or
 * Socket Mode), the interaction handlers, and the notifier that delivers approval messages and run threads from the
 * database. `create()` answers undefined when station.yaml has no `slack:` section.
 */
export class SlackRuntime {
  readonly client: WebClient;
  readonly notifier: SlackNotifier;
  readonly mode: 'http' | 'socket';
  /** Resolves approvers (emails, groups) and users' emails through Slack, cached; also used by API votes. */
  readonly directory: SlackDirectory;
  private readonly app: App;
  private readonly receiver: FastifyBoltReceiver | undefined;
  private started = false;
  private connecting: Promise<void> | undefined;
  /** Ends the wait between two Socket Mode connection attempts (stop() must not wait out a 60 s backoff). */
  /** Aborted by stop(): ends a backoff wait at once, even one that starts after stop() was called. */
  private stopping = new AbortController();
  private readonly logger: Station['logger'];

  private constructor(station: Station, o: SlackRuntimeOptions) {
    const config = station.config.slack;
    if (!config) throw new ConfigError('slack is not configured');
    const env = o.env ?? process.env;
    const creds = slackCredentials(config, env);
    const logger = station.logger.child({ component: 'slack' });
    this.logger = logger;
    if (!creds.botToken) throw new ConfigError(`slack: environment variable ${config.botTokenEnv} (slack.botTokenEnv) is not set`);
    this.mode = config.mode;
    const retry = o.retry ?? DEFAULT_SLACK_RETRY;
    this.client = createWebClient(creds.botToken, config, station.logger, retry);
    const botToken = creds.botToken;
    const common = {
      // An authorize of our own instead of `token`: with a single token Bolt calls auth.test before every interaction
      // (its result is not cached when token verification is off), so a Slack API hiccup would drop a click unseen.
      // The app only handles interactions, never its own messages, so it needs no bot user id.
      authorize: () => Promise.resolve({ botToken }),
      logger: slackLogger(station.logger),
      logLevel: LogLevel.INFO,
      clientOptions: webClientOptions(config, station.logger, retry),
      ignoreSelf: false,
      convoStore: false as const,
    };
    if (config.mode === 'socket') {
      if (!creds.appToken) throw new ConfigError(`slack: socket mode needs the app-level token in ${config.appTokenEnv} (slack.appTokenEnv), which is not set`);
      const receiver = new SocketModeReceiver({
        appToken: creds.appToken,
        logger: slackLogger(station.logger),
        // apps.connections.open goes to slack.apiUrl like every other call.
        installerOptions: { clientOptions: webClientOptions(config, station.logger, retry) },
      });
      this.app = new App({ ...common, receiver });
      this.receiver = undefined;
    } else {
      if (!creds.signingSecret) {
        throw new ConfigError(`slack: HTTP mode needs the signing secret in ${config.signingSecretEnv} (slack.signingSecretEnv), which is not set`);
      }
      this.receiver = new FastifyBoltReceiver({ signingSecret: creds.signingSecret, logger, ...(o.now ? { now: o.now } : {}) });
      this.app = new App({ ...common, receiver: this.receiver });
    }
    const store = new ApprovalStore(station.db);
    const publicUrl = station.config.server.publicUrl;
    const threads = new SlackThreads({ store, runs: station.runStore, client: this.client, logger, publicUrl, ...(o.now ? { now: o.now } : {}) });
    this.notifier = new SlackNotifier({
      config,
      store,
      threads,
      client: this.client,
      events: station.events,
      logger,
      publicUrl,
      ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}),
      ...(o.now ? { now: o.now } : {}),
    });
    this.directory = new SlackDirectory(this.client, logger);
    registerInteractions(this.app, {
      approvals: station.approvals,
      directory: this.directory,
      client: this.client,
      logger,
      notify: () => this.notifier.poke(),
    });
  }

  /** The daemon's Slack, or undefined when station.yaml has no `slack:` section. Throws STN_E_CONFIG for missing secrets. */
  static create(station: Station, o: SlackRuntimeOptions = {}): SlackRuntime | undefined {
    if (!station.config.slack) return undefined;
    return new SlackRuntime(station, o);
  }

  /**
   * Starts the notifier and, in Socket Mode, connects to Slack (apps.connections.open, then the WebSocket) in the
   * background, retrying with backoff while Slack is unreachable: the daemon never waits on Slack to start.
   */
  start(): Promise<void> {
    if (this.started) return Promise.resolve();
    this.started = true;
    this.stopping = new AbortController();
    this.notifier.start();
    if (this.mode === 'socket') this.connecting = this.connect();
    return Promise.resolve();
  }

  /** Resolves once Socket Mode is connected (at once in HTTP mode). */
  connected(): Promise<void> {
    return this.connecting ?? Promise.resolve();
  }

  private async connect(): Promise<void> {
    for (let attempt = 0; this.started; attempt++) {
      try {
        await this.app.start();
        this.logger.info('connected to Slack (Socket Mode)');
        return;
      } catch (err) {
        if (this.stopping.signal.aborted) return;
        const delay = slackBackoffMs(attempt);
        this.logger.warn({ error: slackErrorText(err), retry_in_ms: delay }, 'cannot connect to Slack (Socket Mode); will retry');
        await sleep(delay, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      }
    }
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (this.mode === 'socket') {
      this.stopping.abort();
      await this.connecting;
      await this.app.stop().catch((err: unknown) => this.logger.debug({ error: slackErrorText(err) }, 'Socket Mode stop'));
    }
    await this.notifier.stop();
  }

  /** `POST /slack/events` in HTTP mode: verifies, dispatches to the Bolt app, answers with its acknowledgement. */
  async handleHttp(rawBody: Buffer, headers: Headers): Promise<SlackHttpAnswer> {
    if (!this.receiver) {
      return { status: 404, body: { error: { code: 'STN_E_NOT_FOUND', message: 'Slack runs in socket mode: /slack/events is not served' } } };
    }
    return this.receiver.handle(rawBody, headers);
  }
}
