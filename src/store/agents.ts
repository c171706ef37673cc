import type { Db } from './db.js';
import type { DefinitionStatus } from './definitions.js';

/** An agent of an environment: `scope` '' for the environment's own agents, else the bundle it comes from. */
export interface AgentRow {
  environment: string;
  scope: string;
  name: string;
  status: DefinitionStatus;
  active_version: number | null;
  latest_version: number;
  path: string;
  /** The file's diagnostics (JSON list) while it is invalid. */
  error: string | null;
  error_at: string | null;
  created_at: string;
  updated_at: string;
  disabled_at: string | null;
}

/** An agent with the content hash of its active version (null when it never had one). */
export type AgentWithHash = AgentRow & { active_hash: string | null };

export interface AgentVersionRow {
  /** What a run pins: names the version on its own. */
  id: number;
  environment: string;
  scope: string;
  name: string;
  version: number;
  content_hash: string;
  /** The AgentSpec, as JSON. */
  spec: string;
  raw: string;
  path: string;
  git_commit: string | null;
  git_dirty: number | null;
  git_untracked: number | null;
  sync_run_id: number | null;
  created_at: string;
}

export type AgentVersionSummaryRow = Omit<AgentVersionRow, 'spec' | 'raw'>;

/** An agent's active version, as a run resolves it when it starts. */
export interface ActiveAgentVersion {
  id: number;
  environment: string;
  scope: string;
  name: string;
  version: number;
  /** The AgentSpec, as JSON. */
  spec: string;
  path: string;
}

type AgentWrite = Omit<AgentRow, 'created_at' | 'updated_at' | 'disabled_at'>;

/** Every SQL statement about agent definitions. Statements are prepared once per store. */
export class AgentStore {
  private readonly s;

  constructor(readonly db: Db) {
    this.s = {
      withHash: db.prepare<[string], AgentWithHash>(
        `SELECT a.*, v.content_hash AS active_hash FROM agent_definitions a
         LEFT JOIN agent_definition_versions v
           ON v.environment = a.environment AND v.scope = a.scope AND v.name = a.name AND v.version = a.active_version
         WHERE a.environment = ?`,
      ),
      get: db.prepare<[string, string, string], AgentRow>('SELECT * FROM agent_definitions WHERE environment = ? AND scope = ? AND name = ?'),
      byName: db.prepare<[string], AgentRow>('SELECT * FROM agent_definitions WHERE name = ? ORDER BY environment, scope'),
      insert: db.prepare(
        `INSERT INTO agent_definitions (environment, scope, name, status, active_version, latest_version, path, error, error_at,
           created_at, updated_at)
         VALUES (@environment, @scope, @name, @status, @active_version, @latest_version, @path, @error, @error_at, @now, @now)`,
      ),
      update: db.prepare(
        `UPDATE agent_definitions SET status = @status, active_version = @active_version, latest_version = @latest_version,
           path = @path, error = @error, error_at = @error_at, updated_at = @now,
           disabled_at = CASE WHEN @status = 'disabled' THEN COALESCE(disabled_at, @now) ELSE NULL END
         WHERE environment = @environment AND scope = @scope AND name = @name`,
      ),
      verInsert: db.prepare(
        `INSERT INTO agent_definition_versions (environment, scope, name, version, content_hash, spec, raw, path, git_commit,
           git_dirty, git_untracked, sync_run_id, created_at)
         VALUES (@environment, @scope, @name, @version, @content_hash, @spec, @raw, @path, @git_commit, @git_dirty,
           @git_untracked, @sync_run_id, @created_at)`,
      ),
      verGet: db.prepare<[string, string, string, number], AgentVersionRow>(
        'SELECT * FROM agent_definition_versions WHERE environment = ? AND scope = ? AND name = ? AND version = ?',
      ),
      verById: db.prepare<[number], AgentVersionRow>('SELECT * FROM agent_definition_versions WHERE id = ?'),
      verList: db.prepare<[string, string, string], AgentVersionSummaryRow>(
        `SELECT id, environment, scope, name, version, content_hash, path, git_commit, git_dirty, git_untracked, sync_run_id,
           created_at
         FROM agent_definition_versions WHERE environment = ? AND scope = ? AND name = ? ORDER BY version`,
      ),
      agentSteps: db.prepare<[string], { workflow_id: string; content_hash: string; spec: string; raw: string }>(
        `SELECT d.workflow_id, v.content_hash, v.spec, v.raw FROM workflow_definitions d
         JOIN workflow_definition_versions v
           ON v.environment = d.environment AND v.workflow_id = d.workflow_id AND v.version = d.active_version
         WHERE d.environment = ? AND d.status <> 'disabled' AND instr(v.spec, '"agent.run"') > 0`,
      ),
      active: db.prepare<[string, string, string], ActiveAgentVersion>(
        `SELECT v.id, v.environment, v.scope, v.name, v.version, v.spec, v.path FROM agent_definitions a
         JOIN agent_definition_versions v
           ON v.environment = a.environment AND v.scope = a.scope AND v.name = a.name AND v.version = a.active_version
         WHERE a.environment = ? AND a.scope = ? AND a.name = ? AND a.status <> 'disabled'`,
      ),
    };
  }

