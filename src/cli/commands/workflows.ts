import { stringify } from 'yaml';
import type { Station } from '../../context.js';
import type { Diagnostic } from '../../definitions/types.js';
import { NotFoundError, UsageError } from '../../errors.js';
import type { DefinitionRow } from '../../store/definitions.js';
import { definitionSummary, firstError } from '../../server/views.js';
import { unifiedDiff } from '../diff.js';
import { pinnedVariables } from '../../sync/variables.js';
import { print, printJson, shortSha, table } from '../output.js';
import { pinnedVariableLines, pinnedVariablesJson } from '../variables-view.js';

export function listCommand(station: Station, opts: { env?: string; status?: string; json: boolean }): number {
  if (opts.status !== undefined && !['active', 'disabled', 'invalid'].includes(opts.status)) {
    throw new UsageError(`--status must be active, disabled or invalid, got "${opts.status}"`);
  }
  const rows = station.definitions.listDefinitions({ environment: opts.env, status: opts.status });
  if (opts.json) {
    printJson(
      rows.map(definitionSummary),
    );
    return 0;
  }
  if (rows.length === 0) {
    const filtered = opts.env !== undefined || opts.status !== undefined;
    print(filtered ? 'no workflow definitions match' : 'no workflow definitions (run "stn sync" first)');
    return 0;
  }
  print(
    table(
      ['ENV', 'ID', 'STATUS', 'VERSION', 'LABEL', 'COMMIT', 'PATH'],
      rows.map((r) => [
        r.environment,
        r.workflow_id,
        r.error && r.status === 'active' ? 'active (file invalid)' : r.status,
        r.active_version === null ? '-' : `v${r.active_version}`,
        r.label ?? '-',
        shortSha(r.git_commit),
        r.path,
      ]),
    ),
  );
  for (const r of rows) {
    const err = firstError(r);
    if (err) print(`\n${r.environment}/${r.workflow_id}: ${err}`);
  }
  return 0;
}

/** Finds the definition, asking for --env when the id exists in several environments. */
function findDefinition(station: Station, id: string, env: string | undefined): DefinitionRow {
  if (env !== undefined) {
    const d = station.definitions.definition(env, id);
    if (!d) throw new NotFoundError(`no workflow "${id}" in environment "${env}"`);
    return d;
  }
  const all = station.definitions.definitionsById(id);
  if (all.length === 0) throw new NotFoundError(`no workflow "${id}" in any environment`);
  if (all.length > 1) {
    throw new UsageError(`workflow "${id}" exists in ${all.map((d) => d.environment).join(', ')}: pass --env`);
  }
  return all[0] as DefinitionRow;
}

