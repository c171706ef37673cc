import fs from 'node:fs';
import path from 'node:path';
import { sha256 } from '../definitions/hash.js';
import type { Diagnostic, WorkflowSpec } from '../definitions/types.js';
import { CHECKER_VERSION, guessId, validateDefinitionBytes, type DefinitionResult } from '../definitions/validate.js';
import { NotFoundError, StationError } from '../errors.js';
import type { Logger } from '../log.js';
import type { DefinitionRow, DefinitionStore, FileRow } from '../store/definitions.js';
import { discoverEnvironment, listEnvironmentNames, type DiscoveredEnvironment, type DiscoveredFile } from './discover.js';
import type { GitInfo } from './git.js';

export type SyncSource = 'cli' | 'start' | 'watch' | 'poll' | 'webhook' | 'api';

export interface SyncOptions {
  /** Only this environment. */
  environment?: string | undefined;
  /** Plan only: report what would change, write nothing. */
  dryRun?: boolean | undefined;
  /** Allow a sync that disables every definition of an environment. */
  allowEmpty?: boolean | undefined;
  source?: SyncSource | undefined;
  /**
   * Incremental sync: repository-relative paths known to have changed (from the file watcher). Other files are taken
   * as they were at the last sync, without being read. Omit for a full sync.
   */
  changedPaths?: string[] | undefined;
}

export interface InvalidEntry {
  path: string;
  id: string | null;
  errors: Diagnostic[];
  /** The version that stays active despite the error, if any. */
  activeVersion: number | null;
}

export interface EnvironmentReport {
  name: string;
  added: string[];
  updated: string[];
  disabled: string[];
  reenabled: string[];
  unchanged: string[];
  invalid: InvalidEntry[];
  warnings: Array<{ path: string; id: string | null; warnings: Diagnostic[] }>;
  /** New version numbers, by workflow id, for what was added, updated or re-enabled with a change. */
  versions: Record<string, number>;
  /** Set when the environment was not synced at all (invalid environment.yaml, refused empty sync). */
  error?: { code: string; message: string; details?: unknown };
}

export interface SyncReport {
  commit: string | null;
  dryRun: boolean;
  syncRunId: number | null;
  environments: EnvironmentReport[];
}

/** 0: all valid; 1: some files invalid (the valid ones synced); 2: an environment was refused or unusable. */
export function syncExitCode(report: SyncReport): 0 | 1 | 2 {
  if (report.environments.some((e) => e.error?.code === 'STN_E_SYNC_EMPTY')) return 2;
  if (report.environments.some((e) => e.error !== undefined || e.invalid.length > 0)) return 1;
  return 0;
}

export interface SyncDeps {
  repo: string;
  store: DefinitionStore;
  git: GitInfo;
  logger: Logger;
  now?: () => Date;
}

/** What sync knows about one file this time: freshly validated, or carried over from the last sync. */
interface FileState {
  file: DiscoveredFile;
  rawSha: string;
  id: string | null;
  valid: boolean;
  hash: string | null;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  /** Only for freshly validated files; a carried-over one is re-read when it needs a new version. */
  fresh?: { spec: WorkflowSpec | undefined; raw: string };
}

function emptyReport(name: string): EnvironmentReport {
  return { name, added: [], updated: [], disabled: [], reenabled: [], unchanged: [], invalid: [], warnings: [], versions: {} };
}

/** Syncs definition files from the checkout into the store (DESIGN §4). */
export class Syncer {
  private readonly now: () => Date;

