import type { Diagnostic } from '../definitions/types.js';
import type { DefinitionResult } from '../definitions/validate.js';
import type { DefinitionRow, VersionRow } from '../store/definitions.js';
import type { PinnedVariables } from '../sync/variables.js';
import type {
  DefinitionDetailView,
  DefinitionSummaryView,
  DiagnosticView,
  ValidateResultView,
  VersionDetailView,
  VersionSummaryView,
} from './types.js';

/** API shapes of definitions; `stn workflows list|show|versions --json` print the same. */

/** Diagnostics as the JSON reports show them. */
export function diagnosticJson(d: Diagnostic): DiagnosticView {
  return { line: d.line, col: d.col, code: d.code, message: d.message };
}

function diagnostics(d: { error: string | null }): Diagnostic[] {
  return d.error ? (JSON.parse(d.error) as Diagnostic[]) : [];
}

/** The first diagnostic of an invalid file, as `path:line:col: CODE: message`. */
export function firstError(d: Pick<DefinitionRow, 'error' | 'path'>): string | null {
  const e = diagnostics(d)[0];
  return e ? `${d.path}:${e.line}:${e.col}: ${e.code}: ${e.message}` : null;
}

export function definitionSummary(r: DefinitionRow & { label: string | null; git_commit: string | null; name: string | null }): DefinitionSummaryView {
  return {
    environment: r.environment,
    id: r.workflow_id,
    status: r.status,
    version: r.active_version,
    label: r.label,
    name: r.name,
    commit: r.git_commit,
    path: r.path,
    bundle: r.bundle,
    error: firstError(r),
  };
}

const flag = (v: number | null) => (v === null ? null : v === 1);

/** Where a version came from, as both version views show it. */
function versionOrigin(v: Omit<VersionRow, 'spec' | 'raw'>) {
  return {
    commit: v.git_commit,
    dirty: flag(v.git_dirty),
    untracked: flag(v.git_untracked),
    contentHash: v.content_hash,
    path: v.path,
    createdAt: v.created_at,
  };
}

export function versionSummary(v: Omit<VersionRow, 'spec' | 'raw'>, activeVersion: number | null): VersionSummaryView {
  return { version: v.version, label: v.label, active: v.version === activeVersion, ...versionOrigin(v) };
}

export function versionDetail(v: VersionRow): VersionDetailView {
  return {
    version: v.version,
    label: v.label,
    name: v.name,
    ...versionOrigin(v),
    spec: JSON.parse(v.spec) as unknown,
    raw: v.raw,
  };
}

/** `variables`: what a run of this definition starts with now (undefined before the environment's first sync). */
export function definitionDetail(d: DefinitionRow, v: VersionRow | undefined, variables: PinnedVariables | undefined): DefinitionDetailView {
  return {
    environment: d.environment,
    id: d.workflow_id,
    status: d.status,
    activeVersion: d.active_version,
    latestVersion: d.latest_version,
    path: d.path,
    bundle: d.bundle,
    errors: diagnostics(d).map(diagnosticJson),
    version: v ? versionDetail(v) : null,
    variables: variables
      ? { revision: variables.revision, commit: variables.gitCommit, dirty: variables.gitDirty, syncedAt: variables.createdAt, vars: variables.vars, sources: variables.sources }
      : null,
  };
}

export function validateResult(r: DefinitionResult): ValidateResultView {
  return {
    path: r.path,
    id: r.id ?? null,
    valid: r.valid,
    errors: r.errors.map(diagnosticJson),
    warnings: r.warnings.map(diagnosticJson),
    notes: r.notes.map(diagnosticJson),
  };
}
