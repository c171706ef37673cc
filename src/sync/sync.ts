import fs from 'node:fs';
import path from 'node:path';
import type { AgentSpec } from '../agents/types.js';
import { ValidationPool } from '../definitions/pool.js';
import type { Diagnostic, WorkflowSpec } from '../definitions/types.js';
import { DEFINITION_FILE } from '../definitions/validate.js';
import { NotFoundError } from '../errors.js';
import type { Logger } from '../log.js';
import { AgentStore } from '../store/agents.js';
import type { DefinitionStore, DefinitionWithHash, FileRow } from '../store/definitions.js';
import {
  agentKey,
  checkAgentSteps,
  discoverAgentFiles,
  planAgents,
  readAgentFiles,
  type AgentFileState,
  type AgentPlanContext,
  type WorkflowForCheck,
} from './agents.js';
import { discoverEnvironment, listEnvironmentNames, type DiscoveredEnvironment } from './discover.js';
import { DeletionHold } from './deletion-hold.js';
import { resolveDuplicates } from './duplicates.js';
import { SYNC_OWNER } from './interrupted.js';
import { fileRow, readFiles, stillOnDisk, validateFiles, versionSource, type FileState, type PendingStates } from './files.js';
import { gitBlobSha, type GitInfo } from './git.js';
import { resolveEnvironmentVariables, VariablePinning } from './variables.js';
import {
  emptyReport,
  sortReport,
  summarize,
  syncExitCode,
  type EnvironmentReport,
  type SyncOptions,
  type SyncReport,
  type SyncSource,
} from './report.js';

export * from './report.js';

/** Syncs that hold deletions back (the daemon's automatic ones); `stn sync` and the API judge what is on disk now. */
const HOLDING_SOURCES = new Set<SyncSource>(['watch', 'poll', 'webhook']);

/** How many files a large sync validates ahead of the environment it is writing. */
const LOOKAHEAD_FILES = 1000;

export interface SyncDeps {
  repo: string;
  store: DefinitionStore;
  git: GitInfo;
  logger: Logger;
  /** Validation worker threads for large syncs (0: validate on this thread). */
  workers?: number;
  now?: () => Date;
}

/** One environment on its way through a sync: discovered, then read and validating, then applied. */
interface Work {
  env: DiscoveredEnvironment;
  previous: Map<string, FileRow>;
  pending?: PendingStates;
}

/** One environment between reading its files and writing the outcome. */
interface Loaded {
  env: DiscoveredEnvironment;
  previous: Map<string, FileRow>;
  pending: PendingStates;
}

/** Syncs definition files from the checkout into the store (README "Sync"). */
export class Syncer {
  private readonly now: () => Date;
  /** Syncs of one process run one after another (the file watcher, the poller and the API may ask at once). */
  private queue: Promise<unknown> = Promise.resolve();
  /** Set by the daemon (holdDeletions): deletions of automatic syncs wait for a quiet window. */
  private hold: DeletionHold | undefined;

  /** Records each environment's variables as a revision (what runs start with). */
  private readonly variables: VariablePinning;

  /** The environments' agent files, versioned like the definitions. */
  private readonly agents: AgentStore;

  constructor(private readonly deps: SyncDeps) {
    this.now = deps.now ?? (() => new Date());
    this.variables = new VariablePinning(deps.store.db);
    this.agents = new AgentStore(deps.store.db);
  }

  /**
   * Makes automatic syncs (watch, poll, webhook) hold deletions until none has happened for `windowMs`, then call
   * `followUp(environment)`, which should sync that environment (source watch) to judge them as a whole. 0: off.
   */
  holdDeletions(windowMs: number, followUp: (environment: string) => void): void {
    this.hold?.close();
    this.hold = windowMs > 0 ? new DeletionHold(windowMs, followUp) : undefined;
  }

  /** Stops holding deletions (pending follow-ups are dropped). */
  stopHolding(): void {
    this.hold?.close();
    this.hold = undefined;
  }

