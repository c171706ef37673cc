import type { GitInfo } from '../sync/git.js';
import type { SyncReport } from '../sync/report.js';
import { diagnosticJson } from './definitions.js';
import type { CheckoutStateView, SyncReportView } from './types.js';

/** The stable machine-readable shape of a sync (README, "stn sync --json"). */
export function syncJson(report: SyncReport, git: CheckoutStateView | null): SyncReportView {
  return {
    commit: report.commit,
    dryRun: report.dryRun,
    syncRunId: report.syncRunId,
    environments: report.environments.map((e) => ({
      name: e.name,
      added: e.added,
      updated: e.updated,
      disabled: e.disabled,
      reenabled: e.reenabled,
      unchanged: e.unchanged,
      invalid: e.invalid.map((i) => ({
        path: i.path,
        id: i.id,
        activeVersion: i.activeVersion,
        errors: i.errors.map(diagnosticJson),
      })),
      warnings: e.warnings.map((w) => ({ path: w.path, id: w.id, warnings: w.warnings.map(diagnosticJson) })),
      versions: e.versions,
      held: e.held ?? null,
      superseded: e.superseded ?? [],
      variables: e.variables ?? null,
      agents: e.agents
        ? {
            added: e.agents.added,
            updated: e.agents.updated,
            disabled: e.agents.disabled,
            reenabled: e.agents.reenabled,
            unchanged: e.agents.unchanged,
            invalid: e.agents.invalid.map((i) => ({ path: i.path, id: i.id, activeVersion: i.activeVersion, errors: i.errors.map(diagnosticJson) })),
            warnings: e.agents.warnings.map((w) => ({ path: w.path, id: w.id, warnings: w.warnings.map(diagnosticJson) })),
            versions: e.agents.versions,
          }
        : null,
      error: e.error ? { code: e.error.code, message: e.error.message } : null,
    })),
    git,
  };
}

/** How the checkout compares with its remote-tracking branch as last fetched; null outside a Git checkout. */
export async function checkoutState(git: GitInfo, remote: string, branch: string | undefined): Promise<CheckoutStateView | null> {
  if (!git.isRepo) return null;
  const vs = await git.comparedWithRemote(remote, branch);
  return {
    gitMissing: git.missing,
    upstream: vs?.upstream ?? null,
    ahead: vs?.ahead ?? 0,
    behind: vs?.behind ?? 0,
    diverged: (vs?.ahead ?? 0) > 0,
  };
}
