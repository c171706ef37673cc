import type { Diagnostic } from '../definitions/types.js';
import type { VariablesReport } from './variables.js';

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

/** What a sync did with one kind of versioned file of an environment (workflows by id, agents by name). */
export interface VersionedFilesReport {
  added: string[];
  updated: string[];
  disabled: string[];
  reenabled: string[];
  unchanged: string[];
  invalid: InvalidEntry[];
  warnings: Array<{ path: string; id: string | null; warnings: Diagnostic[] }>;
  /** New version numbers, by name, for what was added, updated or re-enabled with a change. */
  versions: Record<string, number>;
}

/** What a sync did with an environment's agent files; agents are named `name`, or `bundle/name` for a bundle's. */
export type AgentsReport = VersionedFilesReport;

/** What a sync did with an environment's workflow files (named by workflow id), and with the environment. */
export interface EnvironmentReport extends VersionedFilesReport {
  name: string;
  /**
   * Definitions whose files vanished, not disabled yet: the daemon waits until files have stopped vanishing, then
   * judges the environment as a whole (README "Sync"). `until`: when the follow-up sync runs.
   */
  held?: { ids: string[]; until: string };
  /** Files that changed again while this sync read them: left for the next sync (never an older version). */
  superseded?: string[];
  /** The variables runs start with (README "Run variables"): their revision, and what this sync changed. */
  variables?: VariablesReport;
  /** The environment's agent files (absent when the environment was not synced). */
  agents?: AgentsReport;
  /** Set when the environment was not synced at all (invalid environment.yaml, refused empty sync). */
  error?: { code: string; message: string; details?: unknown };
}

export interface SyncReport {
  commit: string | null;
  dryRun: boolean;
  syncRunId: number | null;
  environments: EnvironmentReport[];
}

/**
 * Exit code of `stn sync` (of a report, or of its JSON view: the same rule whichever client printed it): 0 all valid;
 * 1 some files invalid (the valid ones synced) or an environment not synced; 2 an empty sync was refused.
 */
export function syncExitCode(report: {
  environments: ReadonlyArray<{
    error?: { code: string } | null | undefined;
    invalid: readonly unknown[];
    agents?: { invalid: readonly unknown[] } | null | undefined;
  }>;
}): 0 | 1 | 2 {
  if (report.environments.some((e) => e.error?.code === 'STN_E_SYNC_EMPTY')) return 2;
  const invalid = (e: (typeof report.environments)[number]) => e.invalid.length > 0 || (e.agents?.invalid.length ?? 0) > 0;
  if (report.environments.some((e) => (e.error !== undefined && e.error !== null) || invalid(e))) return 1;
  return 0;
}

export function emptyReport(name: string): EnvironmentReport {
  return { name, added: [], updated: [], disabled: [], reenabled: [], unchanged: [], invalid: [], warnings: [], versions: {} };
}

export function sortReport(r: EnvironmentReport): void {
  for (const list of [r.added, r.updated, r.disabled, r.reenabled, r.unchanged]) list.sort();
  r.invalid.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The summary stored with each sync run and logged. */
export function summarize(report: SyncReport) {
  const totals = { added: 0, updated: 0, disabled: 0, reenabled: 0, unchanged: 0, invalid: 0, notSynced: 0, agentsInvalid: 0 };
  for (const e of report.environments) {
    totals.added += e.added.length;
    totals.updated += e.updated.length;
    totals.disabled += e.disabled.length;
    totals.reenabled += e.reenabled.length;
    totals.unchanged += e.unchanged.length;
    totals.invalid += e.invalid.length;
    if (e.error) totals.notSynced++;
    totals.agentsInvalid += e.agents?.invalid.length ?? 0;
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
      ...(e.held ? { held: e.held } : {}),
      ...(e.superseded ? { superseded: e.superseded } : {}),
      ...(e.agents
        ? {
            agents: {
              added: e.agents.added,
              updated: e.agents.updated,
              disabled: e.agents.disabled,
              reenabled: e.agents.reenabled,
              invalid: e.agents.invalid.map((i) => ({ path: i.path, id: i.id })),
            },
          }
        : {}),
      error: e.error?.message,
    })),
  };
}
