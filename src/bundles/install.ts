/**
 * `stn bundle install`: everything is checked in memory first (archive safety, checksums, manifest, workflows,
 * id collisions, variables, version change); only then is the bundle folder moved into place and environment.yaml
 * rewritten. A refused install writes nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import type { JsonObject } from '../definitions/types.js';
import { StationError } from '../errors.js';
import type { ArchiveLimits, FileMap } from './archive.js';
import { bundleDir, bundleUses, environmentWorkflowIds, readInstalled, type InstalledBundle } from './checkout.js';
import { envFileChanged, loadEnvFile, restoreEnvFile, setBundleEntry, setBundleVersion, writeEnvFile, bundleEntries, environmentVars, type EnvFile } from './envfile.js';
import { asidePath, refuseLinkedPaths, sameFiles, stageFolder } from './folder.js';
import { inspectBundle, type InspectedBundle } from './inspect.js';
import { MANIFEST_FILE, manifestWithFileList } from './manifest.js';
import { loadSource } from './source.js';
import { parseVarArgs, undeclaredVariables, variableProblems } from './variables.js';

export interface InstallOptions {
  repo: string;
  env: string;
  /** A .tar.gz file, a bundle folder, or an https URL. */
  source: string;
  sha256?: string | undefined;
  /** `NAME=VALUE` strings, as given to --var. */
  vars?: readonly string[];
  /** Allow replacing an installed bundle of another version (or other content). */
  upgrade?: boolean;
  limits?: ArchiveLimits;
  /** Test-only (see SourceOptions.allowLoopbackHttp). */
  allowLoopbackHttp?: boolean;
  stationVersion?: string;
}

/** What an upgrade changes, for the refusal message and the install report. */
export interface ChangeSummary {
  from: string | undefined;
  to: string;
  direction: 'upgrade' | 'downgrade' | 'same version';
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
  variablesAdded: string[];
  variablesRemoved: string[];
  /** Other environments that list the bundle and get the new workflows too (one folder serves them all). */
  otherEnvironments: string[];
}

export interface InstallResult {
  name: string;
  version: string;
  environment: string;
  action: 'installed' | 'upgraded' | 'updated' | 'unchanged';
  /** bundles/<name>/ relative to the repository. */
  folder: string;
  folderWritten: boolean;
  /** Environment files changed, relative to the repository. */
  files: string[];
  workflows: string[];
  changes: ChangeSummary | undefined;
  /** Variables set on the entry by this install. */
  varsSet: string[];
  notes: string[];
}

export async function installBundle(o: InstallOptions): Promise<InstallResult> {
  const target = loadEnvFile(o.repo, o.env); // the environment must exist and its file must be editable
  refuseLinkedPaths(o.repo, ['bundles']);
  const source = await loadSource(o.source, { sha256: o.sha256, limits: o.limits, allowLoopbackHttp: o.allowLoopbackHttp });
  const bundle = inspectBundle(source.files, source.where, { fileList: source.fileList, checkStation: true, stationVersion: o.stationVersion });
  const { name, version } = bundle.manifest;
  if (source.root !== undefined && source.root !== name) {
    throw new StationError('STN_E_BUNDLE_INVALID', `${source.where}: files sit under "${source.root}/" but template.json names the bundle "${name}"`);
  }
  refuseLinkedPaths(o.repo, [`bundles/${name}`]);
  const installed = readInstalled(o.repo, name);
  const folder = bundleDir(o.repo, name);
  // A folder install records the file list too, so the installed copy can be verified like an archive's; a bundle
  // folder already in place (`stn bundle install bundles/x --env e`) is only added to the environment.
  const inPlace = source.kind === 'folder' && installed !== undefined && fs.realpathSync(source.where) === fs.realpathSync(folder);
  const files: FileMap = new Map(source.files);
  if (source.kind === 'folder' && !inPlace) files.set(MANIFEST_FILE, { data: manifestWithFileList(bundle.manifest, files), executable: false });
  const folderChanges = installed === undefined || !sameFiles(installed.files, files);
  const otherUses = (bundleUses(o.repo).get(name) ?? []).filter((u) => u.env !== o.env);
  const others = otherUses.map((u) => u.env);
  const changes = installed && folderChanges ? summarize(installed, bundle, others) : undefined;
  if (changes && !o.upgrade) throw upgradeRefusal(name, changes);

  checkCollisions(o.repo, bundle, [o.env, ...(folderChanges ? others : [])]);

  // Variables: this environment's entry plus --var, and (when the folder changes) every other user's entry.
  const existing = bundleEntries(target).find((b) => b.name === name);
  const varsSet = parseVarArgs(o.vars ?? [], bundle.manifest);
  const entryVars: JsonObject = { ...(existing?.vars ?? {}), ...varsSet };
  const problems = variableProblems(bundle.manifest, entryVars, environmentVars(target), o.env);
  const envFiles: EnvFile[] = [target];
  if (folderChanges) {
    for (const u of otherUses) {
      problems.push(...variableProblems(bundle.manifest, u.entry.vars ?? {}, u.envVars as JsonObject, u.env));
      const f = loadEnvFile(o.repo, u.env);
      if (setBundleVersion(f, name, version)) envFiles.push(f);
    }
  }
  if (problems.length > 0) {
    throw new StationError('STN_E_BUNDLE_VARIABLES', `bundle ${name} ${version}: variables:\n  ${problems.join('\n  ')}`, { problems });
  }
  setBundleEntry(target, name, version, varsSet);

  const changedFiles = envFiles.filter(envFileChanged);
  if (folderChanges) replaceFolderThenWrite(folder, files, changedFiles);
  else writeAll(changedFiles);

  const notes: string[] = [];
  const undeclared = undeclaredVariables(bundle.manifest, entryVars);
  if (undeclared.length > 0) notes.push(`the ${o.env} entry sets vars the bundle does not declare: ${undeclared.join(', ')}`);
  for (const [k, spec] of Object.entries(bundle.manifest.variables ?? {})) {
    if (spec.secret) notes.push(`secret variable ${k}: workflows read the secret named by its value (STN_SECRET_<NAME> in the daemon's environment)`);
  }
  const action = changes ? 'upgraded' : installed === undefined || !existing ? 'installed' : changedFiles.length > 0 ? 'updated' : 'unchanged';
  return {
    name,
    version,
    environment: o.env,
    action,
    folder: path.relative(o.repo, folder).split(path.sep).join('/'),
    folderWritten: folderChanges,
    files: changedFiles.map((f) => path.relative(o.repo, f.file).split(path.sep).join('/')),
    workflows: bundle.workflows.map((w) => w.id),
    changes,
    varsSet: Object.keys(varsSet),
    notes,
  };
}