  constructor(private readonly deps: SyncDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async sync(options: SyncOptions = {}): Promise<SyncReport> {
    const { store, logger } = this.deps;
    const dryRun = options.dryRun ?? false;
    const started = Date.now();
    const names = this.environmentNames(options);
    const commit = await this.deps.git.head();
    const syncRunId = dryRun
      ? null
      : store.startSyncRun(this.now().toISOString(), options.source ?? 'cli', names, commit, false);
    const report: SyncReport = { commit, dryRun, syncRunId, environments: [] };
    try {
      for (const name of names) report.environments.push(await this.syncEnvironment(name, commit, syncRunId, options));
    } catch (err) {
      if (syncRunId !== null) {
        store.finishSyncRun(syncRunId, this.now().toISOString(), 'error', undefined, (err as Error).message);
      }
      throw err;
    }
    const exit = syncExitCode(report);
    if (syncRunId !== null) {
      store.finishSyncRun(syncRunId, this.now().toISOString(), exit === 0 ? 'ok' : exit === 1 ? 'invalid' : 'refused', summarize(report), null);
    }
    logger.info(
      { sync_run_id: syncRunId, commit, dry_run: dryRun, duration_ms: Date.now() - started, ...summarize(report).totals },
      'sync finished',
    );
    return report;
  }

  /** Environments on disk plus those only in the store (their definitions are about to be disabled). */
  private environmentNames(options: SyncOptions): string[] {
    const onDisk = listEnvironmentNames(this.deps.repo);
    const known = this.deps.store.environments().map((e) => e.name);
    const all = [...new Set([...onDisk, ...known])].sort();
    if (options.environment === undefined) {
      if (options.changedPaths === undefined) return all;
      return all.filter((n) => affects(options.changedPaths ?? [], n, this.deps.repo));
    }
    if (!all.includes(options.environment)) {
      throw new NotFoundError(`environment "${options.environment}" is neither in environments/ nor in the database`, {
        known: all,
      });
    }
    return [options.environment];
  }

  private async syncEnvironment(
    name: string,
    commit: string | null,
    syncRunId: number | null,
    options: SyncOptions,
  ): Promise<EnvironmentReport> {
    const { store, repo } = this.deps;
    const report = emptyReport(name);
    const exists = fs.existsSync(path.join(repo, 'environments', name));
    const env: DiscoveredEnvironment = exists
      ? discoverEnvironment(repo, name)
      : { name, vars: {}, bundles: [], files: [], errors: [] };
    const nowIso = this.now().toISOString();
    if (env.errors.length > 0) {
      const first = env.errors[0];
      report.error = {
        code: first?.diagnostic.code ?? 'STN_E_ENVIRONMENT_FILE',
        message: env.errors.map((e) => `${e.path}:${e.diagnostic.line}:${e.diagnostic.col}: ${e.diagnostic.message}`).join('\n'),
        details: env.errors,
      };
      if (!options.dryRun) this.recordAttempt(name, commit, nowIso, 'error', report.error.message);
      return report;
    }

    const changed = options.changedPaths ? new Set(options.changedPaths) : undefined;
    const previous = new Map(store.filesOf(name).map((f) => [f.path, f]));
    const states = env.files.map((f) => this.fileState(f, previous.get(f.path), changed));
    const winners = this.resolveDuplicates(states, report);

    const writes: Array<() => void> = [];
    const needsVersion: FileState[] = [];
    const defs = new Map(store.definitionsOf(name).map((d) => [d.workflow_id, d]));
    const activeBefore = [...defs.values()].filter((d) => d.status !== 'disabled').length;

    for (const [id, st] of winners) {
      const d = defs.get(id);
      if (!st.valid) {
        report.invalid.push({ path: st.file.path, id, errors: st.errors, activeVersion: d?.active_version ?? null });
        writes.push(() => this.markInvalid(name, id, st, d, nowIso));
        continue;
      }
      const activeHash = d?.active_version ? store.versionHash(name, id, d.active_version) : undefined;
      if (d && activeHash === st.hash) {
        if (d.status === 'disabled') report.reenabled.push(id);
        else report.unchanged.push(id);
        if (d.status !== 'active' || d.error !== null || d.path !== st.file.path || d.bundle !== (st.file.bundle ?? null)) {
          writes.push(() =>
            store.updateDefinition(
              { ...base(d), status: 'active', path: st.file.path, bundle: st.file.bundle ?? null, error: null, error_at: null },
              nowIso,
            ),
          );
        }
        continue;
      }
      const version = (d?.latest_version ?? 0) + 1;
      report.versions[id] = version;
      if (!d || d.active_version === null) report.added.push(id);
      else if (d.status === 'disabled') report.reenabled.push(id);
      else report.updated.push(id);
      needsVersion.push(st);
      writes.push(() => this.writeVersion(name, id, version, st, d, commit, gitStates, syncRunId, nowIso));
    }

    for (const d of defs.values()) {
      if (d.status === 'disabled' || winners.has(d.workflow_id)) continue;
      report.disabled.push(d.workflow_id);
      writes.push(() => store.updateDefinition({ ...base(d), status: 'disabled' }, nowIso));
    }

    if (activeBefore > 0 && report.disabled.length === activeBefore && winners.size === 0 && !options.allowEmpty) {
      const message =
        `refusing to disable all ${activeBefore} definitions of environment "${name}" at once ` +
        `(is the checkout incomplete?): run with --allow-empty if that is intended`;
      const refused = emptyReport(name);
      refused.error = { code: 'STN_E_SYNC_EMPTY', message, details: { wouldDisable: report.disabled } };
      if (!options.dryRun) this.recordAttempt(name, commit, nowIso, 'refused', message);
      this.deps.logger.warn({ env: name, would_disable: report.disabled.length }, 'empty sync refused');
      return refused;
    }
    for (const st of states) {
      if (st.id === null && !st.valid) {
        report.invalid.push({ path: st.file.path, id: null, errors: st.errors, activeVersion: null });
      }
      if (st.warnings.length > 0) report.warnings.push({ path: st.file.path, id: st.id, warnings: st.warnings });
    }
    sortReport(report);
    if (options.dryRun) return report;

    // Git state only matters for files that get a new version; one `git status` covers them all.
    const gitStates = await this.deps.git.fileStates(
      needsVersion.length > 200 ? ['environments', 'bundles'] : needsVersion.map((s) => s.file.path),
    );
    const present = new Set(states.map((s) => s.file.path));
    store.transaction(() => {
      store.ensureEnvironment(name, nowIso);
      for (const w of writes) w();
      for (const st of states) store.upsertFile(fileRow(name, st, nowIso));
      for (const p of previous.keys()) if (!present.has(p)) store.deleteFile(name, p);
      const status = report.invalid.length > 0 ? 'invalid' : 'ok';
      store.recordAttempt(name, commit, nowIso, status, null);
      store.recordSynced(name, commit, nowIso);
    });
    return report;
  }

  private recordAttempt(name: string, commit: string | null, nowIso: string, status: string, error: string): void {
    const { store } = this.deps;
    store.transaction(() => {
      store.ensureEnvironment(name, nowIso);
      store.recordAttempt(name, commit, nowIso, status, error);
    });
  }

  /** Validates a file, or carries over last sync's verdict when its bytes (and the rules) are unchanged. */
  private fileState(file: DiscoveredFile, prev: FileRow | undefined, changed: Set<string> | undefined): FileState {
    if (prev && prev.checker === CHECKER_VERSION && changed && !changed.has(file.path)) return carried(file, prev);
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file.abs);
    } catch (err) {
      const result = validateDefinitionBytes(new Uint8Array(0), file.path);
      result.errors = [{ severity: 'error', code: 'STN_E_FILE_READ', message: `cannot read file: ${(err as Error).message}`, line: 1, col: 1 }];
      return fresh(file, '', result, '', prev);
    }
    const rawSha = sha256(bytes);
    if (prev && prev.raw_sha === rawSha && prev.checker === CHECKER_VERSION) return carried(file, prev);
    const result = validateDefinitionBytes(bytes, file.path);
    return fresh(file, rawSha, result, result.errors.some((e) => e.code === 'STN_E_FILE_ENCODING') ? '' : bytes.toString('utf8'), prev);
  }

  /** Two files with one id: the first by path keeps it; both are reported. */
  private resolveDuplicates(states: FileState[], report: EnvironmentReport): Map<string, FileState> {
    const winners = new Map<string, FileState>();
    for (const st of states) {
      if (st.id === null) continue;
      const first = winners.get(st.id);
      if (!first) {
        winners.set(st.id, st);
        continue;
      }
      const dup: Diagnostic = {
        severity: 'error',
        code: 'STN_E_DUPLICATE_ID',
        message: `workflow id "${st.id}" is also declared by ${first.file.path}, which keeps it (first by path): give this file another id`,
        line: 1,
        col: 1,
      };
      report.invalid.push({ path: st.file.path, id: st.id, errors: [dup, ...st.errors], activeVersion: null });
      first.warnings = [
        ...first.warnings,
        { ...dup, severity: 'warning', message: `workflow id "${st.id}" is also declared by ${st.file.path}; this file keeps it` },
      ];
    }
    return winners;
  }

  private markInvalid(env: string, id: string, st: FileState, d: DefinitionRow | undefined, nowIso: string): void {
    const error = JSON.stringify(st.errors);
    if (!d) {
      this.deps.store.insertDefinition(
        { environment: env, workflow_id: id, status: 'invalid', active_version: null, latest_version: 0, path: st.file.path, bundle: st.file.bundle ?? null, error, error_at: nowIso },
        nowIso,
      );
    } else {
      this.deps.store.updateDefinition({ ...base(d), path: st.file.path, error, error_at: nowIso }, nowIso);
    }
  }

  private writeVersion(
    env: string,
    id: string,
    version: number,
    st: FileState,
    d: DefinitionRow | undefined,
    commit: string | null,
    gitStates: Map<string, { dirty: boolean; untracked: boolean }>,
    syncRunId: number | null,
    nowIso: string,
  ): void {
    const { store } = this.deps;
    const { spec, raw } = st.fresh?.spec ? { spec: st.fresh.spec, raw: st.fresh.raw } : reread(st.file);
    const git = gitStates.get(st.file.path);
    const row = {
      environment: env,
      workflow_id: id,
      status: 'active' as const,
      active_version: version,
      latest_version: version,
      path: st.file.path,
      bundle: st.file.bundle ?? null,
      error: null,
      error_at: null,
    };
    if (d) store.updateDefinition(row, nowIso);
    else store.insertDefinition(row, nowIso);
    store.insertVersion({
      environment: env,
      workflow_id: id,
      version,
      label: spec.version,
      name: spec.name,
      content_hash: st.hash ?? '',
      spec: JSON.stringify(spec),
      raw,
      path: st.file.path,
      bundle: st.file.bundle ?? null,
      git_commit: commit,
      git_dirty: this.deps.git.isRepo ? (git?.dirty ? 1 : 0) : null,
      git_untracked: this.deps.git.isRepo ? (git?.untracked ? 1 : 0) : null,
      sync_run_id: syncRunId,
      created_at: nowIso,
    });
  }
}