function parseVersion(v: string, what: string): number {
  const n = Number(v.replace(/^v/, ''));
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${what} must be a version number like 3 or v3, got "${v}"`);
  return n;
}

/** `stn workflows show <id> [--env] [--version N]` */
export function showCommand(station: Station, id: string, opts: { env?: string; version?: string; json: boolean }): number {
  const d = findDefinition(station, id, opts.env);
  const n = opts.version !== undefined ? parseVersion(opts.version, '--version') : d.active_version;
  const v = n === null ? undefined : station.definitions.version(d.environment, id, n);
  if (n !== null && !v) throw new NotFoundError(`workflow "${id}" in "${d.environment}" has no version ${n}`);
  const errors = d.error ? (JSON.parse(d.error) as Diagnostic[]) : [];
  const pinned = pinnedVariables(station.definitions.db, d.environment, d.bundle);
  if (opts.json) {
    printJson({
      environment: d.environment,
      id,
      status: d.status,
      activeVersion: d.active_version,
      latestVersion: d.latest_version,
      path: d.path,
      bundle: d.bundle,
      errors: errors.map((e) => ({ line: e.line, col: e.col, code: e.code, message: e.message })),
      version: v
        ? {
            version: v.version,
            label: v.label,
            name: v.name,
            commit: v.git_commit,
            dirty: v.git_dirty === null ? null : v.git_dirty === 1,
            untracked: v.git_untracked === null ? null : v.git_untracked === 1,
            contentHash: v.content_hash,
            path: v.path,
            createdAt: v.created_at,
            spec: JSON.parse(v.spec) as unknown,
          }
        : null,
      variables: pinnedVariablesJson(pinned),
    });
    return 0;
  }
  print(`${d.environment}/${id}  ${d.status}${d.active_version ? `  active v${d.active_version}` : ''}  (latest v${d.latest_version})`);
  print(`path: ${d.path}${d.bundle ? `  (bundle ${d.bundle})` : ''}`);
  for (const e of errors) print(`error: ${d.path}:${e.line}:${e.col}: ${e.code}: ${e.message}`);
  if (v) {
    const git = v.git_untracked ? ' (untracked)' : v.git_dirty ? ' (uncommitted changes)' : '';
    print(`version ${v.version}: label "${v.label}", commit ${shortSha(v.git_commit)}${git}, synced ${v.created_at}`);
    print(`name: ${v.name}`);
    for (const line of pinnedVariableLines(pinned)) print(line);
    print('');
    print(v.raw.trimEnd());
  }
  return 0;
}

/** `stn workflows versions <id> [--env]` */
export function versionsCommand(station: Station, id: string, opts: { env?: string; json: boolean }): number {
  const d = findDefinition(station, id, opts.env);
  const versions = station.definitions.versions(d.environment, id);
  if (opts.json) {
    printJson(
      versions.map((v) => ({
        version: v.version,
        label: v.label,
        active: v.version === d.active_version,
        commit: v.git_commit,
        dirty: v.git_dirty === null ? null : v.git_dirty === 1,
        untracked: v.git_untracked === null ? null : v.git_untracked === 1,
        contentHash: v.content_hash,
        path: v.path,
        createdAt: v.created_at,
      })),
    );
    return 0;
  }
  print(
    table(
      ['VERSION', 'LABEL', 'COMMIT', 'GIT', 'HASH', 'SYNCED', ''],
      versions.map((v) => [
        `v${v.version}`,
        v.label,
        shortSha(v.git_commit),
        v.git_untracked ? 'untracked' : v.git_dirty ? 'dirty' : v.git_commit ? 'clean' : '-',
        v.content_hash.slice(0, 12),
        v.created_at,
        v.version === d.active_version ? (d.status === 'active' ? 'active' : d.status) : '',
      ]),
    ),
  );
  return 0;
}

/** `stn workflows diff <id> <a> <b> [--env]`: the normalized definitions compared, so formatting noise never shows. */
export function diffCommand(station: Station, id: string, a: string, b: string, opts: { env?: string; json: boolean }): number {
  const d = findDefinition(station, id, opts.env);
  const load = (v: string) => {
    const n = parseVersion(v, 'version');
    const row = station.definitions.version(d.environment, id, n);
    if (!row) throw new NotFoundError(`workflow "${id}" in "${d.environment}" has no version ${n}`);
    return { n, text: stringify(readingOrder(JSON.parse(row.spec)), { lineWidth: 0 }) };
  };
  const va = load(a);
  const vb = load(b);
  const diff = unifiedDiff(va.text, vb.text, `${id} v${va.n}`, `${id} v${vb.n}`);
  if (opts.json) printJson({ environment: d.environment, id, from: va.n, to: vb.n, identical: diff === '', diff });
  else print(diff === '' ? `v${va.n} and v${vb.n} are identical` : diff.trimEnd());
  return 0;
}

/** Keys in the order authors write them (stored specs have sorted keys, which read oddly in a diff). */
const KEY_ORDER = [
  'id', 'version', 'name', 'type', 'description', 'inputSchema', 'timeoutSeconds', 'triggers', 'start', 'action', 'if',
  'input', 'data', 'dataPath', 'conditions', 'defaultNext', 'branches', 'itemsPath', 'itemName', 'maxConcurrency',
  'iterator', 'states', 'retry', 'resultPath', 'onError', 'compensation', 'next', 'end', 'output',
];
const rank = (k: string) => {
  const i = KEY_ORDER.indexOf(k);
  return i < 0 ? KEY_ORDER.length : i;
};

function readingOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(readingOrder);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value).sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([k, v]) => [k, readingOrder(v)]));
}