  sync(options: SyncOptions = {}): Promise<SyncReport> {
    const run = this.queue.then(() => this.syncNow(options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async syncNow(options: SyncOptions): Promise<SyncReport> {
    const { store, logger } = this.deps;
    const dryRun = options.dryRun ?? false;
    const started = Date.now();
    const names = this.environmentNames(options);
    const commit = await this.deps.git.head();
    const syncRunId = dryRun ? null : store.startSyncRun(this.now().toISOString(), options.source ?? 'cli', names, commit, false, SYNC_OWNER);
    const report: SyncReport = { commit, dryRun, syncRunId, environments: [] };
    let headBlobs: Promise<Map<string, string> | null> | undefined;
    // A few files are looked up by name; past that, one listing of the whole tree answers every environment.
    const blobsOfHead = (paths: string[]) => {
      if (!commit) return Promise.resolve(new Map<string, string>() as Map<string, string> | null);
      if (paths.length <= 50 && !headBlobs) return this.deps.git.treeBlobs(commit, paths);
      return (headBlobs ??= this.deps.git.treeBlobs(commit, ['environments', 'bundles']));
    };
    let pool: ValidationPool | undefined;
    try {
      // Read every environment first; with many files to validate, a worker pool validates them while the
      // environments before are being written.
      const changed = options.changedPaths ? new Set(options.changedPaths) : undefined;
      const work: Array<Work | undefined> = names.map((n) => {
        const env = this.discover(n);
        const previous = new Map(env.errors.length > 0 ? [] : store.filesOf(env.name).map((f) => [f.path, f]));
        return { env, previous };
      });
      // Files sync has never seen must be validated: with enough of them (a first sync), the worker pool starts now,
      // and each environment is read just before it is validated. Otherwise every file is read first (most are
      // unchanged and skip validation), and the pool starts only if enough turned out to have changed.
      const unseen = changed
        ? 0
        : work.reduce((n, w) => n + (w?.env.files.filter((f) => !w.previous.has(f.path)).length ?? 0), 0);
      pool = ValidationPool.create(unseen, this.deps.workers ?? 0);
      const prepare = (w: Work | undefined) => {
        if (w && !w.pending && w.env.errors.length === 0) {
          w.pending = validateFiles(readFiles(w.env.files, w.previous, changed), w.previous, pool);
        }
        return w;
      };
      if (!pool) {
        for (const w of work) prepare(w);
        const pending = work.reduce((n, w) => n + (w?.pending?.count ?? 0), 0);
        pool = ValidationPool.create(pending, this.deps.workers ?? 0);
        for (const w of work) if (w?.pending) w.pending.pool = pool;
      }
      for (let i = 0; i < work.length; i++) {
        const item = prepare(work[i]);
        // Dropped once applied: a large sync holds the files of a few environments at a time, not of all.
        work[i] = undefined;
        if (!item) continue;
        // Validate ahead (a few thousand files): the workers stay busy while this environment is written.
        for (let ahead = i + 1, files = 0; ahead < work.length && files < LOOKAHEAD_FILES; ahead++) {
          const w = prepare(work[ahead]);
          w?.pending?.start();
          files += w?.pending?.count ?? 0;
        }
        const envReport = item.pending
          ? await this.apply({ env: item.env, previous: item.previous, pending: item.pending }, commit, syncRunId, options, blobsOfHead)
          : this.notSynced(item.env, commit, options);
        report.environments.push(envReport);
      }
    } catch (err) {
      if (syncRunId !== null) store.finishSyncRun(syncRunId, this.now().toISOString(), 'error', undefined, (err as Error).message);
      throw err;
    } finally {
      await pool?.close();
    }
    const exit = syncExitCode(report);
    if (syncRunId !== null) {
      const status = exit === 0 ? 'ok' : exit === 1 ? 'invalid' : 'refused';
      store.finishSyncRun(syncRunId, this.now().toISOString(), status, summarize(report), null);
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
    if (options.environment !== undefined) {
      if (!all.includes(options.environment)) {
        throw new NotFoundError(`environment "${options.environment}" is neither in environments/ nor in the database`, {
          known: all,
        });
      }
      return [options.environment];
    }
    if (options.changedPaths === undefined) return all;
    // A change under environments/<env>/ concerns that environment; a bundle change concerns all (bundle lists are
    // cheap to re-read, and unchanged files are not read at all in incremental mode).
    const paths = options.changedPaths;
    return all.filter((n) => paths.some((p) => p.startsWith(`environments/${n}/`) || p.startsWith('bundles/')));
  }

  private discover(name: string): DiscoveredEnvironment {
    return fs.existsSync(path.join(this.deps.repo, 'environments', name))
      ? discoverEnvironment(this.deps.repo, name)
      : { name, vars: {}, bundles: [], files: [], errors: [] };
  }

  /** An environment whose environment.yaml (or bundle list) is broken is left exactly as it was. */
  private notSynced(env: DiscoveredEnvironment, commit: string | null, options: SyncOptions): EnvironmentReport {
    const report = emptyReport(env.name);
    report.error = {
      code: env.errors[0]?.diagnostic.code ?? 'STN_E_ENVIRONMENT_FILE',
      message: env.errors.map((e) => `${e.path}:${e.diagnostic.line}:${e.diagnostic.col}: ${e.diagnostic.message}`).join('\n'),
      details: env.errors,
    };
    if (!options.dryRun) this.recordAttempt(env.name, commit, 'error', report.error.message);
    return report;
  }

  /** Plans one environment against the store and, unless dry-run, writes the outcome in one transaction. */
  private async apply(
    loaded: Loaded,
    commit: string | null,
    syncRunId: number | null,
    options: SyncOptions,
    blobsOfHead: (paths: string[]) => Promise<Map<string, string> | null>,
  ): Promise<EnvironmentReport> {
    const { store } = this.deps;
    const name = loaded.env.name;
    const states = await loaded.pending.states();
    const vars = resolveEnvironmentVariables(this.deps.repo, loaded.env);
    const agentStates = await readAgentFiles(discoverAgentFiles(this.deps.repo, loaded.env));
    const agentWarnings = this.agentStepWarnings(name, states, agentStates);
    const agentContext = (blobs: Map<string, string> | null, held: boolean, nowIso: string): AgentPlanContext => ({
      env: name,
      store: this.agents,
      commit,
      syncRunId,
      blobs,
      gitKnown: this.deps.git.isRepo,
      nowIso,
      holdDeletions: held,
    });
    if (options.dryRun) {
      const { report } = this.plan(loaded, states, commit, syncRunId, options, new Map());
      if (report.error) return report;
      const agents = planAgents(agentContext(new Map(), report.held !== undefined, this.now().toISOString()), agentStates).report;
      const warnings = addWarnings([...report.warnings, ...vars.warnings], agentWarnings);
      return { ...report, agents, variables: this.variables.plan(name, vars).report, warnings };
    }

    // Git blob ids are looked up before the write transaction (it must not await); the plan itself is made inside
    // it, against the store as it is then, so a sync running in another process at the same time cannot make this one
    // write a stale version number.
    const likely = [
      ...this.plan(loaded, states, commit, syncRunId, options, new Map()).versioned,
      ...this.variables.plan(name, vars).files,
      ...planAgents(agentContext(new Map(), false, ''), agentStates).versioned,
    ];
    const blobs = likely.length > 0 ? await blobsOfHead(likely) : new Map<string, string>();
    if (blobs === null) this.gitMissing();
    const nowIso = this.now().toISOString();
    return store.transaction(() => {
      const { report, writes, superseded } = this.plan(loaded, states, commit, syncRunId, options, blobs, true);
      if (report.error) {
        store.ensureEnvironment(name, nowIso);
        store.recordAttempt(name, commit, nowIso, 'refused', report.error.message);
        this.deps.logger.warn({ env: name, error_type: report.error.code }, 'empty sync refused');
        return report;
      }
      store.ensureEnvironment(name, nowIso);
      for (const w of writes) w();
      // Carried-over files are exactly as recorded; only what was read and validated this time is written.
      for (const st of states) if (st.fresh && !superseded.has(st.file.path)) store.upsertFile(fileRow(name, st, nowIso));
      const present = new Set(states.map((s) => s.file.path));
      for (const p of loaded.previous.keys()) if (!present.has(p)) store.deleteFile(name, p);
      report.variables = this.variables.record(name, vars, { commit, blobs, gitKnown: this.deps.git.isRepo, syncRunId, nowIso });
      report.warnings.push(...vars.warnings);
      const agents = planAgents(agentContext(blobs, report.held !== undefined, nowIso), agentStates);
      for (const w of agents.writes) w();
      report.agents = agents.report;
      report.warnings = addWarnings(report.warnings, agentWarnings);
      const invalid = report.invalid.length > 0 || (report.agents?.invalid.length ?? 0) > 0;
      store.recordAttempt(name, commit, nowIso, invalid ? 'invalid' : 'ok', null);
      store.recordSynced(name, commit, nowIso);
      return report;
    });
  }

  /**
   * Compares the files with the store: the report, the writes that carry it out, and the paths getting a version.
   * `commitCheck` is set for the plan made inside the write transaction: files are then checked against the disk
   * (see stillOnDisk) and deletions may be held (DeletionHold).
   */
  private plan(
    loaded: Loaded,
    states: FileState[],
    commit: string | null,
    syncRunId: number | null,
    options: SyncOptions,
    blobs: Map<string, string> | null,
    commitCheck = false,
  ): { report: EnvironmentReport; writes: Array<() => void>; versioned: string[]; superseded: Set<string> } {
    const { store } = this.deps;
    const name = loaded.env.name;
    const report = emptyReport(name);
    const defs = new Map(store.definitionsWithHash(name).map((d) => [d.workflow_id, d]));
    const { winners, warnings } = resolveDuplicates(states, defs, report);
    const nowIso = this.now().toISOString();
    const writes: Array<() => void> = [];
    const versioned: string[] = [];
    // Files that changed again after this sync read them: nothing of theirs is written (the next sync reads them).
    const superseded = new Set<string>();
    const checked = new Map<string, boolean>();
    const current = (st: FileState) => {
      if (!commitCheck) return true;
      let ok = checked.get(st.file.path);
      if (ok === undefined) checked.set(st.file.path, (ok = stillOnDisk(st)));
      if (!ok) superseded.add(st.file.path);
      return ok;
    };

    for (const [id, st] of winners) {
      const d = defs.get(id);
      if (!current(st)) continue;
      if (!st.valid) {
        const activeVersion = d && d.status !== 'disabled' ? d.active_version : null;
        report.invalid.push({ path: st.file.path, id, errors: st.errors, activeVersion });
        writes.push(() => this.markInvalid(name, id, st, d, nowIso));
        continue;
      }
      if (d && d.active_hash === st.hash) {
        if (d.status === 'disabled') report.reenabled.push(id);
        else report.unchanged.push(id);
        if (d.status !== 'active' || d.error !== null || d.path !== st.file.path || d.bundle !== (st.file.bundle ?? null)) {
          const row = { ...base(d), status: 'active' as const, path: st.file.path, bundle: st.file.bundle ?? null, error: null, error_at: null };
          writes.push(() => store.updateDefinition(row, nowIso));
        }
        continue;
      }
      const version = (d?.latest_version ?? 0) + 1;
      report.versions[id] = version;
      if (!d || d.active_version === null) report.added.push(id);
      else if (d.status === 'disabled') report.reenabled.push(id);
      else report.updated.push(id);
      versioned.push(st.file.path);
      writes.push(() => this.writeVersion(name, id, version, st, d, commit, blobs, syncRunId, nowIso));
    }
    const byPath = new Map(states.map((st) => [st.file.path, st]));
    const vanished: DefinitionWithHash[] = [];
    for (const d of defs.values()) {
      if (d.status === 'disabled' || winners.has(d.workflow_id)) continue;
      // Its file changed again, or appeared, since this sync looked: the sync that sees it decides.
      const st = byPath.get(d.path);
      if (st ? !current(st) : commitCheck && this.appearedSince(loaded.env, d.path)) continue;
      vanished.push(d);
    }

    const heldUntil =
      commitCheck && this.hold && HOLDING_SOURCES.has(options.source ?? 'cli') && !options.allowEmpty
        ? this.hold.decide(name, vanished.map((d) => d.workflow_id), this.now().getTime())
        : undefined;
    if (heldUntil !== undefined) {
      report.held = { ids: vanished.map((d) => d.workflow_id).sort(), until: new Date(heldUntil).toISOString() };
    } else {
      for (const d of vanished) {
        report.disabled.push(d.workflow_id);
        writes.push(() => store.updateDefinition({ ...base(d), status: 'disabled' }, nowIso));
      }
    }

    const activeBefore = [...defs.values()].filter((d) => d.status !== 'disabled').length;
    if (activeBefore > 0 && winners.size === 0 && heldUntil === undefined && !options.allowEmpty) {
      const refused = emptyReport(name);
      refused.error = {
        code: 'STN_E_SYNC_EMPTY',
        message:
          `refusing to disable all ${activeBefore} definitions of environment "${name}" at once ` +
          `(is the checkout incomplete?): run with --allow-empty if that is intended`,
        details: { wouldDisable: report.disabled },
      };
      return { report: refused, writes: [], versioned: [], superseded };
    }
    for (const st of states) {
      if (superseded.has(st.file.path)) continue;
      if (st.id === null && !st.valid) report.invalid.push({ path: st.file.path, id: null, errors: st.errors, activeVersion: null });
      const all = [...st.warnings, ...(warnings.get(st) ?? [])];
      if (all.length > 0) report.warnings.push({ path: st.file.path, id: st.id, warnings: all });
    }
    if (superseded.size > 0) report.superseded = [...superseded].sort();
    sortReport(report);
    return { report, writes, versioned, superseded };
  }

  /**
   * A definition file that was not there when this sync listed the folders but is now, where discovery would find it:
   * it came back during the sync (the definition must not be disabled by this one).
   */
  private appearedSince(env: DiscoveredEnvironment, rel: string): boolean {
    const folders = [`environments/${env.name}/workflows/`, ...env.bundles.map((b) => `bundles/${b.name}/workflows/`)];
    if (!folders.some((f) => rel.startsWith(f)) || !DEFINITION_FILE.test(path.posix.basename(rel))) return false;
    return fs.existsSync(path.join(this.deps.repo, ...rel.split('/')));
  }

  /**
   * STN_W_AGENT_UNKNOWN / STN_W_AGENT_INPUT for the agent.run steps of the environment's valid workflows, against the
   * agent files as read now (another environment's agents, named `agent@env`, as last synced). Worked out on every
   * sync, since an agent file can change while the workflow file does not.
   */
  private agentStepWarnings(env: string, states: FileState[], agentStates: AgentFileState[]): Map<string, { id: string; warnings: Diagnostic[] }> {
    let stored: Map<string, { content_hash: string; spec: string; raw: string }> | undefined;
    const workflows: WorkflowForCheck[] = [];
    for (const st of states) {
      if (!st.valid || st.id === null) continue;
      let specJson = st.fresh?.version?.specJson;
      let raw = st.fresh?.bytes.toString('utf8');
      if (specJson === undefined) {
        // Unchanged since the last sync: its active version is the file.
        stored ??= new Map(this.agents.workflowsWithAgentSteps(env).map((w) => [w.workflow_id, w]));
        const v = stored.get(st.id);
        if (v?.content_hash !== st.hash) continue;
        specJson = v.spec;
        raw = v.raw;
      }
      if (!specJson.includes('"agent.run"')) continue;
      workflows.push({ path: st.file.path, id: st.id, bundle: st.file.bundle, spec: JSON.parse(specJson) as WorkflowSpec, raw: raw ?? '' });
    }
    if (workflows.length === 0) return new Map();
    const here = new Map(agentStates.map((a) => [agentKey(a.file.scope, a.file.name), a]));
    const found = checkAgentSteps(env, workflows, (e, scope, name) => {
      if (e === env) {
        const a = here.get(agentKey(scope, name));
        return a ? (a.spec ?? 'invalid') : undefined;
      }
      const active = this.agents.activeVersion(e, name);
      return active ? (JSON.parse(active.spec) as AgentSpec) : undefined;
    });
    const ids = new Map(workflows.map((w) => [w.path, w.id]));
    return new Map([...found].map(([p, warnings]) => [p, { id: ids.get(p) ?? '', warnings }]));
  }

  private warnedGitMissing = false;

  /** Logged once per process: syncs go on without git, but the versions lack their dirty/untracked flags. */
  private gitMissing(): void {
    if (this.warnedGitMissing) return;
    this.warnedGitMissing = true;
    this.deps.logger.error(
      { error_type: 'STN_E_GIT_MISSING', repo: this.deps.repo },
      'git is not on PATH: definitions still sync from the files, but new versions are recorded without their dirty/untracked flags; install git or fix PATH',
    );
  }

  private recordAttempt(name: string, commit: string | null, status: string, error: string): void {
    const { store } = this.deps;
    const nowIso = this.now().toISOString();
    store.transaction(() => {
      store.ensureEnvironment(name, nowIso);
      store.recordAttempt(name, commit, nowIso, status, error);
    });
  }

  private markInvalid(env: string, id: string, st: FileState, d: DefinitionWithHash | undefined, nowIso: string): void {
    const error = JSON.stringify(st.errors);
    const bundle = st.file.bundle ?? null;
    if (d) {
      this.deps.store.updateDefinition({ ...base(d), path: st.file.path, bundle, error, error_at: nowIso }, nowIso);
      return;
    }
    const row = { environment: env, workflow_id: id, status: 'invalid' as const, active_version: null, latest_version: 0 };
    this.deps.store.insertDefinition({ ...row, path: st.file.path, bundle, error, error_at: nowIso }, nowIso);
  }

  private writeVersion(
    env: string,
    id: string,
    version: number,
    st: FileState,
    d: DefinitionWithHash | undefined,
    commit: string | null,
    blobs: Map<string, string> | null,
    syncRunId: number | null,
    nowIso: string,
  ): void {
    const { store, git } = this.deps;
    const { specJson, label, name, bytes } = versionSource(st);
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
    // Dirty: the content differs from the commit's; untracked: the commit has no such file. Unknown without git.
    const known = git.isRepo && blobs !== null;
    const committed = blobs?.get(st.file.path);
    store.insertVersion({
      environment: env,
      workflow_id: id,
      version,
      label,
      name,
      content_hash: st.hash ?? '',
      spec: specJson,
      raw: bytes.toString('utf8'),
      path: st.file.path,
      bundle: st.file.bundle ?? null,
      git_commit: commit,
      git_dirty: known ? (committed !== undefined && committed !== gitBlobSha(bytes) ? 1 : 0) : null,
      git_untracked: known ? (committed === undefined ? 1 : 0) : null,
      sync_run_id: syncRunId,
      created_at: nowIso,
    });
  }
}

/** Adds per-file warnings to a report's list (one entry per file). */
function addWarnings(list: EnvironmentReport['warnings'], extra: Map<string, { id: string; warnings: Diagnostic[] }>): EnvironmentReport['warnings'] {
  if (extra.size === 0) return list;
  const out = list.map((w) => (extra.has(w.path) ? { ...w, warnings: [...w.warnings, ...(extra.get(w.path)?.warnings ?? [])] } : w));
  for (const [p, { id, warnings }] of extra) if (!list.some((w) => w.path === p)) out.push({ path: p, id, warnings });
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function base(d: DefinitionWithHash) {
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
