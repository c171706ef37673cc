import fs from 'node:fs';
import path from 'node:path';
import environmentSchema from '../../schemas/environment.schema.json' with { type: 'json' };
import { compileSchema } from '../json-schema.js';
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
  if (envFile) readEnvironmentFile(envFile, rel(envFile), env, envErr);

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

function readEnvironmentFile(
  file: string,
  display: string,
  env: DiscoveredEnvironment,
  envErr: (file: string, code: string, message: string, line?: number, col?: number) => void,
): void {
  const parsed = parseSource(fs.readFileSync(file, 'utf8'));
  if (!parsed.ok) {
    for (const d of parsed.errors) envErr(display, d.code, d.message, d.line, d.col);
    return;
  }
  const value = parsed.doc.value ?? {};
  // Compiled on first use (and cached by compileSchema): commands that never validate don't pay for it.
  const validateEnvironmentFile = compileSchema(environmentSchema);
  if (!validateEnvironmentFile(value)) {
    for (const issue of schemaIssues(value, validateEnvironmentFile.errors ?? [], 'environment.yaml')) {
      const pos = parsed.doc.locate(issue.pointer, issue.at);
      envErr(display, 'STN_E_ENVIRONMENT_FILE', issue.message, pos.line, pos.col);
    }
    return;
  }
  const data = value as { vars?: JsonObject; bundles?: BundleEntry[] };
  env.vars = data.vars ?? {};
  env.bundles = data.bundles ?? [];
  const seen = new Set<string>();
  env.bundles.forEach((b, i) => {
    if (seen.has(b.name)) {
      const pos = parsed.doc.locate(`/bundles/${i}/name`, 'value');
      envErr(display, 'STN_E_ENVIRONMENT_FILE', `bundle "${b.name}" is listed twice`, pos.line, pos.col);
    }
    seen.add(b.name);
  });
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
