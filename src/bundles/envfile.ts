/**
 * environments/<env>/environment.yaml as bundle commands edit it: through the `yaml` Document API, so comments,
 * key order and quoting of everything else survive, and written atomically.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, Scalar, type Document, type YAMLMap, type YAMLSeq } from 'yaml';
import environmentSchema from '../../schemas/environment.schema.json' with { type: 'json' };
import { compileSchema, formatSchemaErrors } from '../json-schema.js';
import type { JsonObject, JsonValue } from '../definitions/types.js';
import { NotFoundError, StationError } from '../errors.js';
import { findEnvironmentFile, isValidEnvironmentName, listEnvironmentNames } from '../sync/discover.js';
import { refuseLinkedPaths, writeFileAtomic } from './folder.js';

export interface BundleEntryValue {
  name: string;
  version?: string;
  vars?: JsonObject;
}

/** One environment.yaml, parsed and editable; `original` is the text as read (null when the file does not exist). */
export interface EnvFile {
  env: string;
  /** Absolute path of the file (environment.yaml, or the existing environment.yml). */
  file: string;
  original: string | null;
  doc: Document;
}

const NEW_FILE_HEADER = '# yaml-language-server: $schema=../../schemas/environment.schema.json\n';

/** Loads an environment's file; the environment folder must exist. Refuses a file it could not safely rewrite. */
export function loadEnvFile(repo: string, env: string): EnvFile {
  const dir = path.join(repo, 'environments', env);
  // Bundle commands write here: never through a link to somewhere else (checked before the folder is followed).
  if (isValidEnvironmentName(env)) refuseLinkedPaths(repo, ['environments', `environments/${env}`]);
  if (!isValidEnvironmentName(env) || !fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    const known = listEnvironmentNames(repo);
    throw new NotFoundError(
      `environment "${env}" does not exist (environments/${env}/); known: ${known.length > 0 ? known.join(', ') : 'none'}. Create the folder first to add an environment`,
    );
  }
  const file = findEnvironmentFile(dir) ?? path.join(dir, 'environment.yaml');
  const display = path.relative(repo, file);
  if (fs.lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink()) {
    // The atomic rename would replace the link with a plain file (a type change in Git), or writing through it could
    // land outside the checkout: refuse, and let a person edit the target.
    throw new StationError('STN_E_ENVIRONMENT_INVALID', `${display} is a symbolic link: stn edits only plain files; add the bundle entry by hand`, {
      file: display,
    });
  }
  const original = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
  const doc = parseDocument(original ?? NEW_FILE_HEADER, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new StationError('STN_E_ENVIRONMENT_INVALID', `${display}: ${doc.errors[0]?.message ?? 'invalid YAML'}`, { file: display });
  }
  if (doc.contents === null) doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (err) {
    // yaml refuses alias bombs (and other documents it cannot turn into values) by throwing.
    throw new StationError('STN_E_ENVIRONMENT_INVALID', `${display}: ${(err as Error).message}`, { file: display });
  }
  // Compiled on first use (and cached by compileSchema): importing this module, as every CLI start does, costs nothing.
  const validateEnvironment = compileSchema(environmentSchema);
  if (!validateEnvironment(value)) {
    throw new StationError('STN_E_ENVIRONMENT_INVALID', `${display} is invalid: ${formatSchemaErrors(validateEnvironment.errors)}; fix it first`, {
      file: display,
    });
  }
  return { env, file, original, doc };
}

/** The bundle entries as plain values. */
export function bundleEntries(f: EnvFile): BundleEntryValue[] {
  return ((f.doc.toJS() as { bundles?: BundleEntryValue[] }).bundles ?? []).map((b) => ({ ...b }));
}

/** The environment's own `vars`. */
export function environmentVars(f: EnvFile): JsonObject {
  return (f.doc.toJS() as { vars?: JsonObject }).vars ?? {};
}

function bundleSeq(f: EnvFile, create: boolean): YAMLSeq | undefined {
  const seq = f.doc.get('bundles');
  if (isSeq(seq)) {
    // `bundles: []` becomes a block list when entries are added; a non-empty flow list keeps its author's style.
    if (create && seq.items.length === 0) seq.flow = false;
    return seq;
  }
  if (!create) return undefined;
  const fresh = f.doc.createNode([]);
  f.doc.set('bundles', fresh);
  return fresh;
}

