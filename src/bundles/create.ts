/**
 * `stn bundle create`: validates a bundle folder and writes `<name>-<version>.tar.gz`, reproducibly (the same
 * folder gives the same bytes), with the file list and SHA-256 of every file in its template.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { DEFAULT_LIMITS, packArchive, type ArchiveLimits, type FileMap } from './archive.js';
import { readBundleFolder, writeFileAtomic } from './folder.js';
import { inspectBundle, type BundleWorkflow } from './inspect.js';
import { MANIFEST_FILE, manifestWithFileList, sha256Hex } from './manifest.js';

export interface CreateOptions {
  /** Output file, or an existing folder to write `<name>-<version>.tar.gz` into. Default: that name in `cwd`. */
  output?: string | undefined;
  cwd?: string;
  limits?: ArchiveLimits;
}

export interface CreateResult {
  file: string;
  name: string;
  version: string;
  sha256: string;
  bytes: number;
  /** Files in the archive, template.json included. */
  files: number;
  workflows: BundleWorkflow[];
}

export function createBundle(dir: string, options: CreateOptions = {}): CreateResult {
  const cwd = options.cwd ?? process.cwd();
  const source = path.resolve(cwd, dir);
  const limits = options.limits ?? DEFAULT_LIMITS;
  const files = readBundleFolder(source, limits);
  const bundle = inspectBundle(files, dir, { fileList: 'ignore', checkStation: false });
  const { name, version } = bundle.manifest;

  const out = outputPath(options.output, cwd, `${name}-${version}.tar.gz`);
  const rel = path.relative(source, out);
  if (!rel.startsWith('..') && !path.isAbsolute(rel)) {
    // The next create would pack the archive into itself.
    throw new UsageError(`the archive ${out} would be written inside the bundle folder ${source}: pass -o outside it`);
  }
  const packed: FileMap = new Map(files);
  packed.set(MANIFEST_FILE, { data: manifestWithFileList(bundle.manifest, files), executable: false });
  const archive = packArchive(name, packed);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  writeFileAtomic(out, archive);
  return { file: out, name, version, sha256: sha256Hex(archive), bytes: archive.length, files: packed.size, workflows: bundle.workflows };
}

function outputPath(output: string | undefined, cwd: string, defaultName: string): string {
  if (output === undefined) return path.join(cwd, defaultName);
  const abs = path.resolve(cwd, output);
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) return path.join(abs, defaultName);
  if (output.endsWith('/') || output.endsWith(path.sep)) return path.join(abs, defaultName);
  return abs;
}