  /** The agents of an environment (every scope), each with its active version's content hash. */
  agentsWithHash(env: string): AgentWithHash[] {
    return this.s.withHash.all(env);
  }

  agent(env: string, scope: string, name: string): AgentRow | undefined {
    return this.s.get.get(env, scope, name);
  }

  /** Every agent of that name, in every environment and scope. */
  agentsByName(name: string): AgentRow[] {
    return this.s.byName.all(name);
  }

  /** Agents with their active version's commit, for listings. */
  listAgents(filter: { environment?: string | undefined; status?: string | undefined }): Array<AgentRow & { git_commit: string | null; model: string | null }> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.environment !== undefined) {
      where.push('a.environment = ?');
      params.push(filter.environment);
    }
    if (filter.status !== undefined) {
      where.push('a.status = ?');
      params.push(filter.status);
    }
    return this.db
      .prepare<string[], AgentRow & { git_commit: string | null; model: string | null }>(
        `SELECT a.*, v.git_commit AS git_commit, json_extract(v.spec, '$.model') AS model
         FROM agent_definitions a
         LEFT JOIN agent_definition_versions v
           ON v.environment = a.environment AND v.scope = a.scope AND v.name = a.name AND v.version = a.active_version
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY a.environment, a.scope, a.name`,
      )
      .all(...params);
  }

  insertAgent(row: AgentWrite, now: string): void {
    this.s.insert.run({ ...row, now });
  }

  updateAgent(row: AgentWrite, now: string): void {
    this.s.update.run({ ...row, now });
  }

  insertVersion(row: Omit<AgentVersionRow, 'id'>): number {
    return Number(this.s.verInsert.run(row).lastInsertRowid);
  }

  version(env: string, scope: string, name: string, version: number): AgentVersionRow | undefined {
    return this.s.verGet.get(env, scope, name, version);
  }

  /** A version by its id (what a run pinned), whatever became of the agent since. */
  versionById(id: number): AgentVersionRow | undefined {
    return this.s.verById.get(id);
  }

  versions(env: string, scope: string, name: string): AgentVersionSummaryRow[] {
    return this.s.verList.all(env, scope, name);
  }

  /**
   * The active workflow versions of an environment that have an agent.run step (their spec names the action), for
   * sync's agent checks: one query instead of reading every unchanged workflow's spec.
   */
  workflowsWithAgentSteps(env: string): Array<{ workflow_id: string; content_hash: string; spec: string; raw: string }> {
    return this.s.agentSteps.all(env);
  }

  /**
   * The version a run starting now uses of agent `name` in `env`: for a workflow of bundle `bundle`, the bundle's own
   * agent first, then the environment's. Undefined when neither has a runnable (active, or invalid-with-a-last-good)
   * version: disabled agents and never-valid files do not run.
   */
  activeVersion(env: string, name: string, bundle?: string | null): ActiveAgentVersion | undefined {
    if (bundle) {
      const own = this.s.active.get(env, bundle, name);
      if (own) return own;
    }
    return this.s.active.get(env, '', name);
  }
}
