/**
 * Run variables pinned at sync: each environment's variables are resolved from what sync read (environment.yaml
 * `vars`, each listed bundle's entry `vars` and template.json defaults) and stored as an environment revision with
 * the commit they came from. Runs read them from the database, never from the working tree.
 */
import fs from 'node:fs';
import path from 'node:path';
import { looksLikeCredential } from '../config/credentials.js';
import { MASK } from '../engine/masking.js';
import { MANIFEST_FILE, parseManifest, SECRET_NAME, type Manifest } from '../bundles/manifest.js';
import { runVariables, setOwn, variableProblems, type RunVariables } from '../bundles/variables.js';
import { canonicalJson, sha256 } from '../definitions/hash.js';
import type { Diagnostic, JsonObject, JsonValue } from '../definitions/types.js';
import { environmentRevisions, type EnvironmentRevision, type EnvironmentRevisionStore, type VariableScope } from '../store/environment-revisions.js';
import type { Db } from '../store/db.js';
import type { DiscoveredEnvironment } from './discover.js';
import { gitBlobSha } from './git.js';

/** The scope of an environment's own workflows; a bundle's workflows use the bundle's name. */
export const OWN_SCOPE = '';

/** An environment's variables as sync resolved them, before they are compared with the stored revision. */
export interface ResolvedEnvironmentVariables {
  scopes: Record<string, RunVariables>;
  /** Warnings about the values (a required variable unset, a wrong type, a secret variable holding a non-name). */
  warnings: Array<{ path: string; id: null; warnings: Diagnostic[] }>;
  /** The files the values came from (repository-relative), with their bytes, for the dirty flag. */
  files: Array<{ path: string; bytes: Buffer }>;
}

/** One variable whose value differs from the current revision's. */
export interface VariableChange {
  /** null: the environment's own workflows; else the bundle whose workflows see it. */
  scope: string | null;
  name: string;
  change: 'added' | 'changed' | 'removed';
  from?: JsonValue;
  to?: JsonValue;
}

/** What a sync did (or, dry-run, would do) to an environment's variables. */
export interface VariablesReport {
  /** The revision runs start with after this sync (dry-run: would start with); null only for an environment never synced. */
  revision: number | null;
  /** A new revision was (or would be) recorded. */
  changed: boolean;
  changes: VariableChange[];
}

const rel = (repo: string, abs: string) => path.relative(repo, abs).split(path.sep).join('/');

/** Resolves every scope of a discovered (valid) environment. */
export function resolveEnvironmentVariables(repo: string, env: DiscoveredEnvironment): ResolvedEnvironmentVariables {
  const out: ResolvedEnvironmentVariables = { scopes: { [OWN_SCOPE]: runVariables(env.vars) }, warnings: [], files: [] };
  const envFile = env.file === undefined ? `environments/${env.name}/environment.yaml` : rel(repo, env.file.abs);
  if (env.file) out.files.push({ path: envFile, bytes: env.file.bytes });
  const withheld: Array<[string, JsonValue]> = [];
  const warn = (file: string, message: string) =>
    out.warnings.push({ path: file, id: null, warnings: [{ severity: 'warning', code: 'STN_W_VARIABLE', message, line: 1, col: 1 }] });
  for (const entry of env.bundles) {
    const file = path.join(repo, 'bundles', entry.name, MANIFEST_FILE);
    let manifest: Manifest | undefined;
    try {
      const bytes = fs.readFileSync(file);
      out.files.push({ path: rel(repo, file), bytes });
      manifest = parseManifest(bytes, rel(repo, file));
    } catch (err) {
      // As before variables were pinned: the bundle's workflows run without its defaults; now it is said.
      warn(rel(repo, file), `${(err as Error).message}: the defaults of bundle ${entry.name}'s variables are not applied`);
    }
    const entryVars = entry.vars ?? {};
    const resolved = runVariables(env.vars, { manifest, entryVars });
    if (manifest) {
      for (const p of variableProblems(manifest, entryVars, env.vars, env.name)) warn(envFile, `bundle ${entry.name}: ${p}`);
      withheld.push(...pastedSecrets(manifest, resolved));
    }
    out.scopes[entry.name] = resolved;
  }
  // From every scope: the environment var that a bundle's secret variable took its value from is the same secret.
  for (const [name, value] of withheld) {
    for (const scope of Object.values(out.scopes)) {
      if (Object.hasOwn(scope.vars, name) && canonicalJson(scope.vars[name]) === canonicalJson(value)) {
        delete scope.vars[name];
        delete scope.sources[name];
      }
    }
  }
  return out;
}

/**
 * A secret variable holds a secret's NAME: a value that is not a name may be the secret itself, pasted. Such values
 * are never stored (the run sees no such variable) nor shown; the warning from variableProblems says why.
 */
function pastedSecrets(manifest: Manifest, scope: RunVariables): Array<[string, JsonValue]> {
  const out: Array<[string, JsonValue]> = [];
  for (const [name, spec] of Object.entries(manifest.variables ?? {})) {
    const value = Object.hasOwn(scope.vars, name) ? scope.vars[name] : undefined;
    if (spec.secret && value !== undefined && !(typeof value === 'string' && SECRET_NAME.test(value))) out.push([name, value]);
  }
  return out;
}