function base(d: DefinitionRow): Omit<DefinitionRow, 'created_at' | 'updated_at' | 'disabled_at'> {
  return {
    environment: d.environment,
    workflow_id: d.workflow_id,
    status: d.status,
    active_version: d.active_version,
    latest_version: d.latest_version,
    path: d.path,
    bundle: d.bundle,
    error: d.error,
    error_at: d.error_at,
  };
}

function fresh(file: DiscoveredFile, rawSha: string, r: DefinitionResult, raw: string, prev: FileRow | undefined): FileState {
  const id = r.id ?? guessId(raw) ?? prev?.workflow_id ?? null;
  return {
    file,
    rawSha,
    id,
    valid: r.valid,
    hash: r.hash ?? null,
    errors: r.errors,
    warnings: r.warnings,
    fresh: { spec: r.spec, raw },
  };
}

function carried(file: DiscoveredFile, prev: FileRow): FileState {
  const diagnostics = JSON.parse(prev.diagnostics) as { errors: Diagnostic[]; warnings: Diagnostic[] };
  return {
    file,
    rawSha: prev.raw_sha,
    id: prev.workflow_id,
    valid: prev.valid === 1,
    hash: prev.content_hash,
    errors: diagnostics.errors,
    warnings: diagnostics.warnings,
  };
}