function entryNode(f: EnvFile, name: string): { seq: YAMLSeq; index: number; map: YAMLMap } | undefined {
  const seq = bundleSeq(f, false);
  if (!seq) return undefined;
  const index = seq.items.findIndex((item) => isMap(item) && item.get('name') === name);
  return index === -1 ? undefined : { seq, index, map: seq.items[index] as YAMLMap };
}

/** Sets a scalar in place, keeping its quoting style; other nodes are replaced. */
function setValue(f: EnvFile, map: YAMLMap, key: string, value: JsonValue): void {
  const node = map.get(key, true);
  if (isScalar(node) && (value === null || typeof value !== 'object')) {
    node.value = value;
    return;
  }
  map.set(key, f.doc.createNode(value));
}

function quoted(value: string): Scalar {
  const s = new Scalar(value);
  s.type = Scalar.QUOTE_DOUBLE;
  return s;
}

/** Adds the bundle's entry, or updates its version and the given vars (other vars and comments are kept). */
export function setBundleEntry(f: EnvFile, name: string, version: string, vars: JsonObject): void {
  const found = entryNode(f, name);
  if (!found) {
    const entry = f.doc.createNode({ name }) as YAMLMap;
    entry.set('version', quoted(version));
    if (Object.keys(vars).length > 0) entry.set('vars', f.doc.createNode(vars));
    (bundleSeq(f, true) as YAMLSeq).add(entry);
    return;
  }
  const { map } = found;
  if (isScalar(map.get('version', true))) setValue(f, map, 'version', version);
  else map.set('version', quoted(version));
  if (Object.keys(vars).length === 0) return;
  const current: unknown = map.get('vars', true);
  let varsNode: YAMLMap;
  if (isMap(current)) varsNode = current;
  else {
    varsNode = f.doc.createNode({}) as YAMLMap;
    map.set('vars', varsNode);
  }
  for (const [k, v] of Object.entries(vars)) setValue(f, varsNode, k, v);
}

/** Updates the `version` of an existing entry (only when the entry names one). */
export function setBundleVersion(f: EnvFile, name: string, version: string): boolean {
  const found = entryNode(f, name);
  if (!found || found.map.get('version') === undefined || found.map.get('version') === version) return false;
  setValue(f, found.map, 'version', version);
  return true;
}

/** Removes the bundle's entries; false when the environment does not list it. */
export function removeBundleEntry(f: EnvFile, name: string): boolean {
  let removed = false;
  // Every entry of that name: a duplicate left behind would still list the bundle whose folder remove deletes.
  for (let found = entryNode(f, name); found; found = entryNode(f, name)) {
    found.seq.delete(found.index);
    removed = true;
  }
  return removed;
}

/** The file's new text; checked against the environment schema so a bug here can never write a broken file. */
export function envFileText(f: EnvFile): string {
  const text = keepFileStyle(f.doc.toString(), f.original);
  const value = parseDocument(text).toJS() as unknown;
  const validateEnvironment = compileSchema(environmentSchema);
  if (!validateEnvironment(value)) {
    throw new StationError('STN_E_INTERNAL', `edited ${f.file} would be invalid: ${formatSchemaErrors(validateEnvironment.errors)}`);
  }
  return text;
}

/**
 * yaml writes LF and drops a byte order mark: a file written on Windows keeps its CRLF line ends and its BOM, so the
 * edit shows in `git diff` as the lines it changed, not as every line of the file.
 */
function keepFileStyle(text: string, original: string | null): string {
  if (original === null) return text;
  let out = text;
  if (original.includes('\r\n')) out = out.replace(/\r?\n/g, '\r\n');
  if (original.startsWith('\uFEFF') && !out.startsWith('\uFEFF')) out = `\uFEFF${out}`;
  return out;
}

/** Whether the edit changed the file. */
export function envFileChanged(f: EnvFile): boolean {
  return envFileText(f) !== f.original;
}

export function writeEnvFile(f: EnvFile): void {
  writeFileAtomic(f.file, envFileText(f));
}

/** Puts a file back as it was before a failed multi-file change. */
export function restoreEnvFile(f: EnvFile): void {
  if (f.original === null) fs.rmSync(f.file, { force: true });
  else writeFileAtomic(f.file, f.original);
}
