import fs from 'node:fs';
import path from 'node:path';
import { AGENT_FILE, AGENT_NAME, parseAgentFile, validateAgentInput } from '../agents/prompt.js';
import { isTemplated, operationStates } from '../agents/refs.js';
import type { AgentSpec } from '../agents/types.js';
import { canonicalJson, sha256 } from '../definitions/hash.js';
import { decodeSource } from '../definitions/source.js';
import type { Diagnostic, JsonObject, JsonValue, WorkflowSpec } from '../definitions/types.js';
import type { AgentStore, AgentWithHash } from '../store/agents.js';
import type { DiscoveredEnvironment } from './discover.js';
import { gitBlobSha } from './git.js';
import type { AgentsReport } from './report.js';

/** An agent file found in the checkout. */
export interface AgentFile {
  /** Path relative to the repository, with forward slashes. */
  path: string;
  abs: string;
  /** '' for the environment's own agents, else the bundle's name. */
  scope: string;
  name: string;
}

/** An agent file after reading and parsing. */
export interface AgentFileState {
  file: AgentFile;
  valid: boolean;
  spec: AgentSpec | undefined;
  hash: string | null;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  bytes: Buffer;
}

/** How an agent is named in reports: `name`, or `bundle/name` for a bundle's agent. */
export function agentKey(scope: string, name: string): string {
  return scope === '' ? name : `${scope}/${name}`;
}

/** The agent files of an environment: `environments/<env>/agents/*.prompt` and each listed bundle's `agents/*.prompt`. */
export function discoverAgentFiles(repo: string, env: DiscoveredEnvironment): AgentFile[] {
  const rel = (abs: string) => path.relative(repo, abs).split(path.sep).join('/');
  const list = (dir: string, scope: string): AgentFile[] => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return [];
    }
    return entries
      .filter((e) => e.isFile() && !e.name.startsWith('.') && AGENT_FILE.test(e.name))
      .map((e) => {
        const abs = path.join(dir, e.name);
        return { path: rel(abs), abs, scope, name: e.name.replace(AGENT_FILE, '') };
      });
  };
  const files = list(path.join(repo, 'environments', env.name, 'agents'), '');
  for (const b of env.bundles) files.push(...list(path.join(repo, 'bundles', b.name, 'agents'), b.name));
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Reads and parses agent files (each on its own: one bad file never stops the others). */
export async function readAgentFiles(files: AgentFile[]): Promise<AgentFileState[]> {
  return Promise.all(files.map(readAgentFile));
}

async function readAgentFile(file: AgentFile): Promise<AgentFileState> {
  const failed = (bytes: Buffer, errors: Diagnostic[]): AgentFileState => ({ file, valid: false, spec: undefined, hash: null, errors, warnings: [], bytes });
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file.abs);
  } catch (err) {
    return failed(Buffer.alloc(0), [{ severity: 'error', code: 'STN_E_FILE_READ', message: `cannot read file: ${(err as Error).message}`, line: 1, col: 1 }]);
  }
  const decoded = decodeSource(bytes);
  if (!decoded.ok) return failed(bytes, decoded.errors);
  const r = await parseAgentFile(decoded.text, file.path, file.name);
  if (!r.ok) return failed(bytes, r.errors);
  return { file, valid: true, spec: r.spec, hash: sha256(canonicalJson(r.spec)), errors: [], warnings: r.warnings, bytes };
}

export function emptyAgentsReport(): AgentsReport {
  return { added: [], updated: [], disabled: [], reenabled: [], unchanged: [], invalid: [], warnings: [], versions: {} };
}

export interface AgentPlanContext {
  env: string;
  store: AgentStore;
  commit: string | null;
  syncRunId: number | null;
  /** Git blob ids of HEAD by path (null: git could not say); decides the dirty and untracked flags. */
  blobs: Map<string, string> | null;
  gitKnown: boolean;
  nowIso: string;
  /** Vanished agents are left alone (the workflows' deletions are being held). */
  holdDeletions: boolean;
}

