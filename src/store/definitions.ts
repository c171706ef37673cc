import type { Db } from './db.js';

export type DefinitionStatus = 'active' | 'disabled' | 'invalid';

export interface DefinitionRow {
  environment: string;
  workflow_id: string;
  status: DefinitionStatus;
  active_version: number | null;
  latest_version: number;
  path: string;
  bundle: string | null;
  error: string | null;
  error_at: string | null;
  created_at: string;
  updated_at: string;
  disabled_at: string | null;
}

/** A definition with the content hash of its active version (null when it never had one). */
export type DefinitionWithHash = DefinitionRow & { active_hash: string | null };

export interface VersionRow {
  environment: string;
  workflow_id: string;
  version: number;
  label: string;
  name: string;
  content_hash: string;
  spec: string;
  raw: string;
  path: string;
  bundle: string | null;
  git_commit: string | null;
  git_dirty: number | null;
  git_untracked: number | null;
  sync_run_id: number | null;
  created_at: string;
}

export interface FileRow {
  environment: string;
  path: string;
  raw_sha: string;
  checker: string;
  workflow_id: string | null;
  valid: number;
  content_hash: string | null;
  diagnostics: string;
  seen_at: string;
}

export interface EnvironmentRow {
  name: string;
  created_at: string;
  last_synced_commit: string | null;
  last_attempted_commit: string | null;
  last_synced_at: string | null;
  last_attempted_at: string | null;
  last_sync_status: string | null;
  last_sync_error: string | null;
}

export interface SyncRunRow {
  id: number;
  started_at: string;
  finished_at: string | null;
  source: string;
  environments: string;
  git_commit: string | null;
  dry_run: number;
  status: string;
  summary: string | null;
  error: string | null;
  owner_host: string | null;
  owner_pid: number | null;
}

/** Every SQL statement about definitions, environments and sync runs. Statements are prepared once per database. */
export class DefinitionStore {
  private readonly s;

  constructor(readonly db: Db) {
    this.s = {
      envGet: db.prepare<[string], EnvironmentRow>('SELECT * FROM environments WHERE name = ?'),
      envList: db.prepare<[], EnvironmentRow>('SELECT * FROM environments ORDER BY name'),
      envInsert: db.prepare('INSERT OR IGNORE INTO environments (name, created_at) VALUES (?, ?)'),
      envAttempt: db.prepare(
        'UPDATE environments SET last_attempted_commit = ?, last_attempted_at = ?, last_sync_status = ?, last_sync_error = ? WHERE name = ?',
      ),
      envSynced: db.prepare('UPDATE environments SET last_synced_commit = ?, last_synced_at = ? WHERE name = ?'),
      defsWithHash: db.prepare<[string], DefinitionWithHash>(
        `SELECT d.*, v.content_hash AS active_hash FROM workflow_definitions d
         LEFT JOIN workflow_definition_versions v
           ON v.environment = d.environment AND v.workflow_id = d.workflow_id AND v.version = d.active_version
         WHERE d.environment = ?`,
      ),
      defGet: db.prepare<[string, string], DefinitionRow>(
        'SELECT * FROM workflow_definitions WHERE environment = ? AND workflow_id = ?',
      ),
      defsById: db.prepare<[string], DefinitionRow>(
        'SELECT * FROM workflow_definitions WHERE workflow_id = ? ORDER BY environment',
      ),
      defInsert: db.prepare(
        `INSERT INTO workflow_definitions (environment, workflow_id, status, active_version, latest_version, path, bundle,
           error, error_at, created_at, updated_at)
         VALUES (@environment, @workflow_id, @status, @active_version, @latest_version, @path, @bundle, @error, @error_at, @now, @now)`,
      ),
      defUpdate: db.prepare(
        `UPDATE workflow_definitions SET status = @status, active_version = @active_version, latest_version = @latest_version,
           path = @path, bundle = @bundle, error = @error, error_at = @error_at, updated_at = @now,
           disabled_at = CASE WHEN @status = 'disabled' THEN COALESCE(disabled_at, @now) ELSE NULL END
         WHERE environment = @environment AND workflow_id = @workflow_id`,
      ),
      verInsert: db.prepare(
        `INSERT INTO workflow_definition_versions (environment, workflow_id, version, label, name, content_hash, spec, raw,
           path, bundle, git_commit, git_dirty, git_untracked, sync_run_id, created_at)
         VALUES (@environment, @workflow_id, @version, @label, @name, @content_hash, @spec, @raw, @path, @bundle,
           @git_commit, @git_dirty, @git_untracked, @sync_run_id, @created_at)`,
      ),
      verGet: db.prepare<[string, string, number], VersionRow>(
        'SELECT * FROM workflow_definition_versions WHERE environment = ? AND workflow_id = ? AND version = ?',
      ),
      verList: db.prepare<[string, string], Omit<VersionRow, 'spec' | 'raw'>>(
        `SELECT environment, workflow_id, version, label, name, content_hash, path, bundle, git_commit, git_dirty,
           git_untracked, sync_run_id, created_at
         FROM workflow_definition_versions WHERE environment = ? AND workflow_id = ? ORDER BY version`,
      ),
      filesOfEnv: db.prepare<[string], FileRow>('SELECT * FROM workflow_files WHERE environment = ?'),
      fileUpsert: db.prepare(
        `INSERT INTO workflow_files (environment, path, raw_sha, checker, workflow_id, valid, content_hash, diagnostics, seen_at)
         VALUES (@environment, @path, @raw_sha, @checker, @workflow_id, @valid, @content_hash, @diagnostics, @seen_at)
         ON CONFLICT (environment, path) DO UPDATE SET raw_sha = excluded.raw_sha, checker = excluded.checker,
           workflow_id = excluded.workflow_id, valid = excluded.valid, content_hash = excluded.content_hash,
           diagnostics = excluded.diagnostics, seen_at = excluded.seen_at`,
      ),
      fileDelete: db.prepare('DELETE FROM workflow_files WHERE environment = ? AND path = ?'),
      syncStart: db.prepare(
        `INSERT INTO sync_runs (started_at, source, environments, git_commit, dry_run, status, owner_host, owner_pid)
         VALUES (?, ?, ?, ?, ?, 'running', ?, ?)`,
      ),
      syncRunning: db.prepare<[], SyncRunRow>(`SELECT * FROM sync_runs WHERE status = 'running' ORDER BY id`),
      syncInterrupt: db.prepare(
        `UPDATE sync_runs SET status = 'interrupted', finished_at = ?, error = ? WHERE id = ? AND status = 'running'`,
      ),
      syncFinish: db.prepare('UPDATE sync_runs SET finished_at = ?, status = ?, summary = ?, error = ? WHERE id = ?'),
      syncList: db.prepare<[number], SyncRunRow>('SELECT * FROM sync_runs ORDER BY id DESC LIMIT ?'),
    };
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  environment(name: string): EnvironmentRow | undefined {
    return this.s.envGet.get(name);
  }

  environments(): EnvironmentRow[] {
    return this.s.envList.all();
  }

  ensureEnvironment(name: string, now: string): void {
    this.s.envInsert.run(name, now);
  }

  recordAttempt(env: string, commit: string | null, now: string, status: string, error: string | null): void {
    this.s.envAttempt.run(commit, now, status, error, env);
  }

  recordSynced(env: string, commit: string | null, now: string): void {
    this.s.envSynced.run(commit, now, env);
  }

  /** The definitions of an environment, each with its active version's content hash (one query for all). */
  definitionsWithHash(env: string): DefinitionWithHash[] {
    return this.s.defsWithHash.all(env);
  }

  definition(env: string, id: string): DefinitionRow | undefined {
    return this.s.defGet.get(env, id);
  }

  definitionsById(id: string): DefinitionRow[] {
    return this.s.defsById.all(id);
  }

  /** Definitions with their active version's label and commit, for listings. */
  listDefinitions(filter: { environment?: string | undefined; status?: string | undefined }): Array<
    DefinitionRow & { label: string | null; git_commit: string | null; name: string | null }
  > {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.environment !== undefined) {
      where.push('d.environment = ?');
      params.push(filter.environment);
    }
    if (filter.status !== undefined) {
      where.push('d.status = ?');
      params.push(filter.status);
    }
    return this.db
      .prepare<string[], DefinitionRow & { label: string | null; git_commit: string | null; name: string | null }>(
        `SELECT d.*, v.label AS label, v.git_commit AS git_commit, v.name AS name
         FROM workflow_definitions d
         LEFT JOIN workflow_definition_versions v
           ON v.environment = d.environment AND v.workflow_id = d.workflow_id AND v.version = d.active_version
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY d.environment, d.workflow_id`,
      )
      .all(...params);
  }

