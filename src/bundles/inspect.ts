/**
 * Checks a bundle held in memory before anything is written: the manifest, its file list, the Station version
 * range, and every workflow (the same validation as `stn validate` and sync).
 */
import { DEFINITION_FILE, validateDefinitionBytes } from '../definitions/validate.js';
import { StationError } from '../errors.js';
import { comparePaths, type FileMap } from './archive.js';
import { checkCompatible, MANIFEST_FILE, parseManifest, verifyFileList, type Manifest } from './manifest.js';

export interface BundleWorkflow {
  /** Path inside the bundle, e.g. workflows/disk-check.workflow.yaml. */
  path: string;
  id: string;
  name: string;
  /** Canonical content hash (what sync versions by), to tell changed workflows apart in an upgrade. */
  hash: string;
}

export interface InspectedBundle {
  manifest: Manifest;
  files: FileMap;
  workflows: BundleWorkflow[];
}

export interface InspectOptions {
  /**
   * `required`: template.json must carry the file list and every file must match it (archives). `if-present`:
   * verified when there is one (folders). `ignore`: the list is regenerated anyway (create).
   */
  fileList: 'required' | 'if-present' | 'ignore';
  /** Check the manifest's `station` range against this Station (install); create packs bundles for any version. */
  checkStation: boolean;
  /** Test hook: pretend to be another Station version. */
  stationVersion?: string | undefined;
}

/** At most this many diagnostics are quoted per workflow in an error message. */
const QUOTED_PER_FILE = 5;

/** The workflow files sync reads from a bundle: *.workflow.(yaml|yml|json) anywhere under workflows/. */
export function workflowPaths(files: FileMap): string[] {
  return [...files.keys()]
    .filter((p) => p.startsWith('workflows/') && DEFINITION_FILE.test(p) && !p.split('/').some((s) => s.startsWith('.')))
    .sort(comparePaths);
}

/** Validates a bundle; `where` names it in messages (a file, folder or URL). Throws the first class of problem found. */
export function inspectBundle(files: FileMap, where: string, options: InspectOptions): InspectedBundle {
  const manifestFile = files.get(MANIFEST_FILE);
  if (!manifestFile) {
    throw new StationError('STN_E_BUNDLE_INVALID', `${where}: no template.json at the top of the bundle`, { file: MANIFEST_FILE });
  }
  const manifest = parseManifest(manifestFile.data, `${where}/template.json`);
  if (options.fileList === 'required' || (options.fileList === 'if-present' && manifest.files !== undefined)) {
    verifyFileList(manifest, files, where);
  }
  if (options.checkStation) checkCompatible(manifest, options.stationVersion);

  const problems: string[] = [];
  const workflows: BundleWorkflow[] = [];
  const paths = workflowPaths(files);
  const byId = new Map<string, string>();
  for (const p of paths) {
    const result = validateDefinitionBytes((files.get(p) as { data: Buffer }).data, p);
    if (!result.valid || !result.spec || !result.hash) {
      for (const d of result.errors.slice(0, QUOTED_PER_FILE)) problems.push(`${p}:${d.line}:${d.col}: ${d.code}: ${d.message}`);
      if (result.errors.length > QUOTED_PER_FILE) problems.push(`${p}: ... and ${result.errors.length - QUOTED_PER_FILE} more`);
      continue;
    }
    const earlier = byId.get(result.spec.id);
    if (earlier !== undefined) {
      problems.push(`${p}: workflow id "${result.spec.id}" is also declared by ${earlier}`);
      continue;
    }
    byId.set(result.spec.id, p);
    workflows.push({ path: p, id: result.spec.id, name: result.spec.name, hash: result.hash });
  }
  if (paths.length === 0) problems.push('no workflows: a bundle holds at least one *.workflow.yaml under workflows/');
  if (manifest.workflows !== undefined) {
    const listed = new Set(manifest.workflows);
    for (const p of listed) if (!paths.includes(p)) problems.push(`template.json lists workflow "${p}", which is not a workflow file under workflows/`);
    for (const p of paths) if (!listed.has(p)) problems.push(`${p} is not in template.json's workflows list (sync installs every workflow file under workflows/)`);
  }
  for (const p of files.keys()) {
    if (!p.startsWith('mcp-servers/') || !p.endsWith('.json')) continue;
    try {
      const v = JSON.parse((files.get(p) as { data: Buffer }).data.toString('utf8')) as unknown;
      if (v === null || typeof v !== 'object' || Array.isArray(v)) problems.push(`${p}: an MCP server file holds one JSON object`);
    } catch (err) {
      problems.push(`${p}: not valid JSON: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) {
    throw new StationError('STN_E_BUNDLE_INVALID', `${where}: bundle ${manifest.name} ${manifest.version} is invalid:\n  ${problems.join('\n  ')}`, {
      problems,
    });
  }
  return { manifest, files, workflows };
}
