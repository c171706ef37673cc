import path from 'node:path';
import { MemoryJournal, agentVariables, runAgent } from '../agents/run-agent.js';
import { agentVersionById, type AgentVersion } from '../agents/versions.js';
import type { Station } from '../context.js';
import type { JsonObject } from '../definitions/types.js';
import { NotFoundError, StationError, StepFailure } from '../errors.js';
import { AgentStore } from '../store/agents.js';
import { agentRunProgress } from '../views/agents.js';
import type { AgentRunProgressView, AgentRunResultView } from '../views/types.js';
import { findAgent } from './lookup.js';

/** What `stn agents run` and `POST /api/v1/agents/{name}/runs` ask for. */
export interface AgentTryRequest {
  task: string;
  variables?: JsonObject | undefined;
  /** The agent's environment (needed when it exists in several). */
  environment?: string | undefined;
  /** The bundle it comes from (when bundles share the name). */
  bundle?: string | undefined;
}

/** An agent try-out that passed its checks: the version to run and its variables (defaults applied). */
export interface PreparedAgentTry {
  version: AgentVersion;
  dir: string;
  task: string;
  variables: JsonObject;
}

/**
 * Finds the active version of agent `name` and checks the variables against its input schema, before anything runs:
 * STN_E_NOT_FOUND (no such agent, or none that can run), STN_E_USAGE (the name is ambiguous: `hints` say how to
 * choose), STN_E_INPUT_INVALID (the variables do not match; `details.problems` lists why).
 */
export function prepareAgentTry(station: Station, name: string, req: AgentTryRequest, hints: { env: string; bundle: string }): PreparedAgentTry {
  const agents = new AgentStore(station.db);
  const a = findAgent(agents, name, { env: req.environment, bundle: req.bundle }, hints);
  const row = a.active_version === null ? undefined : agents.version(a.environment, a.scope, a.name, a.active_version);
  const version = row && a.status === 'active' ? agentVersionById(agents, row.id) : undefined;
  const where = `${a.environment}${a.scope === '' ? '' : ` (bundle ${a.scope})`}`;
  if (!version) throw new NotFoundError(`agent "${a.name}" in ${where} has no version that can run (${a.status === 'disabled' ? 'its file was deleted' : 'its file was never valid'})`);
  const { variables, problems } = agentVariables(version.spec, req.variables ?? {});
  if (problems.length > 0) {
    throw new StationError('STN_E_INPUT_INVALID', `agent "${a.name}" in ${where}: the variables do not match its input schema: ${problems.join('; ')}`, { problems });
  }
  return { version, dir: path.dirname(path.join(station.config.repo, version.path)), task: req.task, variables };
}

/**
 * Runs a prepared agent once, outside any workflow, with the station's model providers and MCP tools and a journal
 * kept in memory (nothing is stored: a try-out). `onProgress` hears of each model turn and tool call as it completes.
 * Resolves with the result, also when the agent failed (`status: failed` and its step error code); what is handed out
 * has the station's secrets masked.
 */
export async function executeAgentTry(
  station: Station,
  p: PreparedAgentTry,
  onProgress: (progress: AgentRunProgressView) => void,
  signal: AbortSignal,
): Promise<AgentRunResultView> {
  const secrets = station.secrets();
  const journal = new MemoryJournal((entry) => onProgress(secrets.scrub(agentRunProgress(entry))));
  const started = performance.now();
  const v = p.version;
  const base = { environment: v.environment, bundle: v.scope === '' ? null : v.scope, name: v.name, version: v.version, task: p.task };
  const counts = () => ({
    turns: journal.entries.filter((e) => e.kind === 'turn').length,
    toolCalls: journal.entries.filter((e) => e.kind === 'tool').length,
    durationMs: Math.round(performance.now() - started),
  });
  try {
    const r = await runAgent({ version: v, dir: p.dir, task: p.task, variables: p.variables, services: station.agents, journal, signal });
    return secrets.scrub({ ...base, status: 'succeeded', output: r.output, error: null, ...counts() });
  } catch (err) {
    if (!(err instanceof StepFailure)) throw err;
    return secrets.scrub({ ...base, status: 'failed', output: null, error: { code: err.code, message: err.message }, ...counts() });
  }
}
