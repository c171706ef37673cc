import { NotFoundError, UsageError } from '../errors.js';
import type { AgentRow, AgentStore } from '../store/agents.js';
import type { DefinitionRow, DefinitionStore } from '../store/definitions.js';
import { pinnedVariables } from '../sync/variables.js';
import { agentDetail } from '../views/agents.js';
import { definitionDetail } from '../views/definitions.js';
import type { AgentDetailView, DefinitionDetailView } from '../views/types.js';
import type { RunRow, RunStore } from '../store/runs.js';

/** The run, or STN_E_NOT_FOUND. */
export function mustGetRun(runs: RunStore, id: string): RunRow {
  const run = runs.run(id);
  if (!run) throw new NotFoundError(`no run "${id}"`);
  return run;
}

/**
 * The definition of `id` in `env`, or in the only environment that has it; `envHint` says how to name one when the id
 * exists in several (`--env` on the command line, `?env=` in the API).
 */
export function findDefinition(definitions: DefinitionStore, id: string, env: string | undefined, envHint: string): DefinitionRow {
  if (env !== undefined) {
    const d = definitions.definition(env, id);
    if (!d) throw new NotFoundError(`no workflow "${id}" in environment "${env}"`);
    return d;
  }
  const all = definitions.definitionsById(id);
  if (all.length === 0) throw new NotFoundError(`no workflow "${id}" in any environment`);
  if (all.length > 1) throw new UsageError(`workflow "${id}" exists in ${all.map((d) => d.environment).join(', ')}: pass ${envHint}`);
  return all[0] as DefinitionRow;
}

/** A definition with version `version` (default: its active one) and the variables its runs start with now. */
export function definitionDetailOf(definitions: DefinitionStore, d: DefinitionRow, version: number | undefined): DefinitionDetailView {
  const n = version ?? d.active_version;
  const v = n === null ? undefined : definitions.version(d.environment, d.workflow_id, n);
  if (n !== null && !v) throw new NotFoundError(`workflow "${d.workflow_id}" in "${d.environment}" has no version ${n}`);
  return definitionDetail(d, v, pinnedVariables(definitions.db, d.environment, d.bundle));
}

/**
 * The agent `name` in `env` (and `bundle`), or in the only place that has it; an environment's own agent wins over a
 * bundle's of the same name. `hints` say how to name the environment and the bundle when several match.
 */
export function findAgent(
  agents: AgentStore,
  name: string,
  q: { env?: string | undefined; bundle?: string | undefined },
  hints: { env: string; bundle: string },
): AgentRow {
  const all = agents
    .agentsByName(name)
    .filter((a) => (q.env === undefined || a.environment === q.env) && (q.bundle === undefined || a.scope === q.bundle));
  const where = `${q.env !== undefined ? ` in environment "${q.env}"` : ''}${q.bundle !== undefined ? ` of bundle "${q.bundle}"` : ''}`;
  if (all.length === 0) throw new NotFoundError(`no agent "${name}"${where || ' in any environment'}`);
  if (all.length === 1) return all[0] as AgentRow;
  const envs = new Set(all.map((a) => a.environment));
  const own = all.filter((a) => a.scope === '');
  if (envs.size === 1 && own.length === 1) return own[0] as AgentRow;
  if (envs.size > 1) throw new UsageError(`agent "${name}" exists in ${[...envs].join(', ')}: pass ${hints.env}`);
  throw new UsageError(`agent "${name}" exists in bundles ${all.map((a) => a.scope).join(', ')}: pass ${hints.bundle}`);
}

/** An agent with version `version` (default: its active one). */
export function agentDetailOf(agents: AgentStore, a: AgentRow, version: number | undefined): AgentDetailView {
  const n = version ?? a.active_version;
  const v = n === null ? undefined : agents.version(a.environment, a.scope, a.name, n);
  if (n !== null && !v) throw new NotFoundError(`agent "${a.name}" in "${a.environment}" has no version ${n}`);
  return agentDetail(a, v);
}
