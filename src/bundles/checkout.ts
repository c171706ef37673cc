/**
 * What the checkout holds: installed bundle folders under bundles/, which environments list which bundle, and the
 * workflow ids an environment already has. Read-only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readSourceFile } from '../definitions/source.js';
import { guessId, validateDefinitionBytes, validateDefinitionText } from '../definitions/validate.js';
import { discoverEnvironment, listEnvironmentNames, listFolders, type BundleEntry } from '../sync/discover.js';
import type { BundleFile, FileMap } from './archive.js';
import { readBundleFolder } from './folder.js';
import { workflowPaths } from './inspect.js';
import { fileListMismatches, MANIFEST_FILE, parseManifest, type Manifest } from './manifest.js';

export function bundleDir(repo: string, name: string): string {
  return path.join(repo, 'bundles', name);
}

export interface InstalledWorkflow {
  path: string;
  id: string | undefined;
  /** undefined when the file is invalid. */
  hash: string | undefined;
}

/** A folder under bundles/, read as leniently as possible (it may have been edited by hand). */
export interface InstalledBundle {
  name: string;
  dir: string;
  files: FileMap;
  manifest: Manifest | undefined;
  /** Why template.json could not be read, when it could not. */
  manifestError: string | undefined;
  workflows: InstalledWorkflow[];
  /** Files that differ from template.json's file list (edited since install); undefined when there is no list. */
  modified: string[] | undefined;
}

/** Names of the folders under bundles/ (hidden staging folders excluded). */
export function installedNames(repo: string): string[] {
  return listFolders(path.join(repo, 'bundles'));
}

export function readInstalled(repo: string, name: string): InstalledBundle | undefined {
  const dir = bundleDir(repo, name);
  if (!fs.existsSync(dir)) return undefined;
  const files = readBundleFolder(dir);
  let manifest: Manifest | undefined;
  let manifestError: string | undefined;
  const raw = files.get(MANIFEST_FILE);
  try {
    if (!raw) throw new Error('no template.json');
    manifest = parseManifest(raw.data, `bundles/${name}/template.json`);
  } catch (err) {
    manifestError = (err as Error).message;
  }
  const workflows = workflowPaths(files).map((p) => {
    const { data } = files.get(p) as BundleFile;
    const r = validateDefinitionBytes(data, p);
    return { path: p, id: r.id ?? guessId(data.toString('utf8')), hash: r.hash }; // hash is set only when valid
  });
  const modified = manifest?.files && fileListMismatches(manifest.files, files).map((m) => m.path);
  return { name, dir, files, manifest, manifestError, workflows, modified };
}

export interface EnvironmentUse {
  env: string;
  entry: BundleEntry;
  /** The environment's own vars (a bundle variable may take its value from them). */
  envVars: Record<string, unknown>;
}

/** Every environment that lists a bundle, by bundle name. */
export function bundleUses(repo: string): Map<string, EnvironmentUse[]> {
  const uses = new Map<string, EnvironmentUse[]>();
  for (const env of listEnvironmentNames(repo)) {
    const d = discoverEnvironment(repo, env);
    for (const entry of d.bundles) {
      const list = uses.get(entry.name) ?? [];
      list.push({ env, entry, envVars: d.vars });
      uses.set(entry.name, list);
    }
  }
  return uses;
}

/** The workflow ids an environment has besides those of `exceptBundle`: id → the file that declares it. */
export function environmentWorkflowIds(repo: string, env: string, exceptBundle: string): Map<string, { path: string; bundle: string | undefined }> {
  const ids = new Map<string, { path: string; bundle: string | undefined }>();
  for (const f of discoverEnvironment(repo, env).files) {
    if (f.bundle === exceptBundle) continue;
    const read = readSourceFile(f.abs);
    if (!read.ok) continue;
    const id = validateDefinitionText(read.text, f.path).id ?? guessId(read.text);
    if (id !== undefined && !ids.has(id)) ids.set(id, { path: f.path, bundle: f.bundle });
  }
  return ids;
}
