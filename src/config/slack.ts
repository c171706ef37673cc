import { ConfigError } from '../errors.js';

/** The `slack:` section of station.yaml as written (schemas/station.schema.json). */
export interface SlackFile {
  mode?: 'http' | 'socket';
  botTokenEnv?: string;
  signingSecretEnv?: string;
  appTokenEnv?: string;
  defaultChannel?: string;
  apiUrl?: string;
  /** Channel overrides: `<env>` or `<env>/<workflowId>` → channel id. */
  channels?: Record<string, string>;
}

/** Slack settings with defaults applied. Values of tokens and secrets are NOT here: only the variable names. */
export interface ResolvedSlackConfig {
  readonly mode: 'http' | 'socket';
  readonly botTokenEnv: string;
  readonly signingSecretEnv: string;
  readonly appTokenEnv: string;
  readonly defaultChannel: string | undefined;
  /** The Web API base, ending with a slash. */
  readonly apiUrl: string;
  readonly channels: Readonly<Record<string, string>>;
}

export const SLACK_DEFAULTS = {
  mode: 'http',
  botTokenEnv: 'SLACK_BOT_TOKEN',
  signingSecretEnv: 'SLACK_SIGNING_SECRET',
  appTokenEnv: 'SLACK_APP_TOKEN',
  apiUrl: 'https://slack.com/api/',
} as const;

/**
 * Resolves the `slack:` section. Slack is off (undefined) when station.yaml has no `slack:` section. STN_SLACK_API_URL
 * overrides `apiUrl` (a proxy, or a test server).
 */
export function resolveSlackConfig(file: SlackFile | undefined, env: NodeJS.ProcessEnv): ResolvedSlackConfig | undefined {
  if (file === undefined) return undefined;
  let apiUrl = env.STN_SLACK_API_URL ?? file.apiUrl ?? SLACK_DEFAULTS.apiUrl;
  try {
    const u = new URL(apiUrl);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http(s)');
  } catch {
    throw new ConfigError(`slack.apiUrl must be an http(s) URL, got "${apiUrl}"`);
  }
  if (!apiUrl.endsWith('/')) apiUrl += '/';
  return Object.freeze({
    mode: file.mode ?? SLACK_DEFAULTS.mode,
    botTokenEnv: file.botTokenEnv ?? SLACK_DEFAULTS.botTokenEnv,
    signingSecretEnv: file.signingSecretEnv ?? SLACK_DEFAULTS.signingSecretEnv,
    appTokenEnv: file.appTokenEnv ?? SLACK_DEFAULTS.appTokenEnv,
    defaultChannel: file.defaultChannel,
    apiUrl,
    channels: Object.freeze({ ...(file.channels ?? {}) }),
  });
}

/**
 * The channel of a run's Slack thread: the step's own `channel`, else `channels["<env>/<workflowId>"]`, else
 * `channels["<env>"]`, else `defaultChannel`; undefined when none applies (no Slack message then).
 */
export function channelFor(
  slack: ResolvedSlackConfig | undefined,
  environment: string,
  workflowId: string,
  explicit?: string,
): string | undefined {
  if (explicit !== undefined && explicit !== '') return explicit;
  if (!slack) return undefined;
  return slack.channels[`${environment}/${workflowId}`] ?? slack.channels[environment] ?? slack.defaultChannel;
}
