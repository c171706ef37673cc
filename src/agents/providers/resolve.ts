import type { ResolvedAgentsConfig } from '../../config/agents.js';
import { AgentError } from '../errors.js';
import { FixtureProvider } from './fixture.js';
import { OpenAIProvider } from './openai.js';
import type { ChatProvider } from './types.js';

/** Looks up a secret's value by name (the engine's secrets); undefined when this process does not have it. */
export type SecretLookup = (name: string) => string | undefined;

/** The provider and model one agent step talks to. */
export interface ResolvedModel {
  provider: ChatProvider;
  /** The model name sent to the provider. */
  model: string;
  /** `<provider>/<model>`: the agent output's `model` and the transcript's label. */
  label: string;
  /** The provider's per-step token cap. */
  maxTokensPerStep: number | undefined;
}

// The fixture provider's model when neither the prompt nor the provider names one (it answers the same either way).
const FIXTURE_MODEL = 'fixture';

/**
 * The providers of station.yaml's `agents:` section, built once and reused (an OpenAI-compatible client keeps its
 * connections). API keys are read through `secret` at each request, never kept in the configuration.
 */
export class ProviderRegistry {
  private readonly built = new Map<string, ChatProvider>();

  constructor(
    private readonly config: ResolvedAgentsConfig,
    private readonly secret: SecretLookup,
  ) {}

  /**
   * Resolves a prompt's `model`: `<provider>/<model>` when `<provider>` is a configured provider, else the whole text
   * is a model of the default provider (model names may hold slashes: `meta-llama/Llama-3.1-8B`); undefined: the
   * default provider's `defaultModel`. A bare `<provider>` name alone is not special: it is a model name.
   */
  resolve(model: string | undefined): ResolvedModel {
    let providerName = this.config.defaultProvider;
    let modelName = model === undefined || model === '' ? undefined : model;
    if (modelName !== undefined) {
      const slash = modelName.indexOf('/');
      if (slash > 0 && this.config.providers[modelName.slice(0, slash)] !== undefined) {
        providerName = modelName.slice(0, slash);
        modelName = modelName.slice(slash + 1) || undefined;
      }
    }
    const settings = this.config.providers[providerName];
    if (settings === undefined) throw new AgentError('STN_E_AGENT_MODEL', `model provider "${providerName}" is not configured`);
    const resolvedModel = modelName ?? settings.defaultModel ?? (settings.type === 'fixture' ? FIXTURE_MODEL : undefined);
    if (resolvedModel === undefined) {
      throw new AgentError(
        'STN_E_AGENT_MODEL',
        `no model: the prompt names none and model provider "${providerName}" has no defaultModel (station.yaml agents.providers.${providerName})`,
      );
    }
    return { provider: this.provider(providerName), model: resolvedModel, label: `${providerName}/${resolvedModel}`, maxTokensPerStep: settings.maxTokensPerStep };
  }

  /** The provider of that name (built on first use). */
  provider(name: string): ChatProvider {
    const existing = this.built.get(name);
    if (existing) return existing;
    const settings = this.config.providers[name];
    if (settings === undefined) throw new AgentError('STN_E_AGENT_MODEL', `model provider "${name}" is not configured`);
    let provider: ChatProvider;
    switch (settings.type) {
      case 'fixture':
        provider = new FixtureProvider(name);
        break;
      case 'openai': {
        const secretName = settings.apiKeySecret;
        provider = new OpenAIProvider({
          name,
          baseUrl: settings.baseUrl ?? '',
          timeoutSeconds: settings.timeoutSeconds,
          apiKey: () => {
            if (secretName === undefined) return undefined;
            const value = this.secret(secretName);
            if (value === undefined) {
              throw new AgentError('STN_E_SECRET_MISSING', `model provider "${name}" needs the secret ${secretName} (its API key), which this engine does not have`);
            }
            return value;
          },
        });
        break;
      }
      default: {
        const never: never = settings.type;
        throw new Error(`unknown provider type ${String(never)}`);
      }
    }
    this.built.set(name, provider);
    return provider;
  }
}
