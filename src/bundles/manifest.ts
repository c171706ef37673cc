/**
 * template.json, a bundle's manifest (schemas/template.schema.json): read and checked, the Station version range
 * tested, and the generated file list (path + SHA-256 of every other file) written and verified.
 */
import { createHash } from 'node:crypto';
import semver from 'semver';
import pkg from '../../package.json' with { type: 'json' };
import templateSchema from '../../schemas/template.schema.json' with { type: 'json' };
import { compileSchema } from '../json-schema.js';
import { schemaIssues } from '../definitions/schema-check.js';
import type { JsonValue } from '../definitions/types.js';
import { StationError } from '../errors.js';
import { comparePaths, type FileMap } from './archive.js';

export const MANIFEST_FILE = 'template.json';

/** This Station's version, tested against a bundle's `station` range. */
export const STATION_VERSION: string = pkg.version;

export type VariableType = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array';

export interface VariableSpec {
  type: VariableType;
  description?: string;
  default?: JsonValue;
  required?: boolean;
  /** The value is the NAME of a secret (`secrets.NAME`, i.e. STN_SECRET_<NAME>), never the secret. */
  secret?: boolean;
}

export interface FileChecksum {
  path: string;
  sha256: string;
}

export interface Manifest {
  name: string;
  version: string;
  description?: string;
  author?: string;
  license?: string;
  station?: string;
  variables?: Record<string, VariableSpec>;
  workflows?: string[];
  files?: FileChecksum[];
}


/** A secret variable's value: a name as `secrets.NAME` knows it. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses and schema-checks template.json; every problem is listed in one STN_E_BUNDLE_INVALID. */
export function parseManifest(bytes: Uint8Array, where: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new StationError('STN_E_BUNDLE_INVALID', `${where}: not valid JSON: ${(err as Error).message}`, { file: where });
  }
  if (depthOver(value, MAX_DEPTH)) {
    // Validation recurses: a hand-made default nested thousands deep would overflow the stack.
    throw new StationError('STN_E_BUNDLE_INVALID', `${where}: nested more than ${MAX_DEPTH} levels deep`, { file: where });
  }
  const variables = (value as { variables?: unknown } | null)?.variables;
  if (variables !== null && typeof variables === 'object' && Object.hasOwn(variables, '__proto__')) {
    // JavaScript objects cannot hold it as a plain key: a run would silently never see its value.
    throw new StationError('STN_E_BUNDLE_INVALID', `${where} is invalid:\n  /variables/__proto__: "__proto__" cannot be a variable name`, { file: where });
  }
  // Compiled on first use (and cached by compileSchema): commands that never validate don't pay for it.
  const validateTemplate = compileSchema(templateSchema);
  if (!validateTemplate(value)) {
    const problems = schemaIssues(value, validateTemplate.errors ?? [], 'template.json').map((i) => `${i.pointer || '/'}: ${i.message}`);
    throw new StationError('STN_E_BUNDLE_INVALID', `${where} is invalid:\n  ${problems.join('\n  ')}`, { file: where, problems });
  }
  const manifest = value as Manifest;
  if (manifest.station !== undefined && semver.validRange(manifest.station) === null) {
    throw new StationError('STN_E_BUNDLE_INVALID', `${where}: station "${manifest.station}" is not a semver range (e.g. ">=0.1.0 <1.0.0")`, {
      file: where,
    });
  }
  return manifest;
}

/** Deepest nesting of objects and arrays accepted in template.json (variable defaults included). */
const MAX_DEPTH = 64;

/** Whether a parsed JSON value nests deeper than `max`, checked without recursion. */
function depthOver(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [v, depth] = item;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Refuses a bundle whose `station` range leaves this Station out. */
export function checkCompatible(manifest: Manifest, stationVersion: string = STATION_VERSION): void {
  if (manifest.station === undefined) return;
  // npm's range grammar: a pre-release Station only satisfies a range naming a pre-release of the same version.
  const own = semver.valid(stationVersion);
  if (own !== null && semver.satisfies(own, manifest.station)) return;
  throw new StationError(
    'STN_E_BUNDLE_INCOMPATIBLE',
    `bundle ${manifest.name} ${manifest.version} needs Station ${manifest.station}; this is Station ${own ?? stationVersion}`,
    { range: manifest.station, station: stationVersion },
  );
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The file list of a bundle: every file but template.json, in byte order of the path. */
export function fileList(files: FileMap): FileChecksum[] {
  return [...files.keys()]
    .filter((p) => p !== MANIFEST_FILE)
    .sort(comparePaths)
    .map((p) => ({ path: p, sha256: sha256Hex((files.get(p) as { data: Buffer }).data) }));
}

/** template.json as create writes it: the author's manifest with `files` (re)generated. */
export function manifestWithFileList(manifest: Manifest, files: FileMap): Buffer {
  const { files: _old, ...rest } = manifest;
  return Buffer.from(`${JSON.stringify({ ...rest, files: fileList(files) }, null, 2)}\n`, 'utf8');
}

/** A path where a bundle and its file list disagree; `listed` undefined: not in the list; `actual` undefined: missing. */
export interface FileListMismatch {
  path: string;
  listed: string | undefined;
  actual: string | undefined;
}

/** Listed paths missing or with another SHA-256, then files the list does not name (template.json aside). */
export function fileListMismatches(list: readonly FileChecksum[], files: FileMap): FileListMismatch[] {
  const listed = new Map(list.map((f) => [f.path, f.sha256]));
  const out: FileListMismatch[] = [];
  for (const [p, sha] of listed) {
    const f = files.get(p);
    const actual = f && sha256Hex(f.data);
    if (actual !== sha) out.push({ path: p, listed: sha, actual });
  }
  for (const p of files.keys()) if (p !== MANIFEST_FILE && !listed.has(p)) out.push({ path: p, listed: undefined, actual: undefined });
  return out;
}

/**
 * Checks that the bundle holds exactly the files its list names, each with its SHA-256. Every difference is named:
 * a changed file, a listed file that is missing and a file that is not listed at all.
 */
export function verifyFileList(manifest: Manifest, files: FileMap, where: string): void {
  if (manifest.files === undefined) {
    throw new StationError('STN_E_BUNDLE_CHECKSUM', `${where}: template.json has no file list to verify; create the archive with "stn bundle create"`);
  }
  const problems: string[] = [];
  // A path listed twice would be checked against only one of its checksums.
  const twice = manifest.files.map((f) => f.path).filter((p, i, all) => all.indexOf(p) !== i);
  for (const p of new Set(twice)) problems.push(`${p}: listed more than once in template.json's file list`);
  for (const m of fileListMismatches(manifest.files, files)) {
    if (m.listed === undefined) problems.push(`${m.path}: not in template.json's file list`);
    else if (m.actual === undefined) problems.push(`${m.path}: listed in template.json but missing`);
    else problems.push(`${m.path}: SHA-256 ${m.actual} does not match the listed ${m.listed}`);
  }
  if (problems.length > 0) {
    throw new StationError('STN_E_BUNDLE_CHECKSUM', `${where}: checksum verification failed:\n  ${problems.join('\n  ')}`, { problems });
  }
}
