import type { Station } from '../../context.js';
import { markInterruptedSyncs } from '../../sync/interrupted.js';
import { syncExitCode, type EnvironmentReport, type SyncReport } from '../../sync/sync.js';
import { diagnosticJson, diagnosticLine, print, printJson, shortSha } from '../output.js';
import { variableLines } from '../variables-view.js';

export interface SyncCommandOptions {
  env?: string | undefined;
  dryRun?: boolean | undefined;
  allowEmpty?: boolean | undefined;
  json: boolean;
}

/** `stn sync`: one-shot sync with a readable report; exit 0 all valid, 1 some invalid, 2 refused or fatal. */
export async function syncCommand(station: Station, options: SyncCommandOptions): Promise<number> {
  if (!options.dryRun) markInterruptedSyncs(station.definitions, station.logger);
  const report = await station.syncer.sync({
    environment: options.env,
    dryRun: options.dryRun,
    allowEmpty: options.allowEmpty,
    source: 'cli',
  });
  const git = await checkoutState(station);
  if (options.json) printJson({ ...syncJson(report), git });
  else {
    printSyncReport(report);
    printGit(git);
  }
  return syncExitCode(report);
}

/** How the checkout compares with its remote-tracking branch as last fetched, and whether git could be run. */
export interface CheckoutState {
  gitMissing: boolean;
  upstream: string | null;
  ahead: number;
  behind: number;
  /** HEAD has commits the remote lacks: a rewritten remote history (force push) or local commits. */
  diverged: boolean;
}

async function checkoutState(station: Station): Promise<CheckoutState | null> {
  if (!station.git.isRepo) return null;
  const { remote, branch } = station.config.git;
  const vs = await station.git.comparedWithRemote(remote, branch);
  return {
    gitMissing: station.git.missing,
    upstream: vs?.upstream ?? null,
    ahead: vs?.ahead ?? 0,
    behind: vs?.behind ?? 0,
    diverged: (vs?.ahead ?? 0) > 0,
  };
}

function printGit(git: CheckoutState | null): void {
  if (!git) return;
  if (git.gitMissing) {
    print('\ngit: not on PATH (STN_E_GIT_MISSING): versions were recorded without dirty/untracked flags; install git or fix PATH');
  }
  if (git.diverged && git.upstream) {
    print(
      `\ngit: DIVERGED (STN_E_GIT_DIVERGED): the checkout has ${git.ahead} commit(s) that ${git.upstream} does not` +
        `${git.behind > 0 ? ` and lacks ${git.behind} of its` : ''}: its history was rewritten (force push) or someone committed here.` +
        ' The daemon does not merge it; see docs/reliability.md "Git" (or git.onDiverged: reset)',
    );
  }
}

/** The stable machine-readable shape of a sync (README, "stn sync --json"). */
export function syncJson(report: SyncReport) {
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
      error: e.error ? { code: e.error.code, message: e.error.message } : null,
    })),
  };
}

function printSyncReport(report: SyncReport): void {
  const head = report.dryRun ? 'Dry run (nothing written) at commit' : 'Synced commit';
  print(`${head} ${shortSha(report.commit)}: ${report.environments.length} environment(s)`);
  for (const e of report.environments) printEnvironment(e);
}

function printEnvironment(e: EnvironmentReport): void {
  print(`\nenvironment ${e.name}`);
  if (e.error) {
    print(`  NOT SYNCED  ${e.error.code}: ${e.error.message.split('\n').join('\n              ')}`);
    return;
  }
  const withVersion = (ids: string[]) => ids.map((id) => (e.versions[id] ? `${id} (v${e.versions[id]})` : id)).join(', ');
  const rows: Array<[string, string[]]> = [
    ['added', e.added],
    ['updated', e.updated],
    ['re-enabled', e.reenabled],
    ['disabled', e.disabled],
  ];
  for (const [label, ids] of rows) if (ids.length > 0) print(`  ${label.padEnd(11)} ${withVersion(ids)}`);
  if (e.unchanged.length > 0) print(`  ${'unchanged'.padEnd(11)} ${e.unchanged.length} definition(s)`);
  for (const i of e.invalid) {
    const kept = i.activeVersion ? ` (v${i.activeVersion} stays active)` : '';
    print(`  ${'invalid'.padEnd(11)} ${i.path}${i.id ? ` [${i.id}]` : ''}${kept}`);
    for (const d of i.errors) print(`      ${diagnosticLine(i.path, d)}`);
  }
  for (const w of e.warnings) for (const d of w.warnings) print(`  ${'warning'.padEnd(11)} ${diagnosticLine(w.path, d)}`);
  if (e.held) print(`  ${'held'.padEnd(11)} ${e.held.ids.join(', ')} (files vanished; judged with the whole environment at ${e.held.until})`);
  for (const p of e.superseded ?? []) print(`  ${'changed'.padEnd(11)} ${p} (changed again during this sync: left for the next one)`);
  variableLines(e.variables).forEach((line, i) => print(`  ${(i === 0 ? 'variables' : '').padEnd(11)} ${line}`));
  const nothing = e.added.length + e.updated.length + e.reenabled.length + e.disabled.length + e.unchanged.length + e.invalid.length;
  if (nothing === 0) print('  (no definitions)');
}
