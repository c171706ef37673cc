/** `stn bundle list`: the bundles of the checkout, their versions, the environments that install them and their workflows. */
import { NotFoundError } from '../errors.js';
import { isValidEnvironmentName, listEnvironmentNames } from '../sync/discover.js';
import { bundleUses, installedNames, readInstalled } from './checkout.js';

export interface BundleListing {
  name: string;
  /** The version in bundles/<name>/template.json; null when the folder is missing or its manifest unreadable. */
  version: string | null;
  description: string | null;
  folder: string;
  /** false: an environment lists the bundle but bundles/<name>/ does not exist. */
  present: boolean;
  environments: Array<{ name: string; version: string | null; vars: Record<string, unknown> }>;
  workflows: string[];
  /** Files changed since install (against template.json's file list); null when there is no list. */
  modified: string[] | null;
  problems: string[];
}

export function listBundles(repo: string, options: { env?: string | undefined } = {}): BundleListing[] {
  if (options.env !== undefined && (!isValidEnvironmentName(options.env) || !listEnvironmentNames(repo).includes(options.env))) {
    throw new NotFoundError(`environment "${options.env}" does not exist (environments/${options.env}/)`);
  }
  const uses = bundleUses(repo);
  const names = new Set([...installedNames(repo), ...uses.keys()]);
  const out: BundleListing[] = [];
  for (const name of [...names].sort()) {
    const users = uses.get(name) ?? [];
    if (options.env !== undefined && !users.some((u) => u.env === options.env)) continue;
    const problems: string[] = [];
    let installed: ReturnType<typeof readInstalled>;
    try {
      installed = readInstalled(repo, name);
    } catch (err) {
      problems.push((err as Error).message);
    }
    if (installed?.manifestError) problems.push(installed.manifestError);
    if (installed === undefined && problems.length === 0) problems.push(`bundles/${name}/ does not exist: install it, or remove the entries`);
    const version = installed?.manifest?.version ?? null;
    for (const u of users) {
      if (u.entry.version !== undefined && version !== null && u.entry.version !== version) {
        problems.push(`${u.env} lists version ${u.entry.version}, but bundles/${name}/ holds ${version}`);
      }
    }
    if (installed?.modified && installed.modified.length > 0) problems.push(`changed since install: ${installed.modified.join(', ')}`);
    out.push({
      name,
      version,
      description: installed?.manifest?.description ?? null,
      folder: `bundles/${name}`,
      present: installed !== undefined,
      environments: users.map((u) => ({ name: u.env, version: u.entry.version ?? null, vars: u.entry.vars ?? {} })),
      workflows: (installed?.workflows ?? []).map((w) => w.id ?? w.path),
      modified: installed?.modified ?? null,
      problems,
    });
  }
  return out;
}