/** A carried-over file that needs a new version after all (rare): read and validate it now. */
function reread(file: DiscoveredFile): { spec: WorkflowSpec; raw: string } {
  const bytes = fs.readFileSync(file.abs);
  const r = validateDefinitionBytes(bytes, file.path);
  if (!r.spec) throw new StationError('STN_E_INTERNAL', `${file.path} changed during sync; run sync again`);
  return { spec: r.spec, raw: bytes.toString('utf8') };
}

function fileRow(env: string, st: FileState, nowIso: string): FileRow {
  return {
    environment: env,
    path: st.file.path,
    raw_sha: st.rawSha,
    checker: CHECKER_VERSION,
    workflow_id: st.id,
    valid: st.valid ? 1 : 0,
    content_hash: st.hash,
    diagnostics: JSON.stringify({ errors: st.errors, warnings: st.warnings.filter((w) => w.code !== 'STN_E_DUPLICATE_ID') }),
    seen_at: nowIso,
  };
}

/** Does a changed path concern this environment? (its own folder, or any bundle: bundle lists are cheap to re-read) */
function affects(paths: string[], env: string, _repo: string): boolean {
  return paths.some((p) => p.startsWith(`environments/${env}/`) || p.startsWith('bundles/'));
}

function sortReport(r: EnvironmentReport): void {
  for (const list of [r.added, r.updated, r.disabled, r.reenabled, r.unchanged]) list.sort();
  r.invalid.sort((a, b) => (a.path < b.path ? -1 : 1));
}

function summarize(report: SyncReport) {
  const totals = { added: 0, updated: 0, disabled: 0, reenabled: 0, unchanged: 0, invalid: 0, refused: 0 };
  for (const e of report.environments) {
    totals.added += e.added.length;
    totals.updated += e.updated.length;
    totals.disabled += e.disabled.length;
    totals.reenabled += e.reenabled.length;
    totals.unchanged += e.unchanged.length;
    totals.invalid += e.invalid.length;
    if (e.error) totals.refused++;
  }
  return {
    totals,
    environments: report.environments.map((e) => ({
      name: e.name,
      added: e.added,
      updated: e.updated,
      disabled: e.disabled,
      reenabled: e.reenabled,
      invalid: e.invalid.map((i) => ({ path: i.path, id: i.id })),
      error: e.error?.message,
    })),
  };
}
