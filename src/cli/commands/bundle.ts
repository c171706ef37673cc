/** `stn bundle create|install|list|remove`: thin shells over src/bundles/. None of them needs the database. */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { createBundle } from '../../bundles/create.js';
import { describeChanges, installBundle, type InstallResult } from '../../bundles/install.js';
import { listBundles } from '../../bundles/list.js';
import { removeBundle } from '../../bundles/remove.js';
import { print, printJson, table } from '../output.js';

export interface BundleCliContext {
  /** The repository (--repo, STN_REPO, or the current folder). */
  repo: () => string;
  json: () => boolean;
  setExitCode: (code: number) => void;
}

const collect = (value: string, previous: string[]) => [...previous, value];

function size(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Adds the `bundle` command group to the program. */
export function registerBundleCommands(program: Command, ctx: BundleCliContext): void {
  const bundle = program.command('bundle').description('package, install, list and remove bundles of playbooks');

  bundle
    .command('create')
    .description('validate a bundle folder and write <name>-<version>.tar.gz (reproducible: same folder, same bytes)')
    .argument('<dir>', 'bundle folder with template.json and workflows/')
    .option('-o, --output <file>', 'archive to write, or a folder to write it into (default: current folder)')
    .action((dir: string, opts: { output?: string }) => {
      const r = createBundle(dir, { output: opts.output });
      if (ctx.json()) {
        printJson({ file: r.file, name: r.name, version: r.version, sha256: r.sha256, bytes: r.bytes, files: r.files, workflows: r.workflows.map((w) => w.id) });
      } else {
        const shown = path.relative(process.cwd(), r.file) || r.file;
        print(`created ${shown}`);
        print(`  bundle     ${r.name} ${r.version}`);
        print(`  workflows  ${r.workflows.map((w) => w.id).join(', ')}`);
        print(`  files      ${r.files} (${size(r.bytes)})`);
        print(`  sha256     ${r.sha256}`);
        print(`\nnext: stn bundle install ${shown} --env <environment>   (from a URL: add --sha256 ${r.sha256})`);
      }
      ctx.setExitCode(0);
    });

  bundle
    .command('install')
    .description('verify and install a bundle (.tar.gz, folder, or https URL with --sha256) into an environment')
    .argument('<source>', 'bundle archive, bundle folder, or https:// URL')
    .requiredOption('--env <name>', 'environment whose environment.yaml lists the bundle')
    .option('--var <NAME=VALUE>', "set a bundle variable in the environment's entry (repeatable)", collect, [])
    .option('--sha256 <hex>', "the archive's expected SHA-256 (required for URLs)")
    .option('--upgrade', 'replace an installed bundle of another version or content')
    .addOption(new Option('--allow-loopback-http', 'test only: accept http://127.0.0.1 URLs').hideHelp())
    .action(async (source: string, opts: { env: string; var: string[]; sha256?: string; upgrade?: boolean; allowLoopbackHttp?: boolean }) => {
      const r = await installBundle({
        repo: ctx.repo(),
        env: opts.env,
        source,
        sha256: opts.sha256,
        vars: opts.var,
        upgrade: opts.upgrade ?? false,
        allowLoopbackHttp: opts.allowLoopbackHttp ?? false,
      });
      if (ctx.json()) printJson(r);
      else printInstall(r);
      ctx.setExitCode(0);
    });

  bundle
    .command('list')
    .description('bundles in the checkout: version, environments that install them, workflows')
    .option('--env <name>', 'only bundles this environment installs')
    .action((opts: { env?: string }) => {
      const rows = listBundles(ctx.repo(), { env: opts.env });
      if (ctx.json()) {
        printJson(rows);
      } else if (rows.length === 0) {
        print(opts.env ? `environment ${opts.env} installs no bundles` : 'no bundles (bundles/ is empty and no environment lists one)');
      } else {
        print(
          table(
            ['NAME', 'VERSION', 'ENVIRONMENTS', 'WORKFLOWS'],
            rows.map((b) => [b.name, b.version ?? '(missing)', b.environments.map((e) => e.name).join(',') || '-', b.workflows.join(', ') || '-']),
          ),
        );
        for (const b of rows) for (const p of b.problems) print(`\n${b.name}: ${p}`);
      }
      ctx.setExitCode(0);
    });

  bundle
    .command('remove')
    .description("remove a bundle from an environment; its folder goes when no environment lists it")
    .argument('<name>', 'bundle name')
    .requiredOption('--env <name>', 'environment to remove it from')
    .action((name: string, opts: { env: string }) => {
      const r = removeBundle({ repo: ctx.repo(), env: opts.env, name });
      if (ctx.json()) {
        printJson(r);
      } else {
        print(`removed ${r.name} from environment ${r.environment} (${r.file})`);
        if (r.folderDeleted) print(`  deleted bundles/${r.name}/ (no environment lists it any more)`);
        else if (r.stillUsedBy.length > 0) print(`  kept bundles/${r.name}/: still listed by ${r.stillUsedBy.join(', ')}`);
        if (r.workflows.length > 0) print(`  the next sync of ${r.environment} disables: ${r.workflows.join(', ')} (history and runs are kept)`);
        print(`\nnext: commit the change; a daemon watching this checkout syncs it, or run "stn sync --env ${r.environment}"`);
      }
      ctx.setExitCode(0);
    });
}

function printInstall(r: InstallResult): void {
  const verb = { installed: 'installed', upgraded: 'upgraded', updated: 'updated', unchanged: 'already installed:' }[r.action];
  print(`${verb} ${r.name} ${r.version} in environment ${r.environment}`);
  if (r.changes) for (const line of describeChanges(r.name, r.changes)) print(`  ${line}`);
  print(`  ${r.folderWritten ? 'wrote' : 'unchanged'}  ${r.folder}/ (workflows: ${r.workflows.join(', ')})`);
  for (const f of r.files) print(`  updated  ${f}`);
  if (r.varsSet.length > 0) print(`  vars set: ${r.varsSet.join(', ')}`);
  for (const n of r.notes) print(`  note: ${n}`);
  if (r.action === 'unchanged') return;
  const paths = [...(r.folderWritten ? [r.folder] : []), ...r.files].join(' ');
  print(`\nnext: review and commit (git add ${paths}); a daemon watching this checkout syncs it, or run "stn sync --env ${r.environment}"`);
}
