import type { AgentStore } from '../store/agents.js';
import type { AgentSpec } from './types.js';

/** One stored version of an agent, as a run uses it. */
export interface AgentVersion {
  /** The version's id: what a run pins. */
  id: number;
  environment: string;
  /** '' for the environment's own agent, else the bundle it comes from. */
  scope: string;
  name: string;
  version: number;
  spec: AgentSpec;
  /** The file it was read from, relative to the repository (its folder holds the agent's fixtures). */
  path: string;
}

/**
 * `name` or `name@env` (the agent step's `input.agent`): the agent's name and the environment to look in
 * (`defaultEnv` when none is named).
 */
export function parseAgentRef(ref: string, defaultEnv: string): { name: string; env: string } {
  const at = ref.lastIndexOf('@');
  return at > 0 && at < ref.length - 1 ? { name: ref.slice(0, at), env: ref.slice(at + 1) } : { name: ref, env: defaultEnv };
}

/**
 * The active version of agent `name` in environment `env`, for a run starting now: for a workflow that comes from
 * bundle `bundle`, the bundle's own agent first, then the environment's. Undefined when there is none that can run
 * (no such file, disabled, or a file that was never valid).
 */
export function resolveAgent(store: AgentStore, env: string, name: string, bundle?: string | null): AgentVersion | undefined {
  const v = store.activeVersion(env, name, bundle);
  return v ? versionOf(v) : undefined;
}

/** A version by its id (what a run pinned), whatever became of the agent file since. */
export function agentVersionById(store: AgentStore, id: number): AgentVersion | undefined {
  const v = store.versionById(id);
  return v ? versionOf(v) : undefined;
}

/** A stored agent version row as a run uses it (its spec parsed). */
function versionOf(v: Omit<AgentVersion, 'spec'> & { spec: string }): AgentVersion {
  return { id: v.id, environment: v.environment, scope: v.scope, name: v.name, version: v.version, spec: JSON.parse(v.spec) as AgentSpec, path: v.path };
}