function contentHash(scopes: Record<string, RunVariables>): string {
  return sha256(canonicalJson(Object.fromEntries(Object.entries(scopes).map(([k, s]) => [k, s.vars]))));
}

/**
 * A value as reports show it: a string whose variable's name looks like a credential (`*TOKEN*`, `*PASSWORD*`, ...;
 * the masking rule of the daemon's environment, docs/security.md) is shown as *** (and so is a change of it).
 */
function shown(name: string, value: JsonValue | undefined): JsonValue | undefined {
  return typeof value === 'string' && looksLikeCredential(name, value) ? MASK : value;
}

/** An object of variables as reports show it (see shown). */
function shownAll(vars: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(vars)) setOwn(out, k, shown(k, v));
  return out;
}

/**
 * The differences between two sets of scopes, by scope then name. An environment var's change shows once, in the
 * environment's own scope: a bundle scope lists only the changes that differ from it (its defaults, its entry vars).
 */
export function variableChanges(before: Record<string, VariableScope>, after: Record<string, VariableScope>): VariableChange[] {
  const changes: VariableChange[] = [];
  const own = new Set<string>();
  const key = (c: VariableChange) => canonicalJson([c.name, c.change, c.from ?? null, c.to ?? null]);
  for (const scope of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    const a = (before[scope]?.vars ?? {}) as JsonObject;
    const b = (after[scope]?.vars ?? {}) as JsonObject;
    for (const name of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const from = Object.hasOwn(a, name) ? a[name] : undefined;
      const to = Object.hasOwn(b, name) ? b[name] : undefined;
      const base = { scope: scope === OWN_SCOPE ? null : scope, name };
      let c: VariableChange | undefined;
      if (from === undefined && to !== undefined) c = { ...base, change: 'added', to: shown(name, to) };
      else if (to === undefined && from !== undefined) c = { ...base, change: 'removed', from: shown(name, from) };
      else if (canonicalJson(from) !== canonicalJson(to)) c = { ...base, change: 'changed', from: shown(name, from), to: shown(name, to) } as VariableChange;
      if (!c) continue;
      if (scope === OWN_SCOPE) own.add(key(c));
      else if (own.has(key(c))) continue;
      changes.push(c);
    }
  }
  return changes;
}

/** Compares resolved variables with the stored revision and records a new revision when they differ. */
export class VariablePinning {
  private readonly revisions: EnvironmentRevisionStore;

  constructor(db: Db) {
    this.revisions = environmentRevisions(db);
  }

  /** What recording would do; `files` are the paths whose git blobs the dirty flag needs (none when unchanged). */
  plan(environment: string, resolved: ResolvedEnvironmentVariables): { report: VariablesReport; files: string[] } {
    const current = this.revisions.latest(environment);
    const changed = current?.contentHash !== contentHash(resolved.scopes);
    const changes = changed ? variableChanges(current?.scopes ?? {}, resolved.scopes) : [];
    const revision = changed ? (current?.revision ?? 0) + 1 : (current?.revision ?? null);
    return { report: { revision, changed, changes }, files: changed ? resolved.files.map((f) => f.path) : [] };
  }

  /** Inside the sync's write transaction: a new revision when a value changed. */
  record(
    environment: string,
    resolved: ResolvedEnvironmentVariables,
    o: { commit: string | null; blobs: Map<string, string> | null; gitKnown: boolean; syncRunId: number | null; nowIso: string },
  ): VariablesReport {
    const { report: planned } = this.plan(environment, resolved);
    if (!planned.changed) return planned;
    const revision = planned.revision as number;
    const dirty = o.gitKnown && o.blobs !== null ? resolved.files.some((f) => o.blobs?.get(f.path) !== gitBlobSha(f.bytes)) : null;
    const row: EnvironmentRevision = {
      environment,
      revision,
      scopes: resolved.scopes,
      contentHash: contentHash(resolved.scopes),
      gitCommit: o.commit,
      gitDirty: dirty,
      syncRunId: o.syncRunId,
      createdAt: o.nowIso,
    };
    this.revisions.insert(row);
    return { revision, changed: true, changes: planned.changes };
  }
}

/** The variables runs of one scope start with now, and the revision they belong to. */
export interface PinnedVariables {
  revision: number;
  gitCommit: string | null;
  gitDirty: boolean | null;
  createdAt: string;
  vars: JsonObject;
  sources: Record<string, string>;
}

/**
 * What a run of a workflow of `bundle` (null: the environment's own) would start with now, as shown (see shown);
 * undefined before any sync.
 */
export function pinnedVariables(db: Db, environment: string, bundle: string | null): PinnedVariables | undefined {
  const r = environmentRevisions(db).latest(environment);
  if (!r) return undefined;
  const scope = (bundle !== null && Object.hasOwn(r.scopes, bundle) ? r.scopes[bundle] : r.scopes[OWN_SCOPE]) ?? { vars: {}, sources: {} };
  return { revision: r.revision, gitCommit: r.gitCommit, gitDirty: r.gitDirty, createdAt: r.createdAt, vars: shownAll(scope.vars as JsonObject), sources: scope.sources };
}
