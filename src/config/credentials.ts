import type { ResolvedConfig } from './config.js';
import { SLACK_DEFAULTS } from './slack.js';

/**
 * Names of variables that look like credentials whatever configured them: provider keys (OPENAI_API_KEY), cloud and
 * Git credentials (AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN, GIT_PASSWORD), and the like.
 */
const CREDENTIAL_NAME = /TOKEN|SECRET|PASSW(OR)?D|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH/i;

/** Variables found by name only are masked when their value has at least this many characters. */
const GUESSED_MIN_LENGTH = 8;

/** A guess by name: only values long enough to be a credential (AUTH_ENABLED=true must not mask every "true"). */
export function looksLikeCredential(name: string, value: string): boolean {
  return CREDENTIAL_NAME.test(name) && value.length >= GUESSED_MIN_LENGTH;
}

/**
 * The environment variables of this process that hold credentials, by name: API token variables (server.tokens[].env),
 * the Slack bot/app tokens and signing secret, the Git push webhook secret, every STN_SECRET_*, and every variable
 * whose name looks like a credential. Their values are masked in stored step output, and steps never inherit them
 * (the step environment is an allowlist). Webhook triggers' secretEnv names are added when definitions are read.
 */
export function credentialEnvNames(config: ResolvedConfig, env: NodeJS.ProcessEnv): string[] {
  const names = new Set<string>();
  for (const t of config.server.tokens) if (t.env !== undefined) names.add(t.env);
  const slack = config.slack ?? SLACK_DEFAULTS;
  names.add(slack.botTokenEnv);
  names.add(slack.signingSecretEnv);
  names.add(slack.appTokenEnv);
  if (config.git.webhookSecretEnv !== undefined) names.add(config.git.webhookSecretEnv);
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith('STN_SECRET_')) names.add(name);
    else if (value !== undefined && looksLikeCredential(name, value)) names.add(name);
  }
  return [...names];
}
