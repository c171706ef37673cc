import path from 'node:path';
import type { ResolvedAgentsConfig } from '../config/agents.js';
import type { WorkflowSpec } from '../definitions/types.js';
import { StepFailure } from '../errors.js';
import type { Logger } from '../log.js';
import { AgentStore } from '../store/agents.js';
import type { Db } from '../store/db.js';
import { DefinitionStore } from '../store/definitions.js';
import { RunAgentPins } from '../store/run-agents.js';
import type { RunStore } from '../store/runs.js';
import { formatMcpProblem, loadMcpFile, mcpConfigFailure } from './mcp/config.js';
import { McpHub } from './mcp/hub.js';
import { ProviderRegistry, type ResolvedModel, type SecretLookup } from './providers/resolve.js';
import { literalAgentRefs } from './refs.js';
import type { AgentSpec, ToolBox } from './types.js';
import { agentVersionById, parseAgentRef, resolveAgent, type AgentVersion } from './versions.js';

/** What agent.run needs from the daemon: the agents a run pinned, the model providers and the MCP tools. */
export interface AgentHost {
  /** The version of agent `ref` (`name` or `name@env`) that run `runId` uses, with the folder of its file. */
  agent(runId: string, ref: string): { version: AgentVersion; dir: string };
  /** The provider and model of a prompt's `model`. */
  model(spec: AgentSpec): ResolvedModel;
  /** The tools of environment `environment`'s mcp.yaml that `allowlist` selects. */
  toolbox(environment: string, allowlist: readonly string[]): ToolBox;
}

export interface AgentRuntimeOptions {
  db: Db;
  runs: RunStore;
  repo: string;
  config: ResolvedAgentsConfig;
  /** A secret's value by name (provider API keys, MCP server env and headers). */
  secret: SecretLookup;
  logger: Logger;
  /** station.yaml steps.envAllowlist: what stdio MCP servers inherit of the daemon's environment. */
  envAllowlist: readonly string[];
}

/** No tools: an agent whose prompt allows none never starts an MCP server. */
const NO_TOOLS: ToolBox = {
  list: () => Promise.resolve([]),
  call: (name) => Promise.resolve({ ok: false, content: `no tool "${name}": this agent has no tools` }),
};

/**
 * The daemon's agent services: pins agent versions to runs, resolves models through one provider registry (its HTTP
 * clients keep their connections), and lends MCP tools from one hub (servers started on demand, shared by steps).
 */
export class AgentRuntime implements AgentHost {
  readonly providers: ProviderRegistry;
  readonly hub: McpHub;
  private readonly agents: AgentStore;
  private readonly definitions: DefinitionStore;
  private readonly pins: RunAgentPins;

  constructor(private readonly o: AgentRuntimeOptions) {
    this.providers = new ProviderRegistry(o.config, o.secret);
    this.hub = new McpHub({ secret: o.secret, repo: o.repo, envAllowlist: o.envAllowlist, logger: o.logger });
    this.agents = new AgentStore(o.db);
    this.definitions = new DefinitionStore(o.db);
    this.pins = new RunAgentPins(o.db);
  }

  /**
   * Pins, for a run starting now (inside its transaction), the active version of every agent its workflow names
   * literally. An agent that does not exist is not pinned: its step fails when it runs (sync warned about it).
   */
  pinAtStart(runId: string, environment: string, bundle: string | null, spec: WorkflowSpec): void {
    for (const ref of literalAgentRefs(spec.states)) {
      const { name, env } = parseAgentRef(ref, environment);
      const v = resolveAgent(this.agents, env, name, env === environment ? bundle : null);
      if (v) this.pins.pin(runId, ref, v.id);
    }
  }

  agent(runId: string, ref: string): { version: AgentVersion; dir: string } {
    let id = this.pins.pinned(runId, ref);
    if (id === undefined) {
      // Named by a template: pinned by the first step of the run that uses it.
      const run = this.runOf(runId);
      const { name, env } = parseAgentRef(ref, run.environment);
      const v = resolveAgent(this.agents, env, name, env === run.environment ? run.bundle : null);
      if (!v) {
        throw new StepFailure('STN_E_AGENT_NOT_FOUND', `no agent "${name}" in environment "${env}"${run.bundle ? ` or bundle "${run.bundle}"` : ''} (environments/${env}/agents/${name}.prompt)`, false);
      }
      id = this.pins.pin(runId, ref, v.id);
    }
    const version = agentVersionById(this.agents, id);
    if (!version) throw new StepFailure('STN_E_AGENT_NOT_FOUND', `agent version ${id} pinned by run ${runId} is not in the database`, false);
    return { version, dir: path.dirname(path.join(this.o.repo, version.path)) };
  }

  model(spec: AgentSpec): ResolvedModel {
    return this.providers.resolve(spec.model);
  }

  toolbox(environment: string, allowlist: readonly string[]): ToolBox {
    if (allowlist.length === 0) return NO_TOOLS;
    const { config, problems } = loadMcpFile(this.o.repo, environment);
    if (!config || problems.length > 0) {
      this.o.logger.warn({ environment, problems: problems.map(formatMcpProblem) }, 'mcp.yaml is invalid');
      throw mcpConfigFailure(problems);
    }
    return this.hub.toolbox(config, allowlist);
  }

  close(): Promise<void> {
    return this.hub.close();
  }

  private runOf(runId: string): { environment: string; bundle: string | null } {
    const run = this.o.runs.run(runId);
    if (!run) throw new StepFailure('STN_E_AGENT_NOT_FOUND', `run ${runId} is not in the database`, false);
    return { environment: run.environment, bundle: this.definitions.definition(run.environment, run.workflow_id)?.bundle ?? null };
  }
}
