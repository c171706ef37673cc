import fs from 'node:fs';
import path from 'node:path';
import environmentSchema from '../../schemas/environment.schema.json' with { type: 'json' };
import { compileSchema, formatSchemaErrors } from '../json-schema.js';
import { schemaIssues } from '../definitions/schema-check.js';
import { parseSource } from '../definitions/source.js';
import type { Diagnostic, JsonObject } from '../definitions/types.js';
import { DEFINITION_FILE } from '../definitions/validate.js';

/** A definition file found in the checkout, with the environment (and bundle) it belongs to. */
export interface DiscoveredFile {
  /** Path relative to the repository, with forward slashes. */
  path: string;
  abs: string;
  bundle: string | undefined;
}

export interface BundleEntry {
  name: string;
  version?: string;
  vars?: JsonObject;
}

export interface DiscoveredEnvironment {
  name: string;
  /** environment.yaml (or .yml) as read, when the environment has one. */
  file?: { abs: string; bytes: Buffer };
  vars: JsonObject;
  bundles: BundleEntry[];
  files: DiscoveredFile[];
  /** Problems with environment.yaml or its bundle list; an environment with errors is not synced. */
  errors: Array<{ path: string; diagnostic: Diagnostic }>;
}

const ENV_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function environmentsRoot(repo: string): string {
  return path.join(repo, 'environments');
}

/** Names of the environments in the checkout (folders under environments/). */
export function listEnvironmentNames(repo: string): string[] {
  return listFolders(environmentsRoot(repo));
}

/** The sorted names of the folders in `dir`, hidden ones excluded; none when `dir` does not exist. */
export function listFolders(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort();
}

/** The environment's environment.yaml (or .yml) file, if it has one. */
export function findEnvironmentFile(envDir: string): string | undefined {
  return ['environment.yaml', 'environment.yml'].map((f) => path.join(envDir, f)).find((f) => fs.existsSync(f));
}

export function isValidEnvironmentName(name: string): boolean {
  return ENV_NAME.test(name);
}

/** Finds the definition files of one environment: its own workflows/ plus the workflows of the bundles it lists. */
export function discoverEnvironment(repo: string, name: string): DiscoveredEnvironment {
  const envDir = path.join(environmentsRoot(repo), name);
  const env: DiscoveredEnvironment = { name, vars: {}, bundles: [], files: [], errors: [] };
  const rel = (abs: string) => path.relative(repo, abs).split(path.sep).join('/');
  const envErr = (file: string, code: string, message: string, line = 1, col = 1) =>
    env.errors.push({ path: file, diagnostic: { severity: 'error', code, message, line, col } });

  if (!isValidEnvironmentName(name)) {
    envErr(rel(envDir), 'STN_E_ENVIRONMENT_FILE', `environment name "${name}" must match ${ENV_NAME.source}`);
    return env;
  }
  const envFile = findEnvironmentFile(envDir);
  if (envFile) {
    const bytes = fs.readFileSync(envFile);
    env.file = { abs: envFile, bytes };
    const read = parseEnvironmentFile(bytes.toString('utf8'));
    for (const d of read.errors) envErr(rel(envFile), d.code, d.message, d.line, d.col);
    if (read.value) {
      env.vars = read.value.vars ?? {};
      env.bundles = read.value.bundles ?? [];
    }
  }

  env.files.push(...listDefinitionFiles(path.join(envDir, 'workflows')).map((abs) => ({ path: rel(abs), abs, bundle: undefined })));
  for (const b of env.bundles) {
    const bundleDir = path.join(repo, 'bundles', b.name);
    if (!fs.existsSync(path.join(bundleDir, 'template.json'))) {
      envErr(
        envFile ? rel(envFile) : rel(envDir),
        'STN_E_BUNDLE_MISSING',
        `bundle "${b.name}" is listed but bundles/${b.name}/template.json does not exist: install it with stn bundle install, or remove the entry`,
      );
      continue;
    }
    env.files.push(...listDefinitionFiles(path.join(bundleDir, 'workflows')).map((abs) => ({ path: rel(abs), abs, bundle: b.name })));
  }
  env.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return env;
}

/** environment.yaml's content, once it passed parseEnvironmentFile. */
export interface EnvironmentFileValue {
  description?: string;
  vars?: JsonObject;
  bundles?: BundleEntry[];
}

/**
 * THE reader of environment.yaml (sync, bundle commands): YAML with the definition files' limits (duplicate keys,
 * alias bombs, nesting), the environment schema, and no bundle listed twice; every problem with its line and column.
 */
export function parseEnvironmentFile(text: string): {
  /** Set when the file parsed and matches the schema (a bundle listed twice is still an error). */
  value: EnvironmentFileValue | undefined;
  errors: Diagnostic[];
  /** Schema problems in one line (`/bundles: must be array`), for messages that are not per line. */
  schemaSummary?: string;
} {
  const errors: Diagnostic[] = [];
  const err = (code: string, message: string, pos: { line: number; col: number }) =>
    errors.push({ severity: 'error', code, message, line: pos.line, col: pos.col });
  const parsed = parseSource(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  if (!parsed.ok) return { value: undefined, errors: parsed.errors };
  const value = parsed.doc.value ?? {};
  // Compiled on first use (and cached by compileSchema): commands that never validate don't pay for it.
  const validateEnvironmentFile = compileSchema(environmentSchema);
  if (!validateEnvironmentFile(value)) {
    for (const issue of schemaIssues(value, validateEnvironmentFile.errors ?? [], 'environment.yaml')) {
      err('STN_E_ENVIRONMENT_FILE', issue.message, parsed.doc.locate(issue.pointer, issue.at));
    }
    return { value: undefined, errors, schemaSummary: formatSchemaErrors(validateEnvironmentFile.errors) };
  }
  const data = value as EnvironmentFileValue;
  const seen = new Set<string>();
  (data.bundles ?? []).forEach((b, i) => {
    if (seen.has(b.name)) err('STN_E_ENVIRONMENT_FILE', `bundle "${b.name}" is listed twice`, parsed.doc.locate(`/bundles/${i}/name`, 'value'));
    seen.add(b.name);
  });
  return { value: data, errors };
}

/** Every *.workflow.(yaml|yml|json) below a folder, recursively; links are not followed. */
export function listDefinitionFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const abs = path.join(d, e.name);
      if (e.isDirectory()) walk(abs);
      else if (e.isFile() && DEFINITION_FILE.test(e.name)) out.push(abs);
    }
  };
  walk(dir);
  return out;
}