/**
 * Compares the agent files with the store, as sync does workflow files: a changed valid file gets a new version, an
 * invalid one keeps its last good version (the error recorded), a new never-valid one is listed invalid, a vanished
 * one is disabled, one that comes back is re-enabled. Returns the report, the writes that carry it out and the
 * paths that get a version.
 */
export function planAgents(ctx: AgentPlanContext, states: AgentFileState[]): { report: AgentsReport; writes: Array<() => void>; versioned: string[] } {
  const { store, env, nowIso } = ctx;
  const report = emptyAgentsReport();
  const writes: Array<() => void> = [];
  const versioned: string[] = [];
  const known = new Map(store.agentsWithHash(env).map((a) => [agentKey(a.scope, a.name), a]));
  const seen = new Set<string>();
  for (const st of states) {
    const key = agentKey(st.file.scope, st.file.name);
    seen.add(key);
    const a = known.get(key);
    if (st.warnings.length > 0) report.warnings.push({ path: st.file.path, id: key, warnings: st.warnings });
    if (!st.valid) {
      const activeVersion = a && a.status !== 'disabled' ? a.active_version : null;
      report.invalid.push({ path: st.file.path, id: key, errors: st.errors, activeVersion });
      const error = JSON.stringify(st.errors);
      writes.push(() => {
        if (a) store.updateAgent({ ...base(a), path: st.file.path, error, error_at: nowIso }, nowIso);
        else store.insertAgent({ ...identity(env, st), status: 'invalid', active_version: null, latest_version: 0, error, error_at: nowIso }, nowIso);
      });
      continue;
    }
    if (a && a.active_hash === st.hash) {
      (a.status === 'disabled' ? report.reenabled : report.unchanged).push(key);
      if (a.status !== 'active' || a.error !== null || a.path !== st.file.path) {
        writes.push(() => store.updateAgent({ ...base(a), status: 'active', path: st.file.path, error: null, error_at: null }, nowIso));
      }
      continue;
    }
    const version = (a?.latest_version ?? 0) + 1;
    report.versions[key] = version;
    if (!a || a.active_version === null) report.added.push(key);
    else if (a.status === 'disabled') report.reenabled.push(key);
    else report.updated.push(key);
    versioned.push(st.file.path);
    writes.push(() => writeVersion(ctx, st, a, version));
  }
  if (!ctx.holdDeletions) {
    for (const [key, a] of known) {
      if (seen.has(key) || a.status === 'disabled') continue;
      report.disabled.push(key);
      writes.push(() => store.updateAgent({ ...base(a), status: 'disabled' }, nowIso));
    }
  }
  for (const list of [report.added, report.updated, report.disabled, report.reenabled, report.unchanged]) list.sort();
  return { report, writes, versioned };
}

function identity(env: string, st: AgentFileState) {
  return { environment: env, scope: st.file.scope, name: st.file.name, path: st.file.path };
}

function base(a: AgentWithHash) {
  return {
    environment: a.environment,
    scope: a.scope,
    name: a.name,
    status: a.status,
    active_version: a.active_version,
    latest_version: a.latest_version,
    path: a.path,
    error: a.error,
    error_at: a.error_at,
  };
}

function writeVersion(ctx: AgentPlanContext, st: AgentFileState, a: AgentWithHash | undefined, version: number): void {
  const { store, env, nowIso } = ctx;
  const row = { ...identity(env, st), status: 'active' as const, active_version: version, latest_version: version, error: null, error_at: null };
  if (a) store.updateAgent(row, nowIso);
  else store.insertAgent(row, nowIso);
  // Dirty: the content differs from the commit's; untracked: the commit has no such file. Unknown without git.
  const gitKnown = ctx.gitKnown && ctx.blobs !== null;
  const committed = ctx.blobs?.get(st.file.path);
  store.insertVersion({
    environment: env,
    scope: st.file.scope,
    name: st.file.name,
    version,
    content_hash: st.hash ?? '',
    spec: JSON.stringify(st.spec),
    raw: st.bytes.toString('utf8'),
    path: st.file.path,
    git_commit: ctx.commit,
    git_dirty: gitKnown ? (committed !== undefined && committed !== gitBlobSha(st.bytes) ? 1 : 0) : null,
    git_untracked: gitKnown ? (committed === undefined ? 1 : 0) : null,
    sync_run_id: ctx.syncRunId,
    created_at: nowIso,
  });
}