  insertDefinition(row: Omit<DefinitionRow, 'created_at' | 'updated_at' | 'disabled_at'>, now: string): void {
    this.s.defInsert.run({ ...row, now });
  }

  updateDefinition(row: Omit<DefinitionRow, 'created_at' | 'updated_at' | 'disabled_at'>, now: string): void {
    this.s.defUpdate.run({ ...row, now });
  }

  insertVersion(row: VersionRow): void {
    this.s.verInsert.run(row);
  }

  version(env: string, id: string, version: number): VersionRow | undefined {
    return this.s.verGet.get(env, id, version);
  }

  versions(env: string, id: string): Array<Omit<VersionRow, 'spec' | 'raw'>> {
    return this.s.verList.all(env, id);
  }

  filesOf(env: string): FileRow[] {
    return this.s.filesOfEnv.all(env);
  }

  upsertFile(row: FileRow): void {
    this.s.fileUpsert.run(row);
  }

  deleteFile(env: string, path: string): void {
    this.s.fileDelete.run(env, path);
  }

  startSyncRun(
    now: string,
    source: string,
    environments: string[],
    commit: string | null,
    dryRun: boolean,
    owner: { host: string; pid: number },
  ): number {
    const args = [now, source, JSON.stringify(environments), commit, dryRun ? 1 : 0, owner.host, owner.pid];
    return Number(this.s.syncStart.run(...args).lastInsertRowid);
  }

  /** Sync runs still marked running (their process may be gone). */
  runningSyncRuns(): SyncRunRow[] {
    return this.s.syncRunning.all();
  }

  /** Marks a sync run whose process is gone as interrupted; false when it finished (or was marked) meanwhile. */
  interruptSyncRun(id: number, now: string, error: string): boolean {
    return this.s.syncInterrupt.run(now, error, id).changes > 0;
  }

  finishSyncRun(id: number, now: string, status: string, summary: unknown, error: string | null): void {
    this.s.syncFinish.run(now, status, summary === undefined ? null : JSON.stringify(summary), error, id);
  }

  syncRuns(limit: number): SyncRunRow[] {
    return this.s.syncList.all(limit);
  }
}
