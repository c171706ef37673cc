import type { Db } from './db.js';

/** A JSON value as stored. */
export type StoredJson = null | boolean | number | string | StoredJson[] | { [key: string]: StoredJson };

/** The variables of one scope: "" for the environment's own workflows, else a bundle's name. */
export interface VariableScope {
  vars: { [name: string]: StoredJson };
  /** Where each value came from: 'bundle entry', 'environment vars' or 'default'. */
  sources: { [name: string]: string };
}

/** One revision of an environment's variables, as sync resolved them from one commit. */
export interface EnvironmentRevision {
  environment: string;
  revision: number;
  scopes: Record<string, VariableScope>;
  contentHash: string;
  gitCommit: string | null;
  /** environment.yaml or a bundle's template.json differed from the commit; null when unknown (no git). */
  gitDirty: boolean | null;
  syncRunId: number | null;
  createdAt: string;
}

interface EnvironmentRevisionRow {
  environment: string;
  revision: number;
  scopes: string;
  content_hash: string;
  git_commit: string | null;
  git_dirty: number | null;
  sync_run_id: number | null;
  created_at: string;
}

/** Every SQL statement about environment revisions (the variables runs start with) and a run's link to one. */
export class EnvironmentRevisionStore {
  private readonly s;

  constructor(readonly db: Db) {
    this.s = {
      latest: db.prepare<[string], EnvironmentRevisionRow>(
        'SELECT * FROM environment_revisions WHERE environment = ? ORDER BY revision DESC LIMIT 1',
      ),
      latestNumber: db.prepare<[string], { revision: number }>(
        'SELECT MAX(revision) AS revision FROM environment_revisions WHERE environment = ?',
      ),
      get: db.prepare<[string, number], EnvironmentRevisionRow>('SELECT * FROM environment_revisions WHERE environment = ? AND revision = ?'),
      insert: db.prepare(
        `INSERT INTO environment_revisions (environment, revision, scopes, content_hash, git_commit, git_dirty, sync_run_id, created_at)
         VALUES (@environment, @revision, @scopes, @content_hash, @git_commit, @git_dirty, @sync_run_id, @created_at)`,
      ),
      runRevision: db.prepare<[string], { env_revision: number | null }>('SELECT env_revision FROM workflow_runs WHERE id = ?'),
      lastRunVars: db.prepare<[string, string], { vars: string | null }>(
        `SELECT vars FROM workflow_runs WHERE environment = ? AND workflow_id = ? AND vars IS NOT NULL
         ORDER BY created_at DESC, id DESC LIMIT 1`,
      ),
    };
  }

  /** The environment's current revision (the newest), if sync has recorded one. */
  latest(environment: string): EnvironmentRevision | undefined {
    return fromRow(this.s.latest.get(environment));
  }

  /** Only the number of the current revision: cheap enough for every run start. */
  latestNumber(environment: string): number | null {
    return this.s.latestNumber.get(environment)?.revision ?? null;
  }

  get(environment: string, revision: number): EnvironmentRevision | undefined {
    return fromRow(this.s.get.get(environment, revision));
  }

  insert(r: EnvironmentRevision): void {
    this.s.insert.run({
      environment: r.environment,
      revision: r.revision,
      scopes: JSON.stringify(r.scopes),
      content_hash: r.contentHash,
      git_commit: r.gitCommit,
      git_dirty: r.gitDirty === null ? null : r.gitDirty ? 1 : 0,
      sync_run_id: r.syncRunId,
      created_at: r.createdAt,
    } satisfies EnvironmentRevisionRow);
  }

  /** Records on a run the revision its vars came from (in the transaction that creates the run). */
  runRevision(runId: string): number | null {
    return this.s.runRevision.get(runId)?.env_revision ?? null;
  }

  /** The stored vars of the newest run of a workflow (the fallback before an environment's first revision). */
  lastRunVars(environment: string, workflowId: string): { [name: string]: StoredJson } | null {
    const vars = this.s.lastRunVars.get(environment, workflowId)?.vars;
    return vars ? (JSON.parse(vars) as { [name: string]: StoredJson }) : null;
  }
}

function fromRow(row: EnvironmentRevisionRow | undefined): EnvironmentRevision | undefined {
  if (!row) return undefined;
  return {
    environment: row.environment,
    revision: row.revision,
    scopes: JSON.parse(row.scopes) as Record<string, VariableScope>,
    contentHash: row.content_hash,
    gitCommit: row.git_commit,
    gitDirty: row.git_dirty === null ? null : row.git_dirty === 1,
    syncRunId: row.sync_run_id,
    createdAt: row.created_at,
  };
}

const stores = new WeakMap<Db, EnvironmentRevisionStore>();

/** The revision store of a database, its statements prepared once per connection (shown on every workflows show). */
export function environmentRevisions(db: Db): EnvironmentRevisionStore {
  let store = stores.get(db);
  if (!store) {
    store = new EnvironmentRevisionStore(db);
    stores.set(db, store);
  }
  return store;
}
