/**
 * Numbered, append-only migrations. Never edit one that has shipped: add the next number instead.
 * Each runs in its own transaction; `PRAGMA user_version` records the last one applied.
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'definitions and sync',
    sql: `
CREATE TABLE environments (
  name                  TEXT PRIMARY KEY,
  created_at            TEXT NOT NULL,
  last_synced_commit    TEXT,
  last_attempted_commit TEXT,
  last_synced_at        TEXT,
  last_attempted_at     TEXT,
  last_sync_status      TEXT,
  last_sync_error       TEXT
);

CREATE TABLE workflow_definitions (
  environment     TEXT NOT NULL REFERENCES environments(name),
  workflow_id     TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'invalid')),
  active_version  INTEGER,
  latest_version  INTEGER NOT NULL DEFAULT 0,
  path            TEXT NOT NULL,
  bundle          TEXT,
  error           TEXT,
  error_at        TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  disabled_at     TEXT,
  PRIMARY KEY (environment, workflow_id)
);

CREATE TABLE workflow_definition_versions (
  environment   TEXT NOT NULL,
  workflow_id   TEXT NOT NULL,
  version       INTEGER NOT NULL,
  label         TEXT NOT NULL,
  name          TEXT NOT NULL,
  content_hash  TEXT NOT NULL,
  spec          TEXT NOT NULL,
  raw           TEXT NOT NULL,
  path          TEXT NOT NULL,
  bundle        TEXT,
  git_commit    TEXT,
  git_dirty     INTEGER,
  git_untracked INTEGER,
  sync_run_id   INTEGER,
  created_at    TEXT NOT NULL,
  PRIMARY KEY (environment, workflow_id, version),
  FOREIGN KEY (environment, workflow_id) REFERENCES workflow_definitions(environment, workflow_id)
);

-- What sync last saw of each file: lets an unchanged file skip parsing, and ties a broken file to its definition.
CREATE TABLE workflow_files (
  environment   TEXT NOT NULL,
  path          TEXT NOT NULL,
  raw_sha       TEXT NOT NULL,
  checker       TEXT NOT NULL,
  workflow_id   TEXT,
  valid         INTEGER NOT NULL,
  content_hash  TEXT,
  diagnostics   TEXT NOT NULL,
  seen_at       TEXT NOT NULL,
  PRIMARY KEY (environment, path)
);

CREATE TABLE sync_runs (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  started_at    TEXT NOT NULL,
  finished_at   TEXT,
  source        TEXT NOT NULL,
  environments  TEXT NOT NULL,
  git_commit    TEXT,
  dry_run       INTEGER NOT NULL DEFAULT 0,
  status        TEXT NOT NULL,
  summary       TEXT,
  error         TEXT
);
CREATE INDEX sync_runs_started ON sync_runs(started_at);
`,
  },
];
