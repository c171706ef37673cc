import type { StationClient } from '../../client/types.js';
import { syncExitCode } from '../../sync/report.js';
import type { CheckoutStateView, SyncEnvironmentView, SyncReportView } from '../../views/types.js';
import { diagnosticLine, print, printJson, shortSha } from '../output.js';
import { variableLines } from '../variables-view.js';

export interface SyncCommandOptions {
  env?: string | undefined;
  dryRun?: boolean | undefined;
  allowEmpty?: boolean | undefined;
  json: boolean;
}

/** `stn sync`: one-shot sync with a readable report; exit 0 all valid, 1 some invalid, 2 refused or fatal. */
export async function syncCommand(client: StationClient, options: SyncCommandOptions): Promise<number> {
  const report = await client.sync({ env: options.env, dryRun: options.dryRun, allowEmpty: options.allowEmpty });
  if (options.json) printJson(report);
  else {
    printSyncReport(report);
    printGit(report.git);
  }
  return syncExitCode(report);
}

function printGit(git: CheckoutStateView | null): void {
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

function printSyncReport(report: SyncReportView): void {
  const head = report.dryRun ? 'Dry run (nothing written) at commit' : 'Synced commit';
  print(`${head} ${shortSha(report.commit)}: ${report.environments.length} environment(s)`);
  for (const e of report.environments) printEnvironment(e);
}

function printEnvironment(e: SyncEnvironmentView): void {
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
    for (const d of i.errors) print(`      ${diagnosticLine(i.path, d, 'error')}`);
  }
  for (const w of e.warnings) for (const d of w.warnings) print(`  ${'warning'.padEnd(11)} ${diagnosticLine(w.path, d, 'warning')}`);
  if (e.held) print(`  ${'held'.padEnd(11)} ${e.held.ids.join(', ')} (files vanished; judged with the whole environment at ${e.held.until})`);
  for (const p of e.superseded) print(`  ${'changed'.padEnd(11)} ${p} (changed again during this sync: left for the next one)`);
  variableLines(e.variables).forEach((line, i) => print(`  ${(i === 0 ? 'variables' : '').padEnd(11)} ${line}`));
  const nothing = e.added.length + e.updated.length + e.reenabled.length + e.disabled.length + e.unchanged.length + e.invalid.length;
  if (nothing === 0) print('  (no definitions)');
  if (e.agents) printAgents(e.agents);
}

/** Agent files, reported like the definitions: `agent <change>  name (vN)`. */
function printAgents(a: NonNullable<SyncEnvironmentView['agents']>): void {
  const withVersion = (ids: string[]) => ids.map((id) => (a.versions[id] ? `${id} (v${a.versions[id]})` : id)).join(', ');
  const rows: Array<[string, string[]]> = [
    ['added', a.added],
    ['updated', a.updated],
    ['re-enabled', a.reenabled],
    ['disabled', a.disabled],
  ];
  for (const [label, ids] of rows) if (ids.length > 0) print(`  ${`agents ${label}`.padEnd(18)} ${withVersion(ids)}`);
  if (a.unchanged.length > 0) print(`  ${'agents unchanged'.padEnd(18)} ${a.unchanged.length} agent(s)`);
  for (const i of a.invalid) {
    const kept = i.activeVersion ? ` (v${i.activeVersion} stays active)` : '';
    print(`  ${'agent invalid'.padEnd(18)} ${i.path}${i.id ? ` [${i.id}]` : ''}${kept}`);
    for (const d of i.errors) print(`      ${diagnosticLine(i.path, d, 'error')}`);
  }
  for (const w of a.warnings) for (const d of w.warnings) print(`  ${'agent warning'.padEnd(18)} ${diagnosticLine(w.path, d, 'warning')}`);
}
