/**
 * `stn bundle remove <name> --env E`: drops the bundle's entry from E's environment.yaml and deletes bundles/<name>/
 * once no environment lists it. The next sync disables the bundle's workflows in E (history and runs are kept).
 */
import fs from 'node:fs';
import path from 'node:path';
import { NotFoundError } from '../errors.js';
import { bundleDir, bundleUses, readInstalled } from './checkout.js';
import { envFileText, loadEnvFile, removeBundleEntry, writeEnvFile } from './envfile.js';
import { asidePath, refuseLinkedPaths } from './folder.js';

export interface RemoveOptions {
  repo: string;
  env: string;
  name: string;
}

export interface RemoveResult {
  name: string;
  environment: string;
  /** The environment file changed, relative to the repository. */
  file: string;
  /** Whether bundles/<name>/ was deleted (no environment lists the bundle any more). */
  folderDeleted: boolean;
  /** Environments that still list the bundle. */
  stillUsedBy: string[];
  /** Workflow ids the next sync of the environment disables. */
  workflows: string[];
}

export function removeBundle(o: RemoveOptions): RemoveResult {
  const envFile = loadEnvFile(o.repo, o.env);
  const users = (bundleUses(o.repo).get(o.name) ?? []).map((u) => u.env);
  if (!removeBundleEntry(envFile, o.name)) {
    throw new NotFoundError(
      `environment ${o.env} does not list bundle "${o.name}"${users.length > 0 ? ` (listed by: ${users.join(', ')})` : ''}`,
    );
  }
  // Drop an emptied `bundles:` key rather than leave `bundles: []` behind.
  const seq = envFile.doc.get('bundles') as { items?: unknown[]; comment?: string | null } | undefined;
  if (seq?.items?.length === 0) {
    // yaml hangs the comments after the last entry (often the file's closing comments) on the list: keep them.
    if (seq.comment) envFile.doc.comment = envFile.doc.comment ? `${seq.comment}\n${envFile.doc.comment}` : seq.comment;
    envFile.doc.delete('bundles');
  }
  envFileText(envFile); // validates before anything is written

  // Deleting through a link would remove (or move aside) a folder outside the checkout.
  refuseLinkedPaths(o.repo, ['bundles', `bundles/${o.name}`]);
  const folder = bundleDir(o.repo, o.name);
  let installed: ReturnType<typeof readInstalled>;
  try {
    installed = readInstalled(o.repo, o.name);
  } catch {
    installed = undefined; // an unreadable folder is still deleted below; its workflows are just not listed
  }
  const stillUsedBy = users.filter((e) => e !== o.env);
  const deleteFolder = stillUsedBy.length === 0 && fs.existsSync(folder);

  // Move the folder aside first, so a failure to write environment.yaml can put it back untouched.
  const aside = deleteFolder ? asidePath(folder, 'removed') : undefined;
  if (aside) fs.renameSync(folder, aside);
  try {
    writeEnvFile(envFile);
  } catch (err) {
    // writeEnvFile is atomic: a failed write left the old file in place.
    if (aside) fs.renameSync(aside, folder);
    throw err;
  }
  if (aside) fs.rmSync(aside, { recursive: true, force: true });
  return {
    name: o.name,
    environment: o.env,
    file: path.relative(o.repo, envFile.file).split(path.sep).join('/'),
    folderDeleted: deleteFolder,
    stillUsedBy,
    workflows: (installed?.workflows ?? []).map((w) => w.id ?? w.path),
  };
}