function summarize(installed: InstalledBundle, next: InspectedBundle, others: string[]): ChangeSummary {
  const before = new Map(installed.workflows.filter((w) => w.id !== undefined).map((w) => [w.id as string, w.hash]));
  const after = new Map(next.workflows.map((w) => [w.id, w.hash]));
  const from = installed.manifest?.version;
  const a = from ? semver.valid(from) : null;
  const b = semver.valid(next.manifest.version);
  const cmp = a !== null && b !== null ? semver.compare(b, a) : 1;
  const oldVars = Object.keys(installed.manifest?.variables ?? {});
  const newVars = Object.keys(next.manifest.variables ?? {});
  return {
    from,
    to: next.manifest.version,
    direction: cmp > 0 ? 'upgrade' : cmp < 0 ? 'downgrade' : 'same version',
    added: [...after.keys()].filter((id) => !before.has(id)).sort(),
    removed: [...before.keys()].filter((id) => !after.has(id)).sort(),
    changed: [...after.keys()].filter((id) => before.has(id) && before.get(id) !== after.get(id)).sort(),
    unchanged: [...after.keys()].filter((id) => before.has(id) && before.get(id) === after.get(id)).sort(),
    variablesAdded: newVars.filter((v) => !oldVars.includes(v)),
    variablesRemoved: oldVars.filter((v) => !newVars.includes(v)),
    otherEnvironments: others,
  };
}

/** The summary as lines, shared by the refusal and the CLI report. */
export function describeChanges(name: string, c: ChangeSummary): string[] {
  const list = (xs: string[]) => (xs.length > 0 ? xs.join(', ') : '-');
  const lines = [
    c.direction === 'same version'
      ? `${name} ${c.to} is installed with different content`
      : `${name} ${c.from ?? '(unknown version)'} -> ${c.to} (${c.direction})`,
    `workflows added: ${list(c.added)}`,
    `workflows removed (disabled at the next sync): ${list(c.removed)}`,
    `workflows changed: ${list(c.changed)}`,
  ];
  if (c.variablesAdded.length > 0 || c.variablesRemoved.length > 0) {
    lines.push(`variables added: ${list(c.variablesAdded)}; removed: ${list(c.variablesRemoved)}`);
  }
  if (c.otherEnvironments.length > 0) lines.push(`also used by: ${c.otherEnvironments.join(', ')} (bundles/${name}/ is shared; they change too)`);
  return lines;
}

function upgradeRefusal(name: string, c: ChangeSummary): StationError {
  const lines = describeChanges(name, c);
  return new StationError('STN_E_BUNDLE_UPGRADE', `${lines[0] ?? name}; pass --upgrade to replace it:\n  ${lines.slice(1).join('\n  ')}`, {
    changes: c,
  });
}

/** New bundle workflow ids must not collide with the environment's own workflows or another bundle's. */
function checkCollisions(repo: string, bundle: InspectedBundle, envs: string[]): void {
  const problems: string[] = [];
  for (const env of envs) {
    const ids = environmentWorkflowIds(repo, env, bundle.manifest.name);
    for (const w of bundle.workflows) {
      const other = ids.get(w.id);
      if (!other) continue;
      const owner = other.bundle ? `bundle ${other.bundle} (${other.path})` : other.path;
      problems.push(`${env}: workflow id "${w.id}" (${w.path}) is already used by ${owner}`);
    }
  }
  if (problems.length > 0) {
    throw new StationError('STN_E_BUNDLE_CONFLICT', `bundle ${bundle.manifest.name} ${bundle.manifest.version} collides:\n  ${problems.join('\n  ')}`, {
      problems,
    });
  }
}

function writeAll(files: EnvFile[]): void {
  const done: EnvFile[] = [];
  try {
    for (const f of files) {
      writeEnvFile(f);
      done.push(f);
    }
  } catch (err) {
    for (const f of done) restoreEnvFile(f);
    throw err;
  }
}

/**
 * Stages the new folder beside the old one, swaps them with renames, then writes the environment files. If any
 * step fails, the old folder and files are put back.
 */
function replaceFolderThenWrite(folder: string, files: FileMap, envFiles: EnvFile[]): void {
  const staging = stageFolder(folder, files);
  let aside: string | undefined;
  try {
    if (fs.existsSync(folder)) {
      aside = asidePath(folder, 'old');
      fs.renameSync(folder, aside);
    }
    fs.renameSync(staging, folder);
  } catch (err) {
    if (aside && !fs.existsSync(folder)) fs.renameSync(aside, folder);
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  try {
    writeAll(envFiles);
  } catch (err) {
    fs.rmSync(folder, { recursive: true, force: true });
    if (aside) fs.renameSync(aside, folder);
    throw err;
  }
  if (aside) fs.rmSync(aside, { recursive: true, force: true });
}