/** A workflow as the agent checks see it. */
export interface WorkflowForCheck {
  path: string;
  id: string;
  bundle: string | undefined;
  spec: WorkflowSpec;
  /** The file's text, to place a warning on the line that names the agent. */
  raw: string;
}

/** The agents a check can find: by scope ('' or a bundle), the specs of those that can run. */
export type AgentLookup = (env: string, scope: string, name: string) => AgentSpec | undefined | 'invalid';

/**
 * Warnings for the agent.run steps of workflows (never errors: an agent may be added after the workflow): a literal
 * `input.agent` that names no agent of the environment (or the workflow's bundle), and literal `input.variables` that
 * fail the agent's input schema.
 */
export function checkAgentSteps(env: string, workflows: WorkflowForCheck[], lookup: AgentLookup): Map<string, Diagnostic[]> {
  const out = new Map<string, Diagnostic[]>();
  for (const wf of workflows) {
    const found: Diagnostic[] = [];
    for (const s of operationStates(wf.spec.states)) {
      if (s.action !== 'agent.run' || !isObj(s.input)) continue;
      const ref = s.input.agent;
      if (typeof ref !== 'string' || isTemplated(ref)) continue;
      const at = ref.lastIndexOf('@');
      const name = at > 0 ? ref.slice(0, at) : ref;
      const targetEnv = at > 0 ? ref.slice(at + 1) : env;
      if (!AGENT_NAME.test(name)) continue;
      const pos = position(wf.raw, name);
      const scopes = wf.bundle && targetEnv === env ? [wf.bundle, ''] : [''];
      let spec: AgentSpec | undefined | 'invalid';
      for (const scope of scopes) if ((spec = lookup(targetEnv, scope, name)) !== undefined) break;
      if (spec === undefined) {
        const where = wf.bundle && targetEnv === env ? `environment "${env}" or bundle "${wf.bundle}"` : `environment "${targetEnv}"`;
        const file = wf.bundle && targetEnv === env ? `bundles/${wf.bundle}/agents/${name}.prompt or environments/${env}/agents/${name}.prompt` : `environments/${targetEnv}/agents/${name}.prompt`;
        found.push({ severity: 'warning', code: 'STN_W_AGENT_UNKNOWN', message: `state "${s.name}": no agent "${name}" in ${where}: add ${file}`, ...pos });
        continue;
      }
      const vars = s.input.variables;
      if (spec === 'invalid' || (vars !== undefined && (!isObj(vars) || templatedDeep(vars)))) continue;
      const problems = validateAgentInput(spec, vars ?? {});
      if (problems.length > 0) {
        const message = `state "${s.name}": variables do not match the input schema of agent "${name}": ${problems.join('; ')}`;
        found.push({ severity: 'warning', code: 'STN_W_AGENT_INPUT', message, ...pos });
      }
    }
    if (found.length > 0) out.set(wf.path, found);
  }
  return out;
}

const isObj = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

function templatedDeep(v: JsonValue): boolean {
  if (typeof v === 'string') return isTemplated(v);
  if (Array.isArray(v)) return v.some(templatedDeep);
  if (isObj(v)) return Object.entries(v).some(([k, x]) => isTemplated(k) || templatedDeep(x));
  return false;
}

/** The line that names the agent (`agent: <name>`), else the first mention of the name; 1:1 when neither is found. */
function position(raw: string, name: string): { line: number; col: number } {
  const lines = raw.split(/\r\n|\r|\n/);
  const quoted = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const patterns = [new RegExp(`["']?agent["']?\\s*:\\s*["']?${quoted}(?:@[^"'\\s,}]*)?["']?\\s*(?:[,}#]|$)`), new RegExp(quoted)];
  for (const re of patterns) {
    for (let i = 0; i < lines.length; i++) {
      const m = re.exec(lines[i] ?? '');
      if (m) return { line: i + 1, col: m.index + 1 };
    }
  }
  return { line: 1, col: 1 };
}
