import { ConfigError } from '../errors.js';
import { DEFAULTS } from './defaults.js';

/** One entry of `agents.providers` in station.yaml as written (schemas/station.schema.json). */
export interface AgentProviderFile {
  type: 'openai' | 'fixture';
  baseUrl?: string;
  /** The NAME of the secret holding the API key (resolved like `secrets.NAME` in workflows), never the key. */
  apiKeySecret?: string;
  defaultModel?: string;
  timeoutSeconds?: number;
  maxTokensPerStep?: number;
}

/** The `agents:` section of station.yaml as written. */
export interface AgentsFile {
  defaultProvider?: string;
  providers?: Record<string, AgentProviderFile>;
}

/** A model provider with defaults applied. The API key's value is not here: only its secret's name. */
export interface ResolvedAgentProvider {
  readonly name: string;
  readonly type: 'openai' | 'fixture';
  /** The chat-completions base URL (`.../v1`); undefined for the fixture provider. */
  readonly baseUrl: string | undefined;
  readonly apiKeySecret: string | undefined;
  readonly defaultModel: string | undefined;
  /** One model request may take this long; past it the turn fails retryably. */
  readonly timeoutSeconds: number;
  /** The most tokens (input + output, all turns) one agent step may use; undefined: no cap. */
  readonly maxTokensPerStep: number | undefined;
}

export interface ResolvedAgentsConfig {
  /** The provider of prompts whose `model` names none. */
  readonly defaultProvider: string;
  readonly providers: Readonly<Record<string, ResolvedAgentProvider>>;
}

/**
 * Resolves the `agents:` section. A `fixture` provider (scripted replies from files in the repository) always exists
 * unless the file declares its own provider of that name, and it is the default provider when the file names no
 * `defaultProvider` and declares no provider: a repository without an `agents:` section runs its agents offline.
 * Without `defaultProvider`, the first provider the file declares is the default.
 */
export function resolveAgentsConfig(file: AgentsFile | undefined): ResolvedAgentsConfig {
  const providers: Record<string, ResolvedAgentProvider> = {
    [DEFAULTS.agents.fixtureProvider]: {
      name: DEFAULTS.agents.fixtureProvider,
      type: 'fixture',
      baseUrl: undefined,
      apiKeySecret: undefined,
      defaultModel: undefined,
      timeoutSeconds: DEFAULTS.agents.timeoutSeconds,
      maxTokensPerStep: undefined,
    },
  };
  const declared = Object.entries(file?.providers ?? {});
  for (const [name, p] of declared) {
    let baseUrl: string | undefined;
    if (p.type === 'openai') {
      baseUrl = p.baseUrl ?? DEFAULTS.agents.openaiBaseUrl;
      try {
        const u = new URL(baseUrl);
        if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http(s)');
      } catch {
        throw new ConfigError(`agents.providers.${name}.baseUrl must be an http(s) URL, got "${baseUrl}"`);
      }
    } else if (p.baseUrl !== undefined || p.apiKeySecret !== undefined) {
      throw new ConfigError(`agents.providers.${name}: a fixture provider takes no baseUrl or apiKeySecret`);
    }
    providers[name] = Object.freeze({
      name,
      type: p.type,
      baseUrl,
      apiKeySecret: p.apiKeySecret,
      defaultModel: p.defaultModel,
      timeoutSeconds: p.timeoutSeconds ?? DEFAULTS.agents.timeoutSeconds,
      maxTokensPerStep: p.maxTokensPerStep,
    });
  }
  const defaultProvider = file?.defaultProvider ?? declared[0]?.[0] ?? DEFAULTS.agents.fixtureProvider;
  if (providers[defaultProvider] === undefined) {
    throw new ConfigError(`agents.defaultProvider "${defaultProvider}" is not a provider (known: ${Object.keys(providers).join(', ')})`);
  }
  return Object.freeze({ defaultProvider, providers: Object.freeze(providers) });
}
