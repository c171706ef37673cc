import { createRequire } from 'node:module';
import type * as Bolt from '@slack/bolt';
import type { LogLevel, Logger as SlackLogger, webApi } from '@slack/bolt';

/**
 * Bolt (and its HTTP stack) is loaded on first use: every Station process builds a Slack poster, but only those that
 * talk to Slack should pay for loading it (CLI start-up time and memory).
 */
const load = createRequire(import.meta.url);
let bolt: typeof Bolt | undefined;
function slackSdk(): typeof Bolt {
  bolt ??= load('@slack/bolt') as typeof Bolt;
  return bolt;
}
import type { ResolvedSlackConfig } from '../config/slack.js';
import type { Logger } from '../log.js';

export type WebClient = InstanceType<typeof webApi.WebClient>;
export type WebClientOptions = NonNullable<ConstructorParameters<typeof webApi.WebClient>[1]>;

/** How the Web API client retries one call before the caller's own (durable) retry takes over. */
export interface SlackRetry {
  retries: number;
  minTimeoutMs: number;
  maxTimeoutMs: number;
  /** Per-request timeout. */
  timeoutMs: number;
}

/**
 * Few, quick retries per call: a Slack outage must never hold up the notifier (which retries durably with its own
 * backoff) or a slack.post step (which has its step retry policy).
 */
export const DEFAULT_SLACK_RETRY: SlackRetry = { retries: 2, minTimeoutMs: 250, maxTimeoutMs: 2000, timeoutMs: 10_000 };

/** The settings of every Slack Web API client Station makes (Bolt's included): base URL, retries, logging. */
export function webClientOptions(config: ResolvedSlackConfig, logger: Logger, retry: SlackRetry = DEFAULT_SLACK_RETRY): WebClientOptions {
  return {
    slackApiUrl: config.apiUrl,
    logger: slackLogger(logger),
    retryConfig: { retries: retry.retries, factor: 2, minTimeout: retry.minTimeoutMs, maxTimeout: retry.maxTimeoutMs, randomize: true },
    timeout: retry.timeoutMs,
    // On HTTP 429 the client would otherwise pause ALL its calls for Retry-After (and retry in place), holding up the
    // Reject dialog (views.open must answer within 3 s) and the notifier; the caller reschedules per Retry-After instead.
    rejectRateLimitedCalls: true,
  };
}

export function createWebClient(token: string, config: ResolvedSlackConfig, logger: Logger, retry?: SlackRetry): WebClient {
  return new (slackSdk().webApi.WebClient)(token, webClientOptions(config, logger, retry));
}

/** The Slack secrets, read from the environment variables station.yaml names (never stored, never logged). */
export interface SlackCredentials {
  botToken: string | undefined;
  signingSecret: string | undefined;
  appToken: string | undefined;
}

export function slackCredentials(config: ResolvedSlackConfig, env: NodeJS.ProcessEnv): SlackCredentials {
  const read = (name: string) => (env[name] !== undefined && env[name] !== '' ? env[name] : undefined);
  return { botToken: read(config.botTokenEnv), signingSecret: read(config.signingSecretEnv), appToken: read(config.appTokenEnv) };
}

/** Slack's logger interface on top of pino (component=slack); Slack's chatty info lines go to debug. */
export function slackLogger(logger: Logger): SlackLogger {
  const log = logger.child({ component: 'slack' });
  let level: LogLevel = slackSdk().LogLevel.INFO;
  const text = (msg: unknown[]) => msg.map((m) => (typeof m === 'string' ? m : m instanceof Error ? m.message : JSON.stringify(m))).join(' ');
  return {
    debug: (...msg: unknown[]) => log.trace(text(msg)),
    info: (...msg: unknown[]) => log.debug(text(msg)),
    warn: (...msg: unknown[]) => log.warn(text(msg)),
    error: (...msg: unknown[]) => log.error(text(msg)),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

/** Platform errors that no retry will fix: the channel or token is wrong, the message is invalid. */
const PERMANENT = new Set([
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'missing_scope',
  'no_permission',
  'invalid_blocks',
  'invalid_blocks_format',
  'msg_too_long',
  'message_not_found',
  'cant_update_message',
  'restricted_action',
]);

/** Platform errors that mean the token itself is wrong, revoked or lacks a scope: an operator must fix the config. */
const AUTH_ERRORS = new Set([
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'missing_scope',
  'no_permission',
  'not_allowed_token_type',
  'ekm_access_denied',
  'team_access_not_granted',
  'org_login_required',
  'two_factor_setup_required',
]);

/** True when Slack refused the call because of the token (AUTH_ERRORS): never retried. */
export function isSlackAuthError(err: unknown): boolean {
  return AUTH_ERRORS.has(slackErrorCode(err));
}

/** The Slack error code of a failed Web API call (`channel_not_found`, `ratelimited`, ...), or the client's own code. */
export function slackErrorCode(err: unknown): string {
  const e = err as { code?: string; data?: { error?: string } };
  if (e.code === slackSdk().webApi.ErrorCode.PlatformError && typeof e.data?.error === 'string') return e.data.error;
  return e.code ?? 'unknown';
}

/** True when retrying the call cannot help (see PERMANENT); network errors, 5xx and rate limits are retried. */
export function isPermanentSlackError(err: unknown): boolean {
  const code = slackErrorCode(err);
  return PERMANENT.has(code) || AUTH_ERRORS.has(code);
}

/** Slack's Retry-After of a rate-limited call (HTTP 429) in ms, or 0 when the call was not rate limited. */
export function slackRetryAfterMs(err: unknown): number {
  const e = err as { code?: string; retryAfter?: unknown };
  if (e.code !== slackSdk().webApi.ErrorCode.RateLimitedError || typeof e.retryAfter !== 'number' || !Number.isFinite(e.retryAfter)) return 0;
  return Math.max(0, e.retryAfter) * 1000;
}

/** A short, secret-free description of a failed call for logs and stored errors. */
export function slackErrorText(err: unknown): string {
  const code = slackErrorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  return code === 'unknown' ? message : `${code}: ${message}`;
}
