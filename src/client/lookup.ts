import { NotFoundError, UsageError } from '../errors.js';
import type { DefinitionRow, DefinitionStore } from '../store/definitions.js';
import { pinnedVariables } from '../sync/variables.js';
import { definitionDetail } from '../views/definitions.js';
import type { DefinitionDetailView } from '../views/types.js';
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
