import type { JsonObject } from '../definitions/types.js';
import { StepFailure } from '../errors.js';
import { runAgentLoop, type AgentLoopResult } from './loop.js';
import { renderAgent, validateAgentInput, withDefaults } from './prompt.js';
import type { ResolvedModel } from './providers/resolve.js';
import type { AgentSpec, JournalEntry, StepJournal, ToolBox } from './types.js';
import type { AgentVersion } from './versions.js';

/** The services an agent runs with: its model provider and the MCP tools its prompt allows (the daemon's AgentRuntime). */
export interface AgentServices {
  /** The provider and model of a prompt's `model`. */
  model(spec: AgentSpec): ResolvedModel;
  /** The tools of environment `environment`'s mcp.yaml that `allowlist` selects. */
  toolbox(environment: string, allowlist: readonly string[]): ToolBox;
}

export interface RunAgentOptions {
  /** The agent version to run and the folder of its file (the fixture provider reads its fixtures there). */
  version: AgentVersion;
  dir: string;
  task: string;
  /** The variables as given: the input schema's defaults are applied, then they are checked against it. */
  variables: JsonObject;
  services: AgentServices;
  /** Where each model turn and tool call is committed as it completes (the step's journal, or a try-out's memory). */
  journal: StepJournal;
  signal: AbortSignal;
}

/**
 * `variables` with the agent's input-schema defaults applied, and what about them does not match its input schema
 * (empty: they do).
 */
export function agentVariables(spec: AgentSpec, variables: JsonObject): { variables: JsonObject; problems: string[] } {
  const withDefs = withDefaults(spec, variables);
  return { variables: withDefs, problems: validateAgentInput(spec, withDefs) };
}

/**
 * Runs one agent once: its variables checked against its input schema (defaults applied), its prompt rendered with
 * them and the task (`userInput`), then the agent loop with its model and tools over `journal`. What agent.run and
 * `stn agents run` both do. Rejects with a StepFailure: STN_E_AGENT_INPUT for variables that do not match, or what
 * the loop, the model resolution or the toolbox failed with.
 */
export async function runAgent(o: RunAgentOptions): Promise<AgentLoopResult> {
  const { spec } = o.version;
  const { variables, problems } = agentVariables(spec, o.variables);
  if (problems.length > 0) {
    throw new StepFailure('STN_E_AGENT_INPUT', `agent "${spec.name}": the step's variables do not match its input schema: ${problems.join('; ')}`, false);
  }
  return runAgentLoop({
    spec,
    messages: await renderAgent(spec, { variables, task: o.task }),
    task: o.task,
    agentDir: o.dir,
    model: o.services.model(spec),
    tools: o.services.toolbox(o.version.environment, spec.tools),
    journal: o.journal,
    signal: o.signal,
  });
}

/**
 * A journal kept in memory, for a run of an agent outside any workflow (`stn agents run`): nothing is stored, and
 * `onEntry` hears of each model turn and tool call as it completes.
 */
export class MemoryJournal implements StepJournal {
  readonly entries: JournalEntry[] = [];

  constructor(private readonly onEntry: (entry: JournalEntry) => void = () => undefined) {}

  append(entry: JournalEntry): Promise<void> {
    this.entries.push(entry);
    this.onEntry(entry);
    return Promise.resolve();
  }
}
