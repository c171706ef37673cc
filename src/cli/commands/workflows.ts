import { stringify } from 'yaml';
import type { StationClient } from '../../client/types.js';
import { NotFoundError, UsageError } from '../../errors.js';
import { unifiedDiff } from '../diff.js';
import { print, printJson, shortSha, table } from '../output.js';
import { pinnedVariableLines } from '../variables-view.js';

const STATUSES = ['active', 'disabled', 'invalid'];

/** `stn workflows list [--env] [--status]` */
export async function listCommand(client: StationClient, opts: { env?: string; status?: string; json: boolean }): Promise<number> {
  if (opts.status !== undefined && !STATUSES.includes(opts.status)) {
    throw new UsageError(`--status must be active, disabled or invalid, got "${opts.status}"`);
  }
  const rows = await client.listWorkflows({ env: opts.env, status: opts.status });
  if (opts.json) {
    printJson(rows);
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
        r.id,
        r.error && r.status === 'active' ? 'active (file invalid)' : r.status,
        r.version === null ? '-' : `v${r.version}`,
        r.label ?? '-',
        shortSha(r.commit),
        r.path,
      ]),
    ),
  );
  for (const r of rows) if (r.error) print(`\n${r.environment}/${r.id}: ${r.error}`);
  return 0;
}

function parseVersion(v: string, what: string): number {
  const n = Number(v.replace(/^v/, ''));
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${what} must be a version number like 3 or v3, got "${v}"`);
  return n;
}

/** `stn workflows show <id> [--env] [--version N] [--normalized]` */
export async function showCommand(
  client: StationClient,
  id: string,
  opts: { env?: string; version?: string; normalized?: boolean; json: boolean },
): Promise<number> {
  const version = opts.version !== undefined ? parseVersion(opts.version, '--version') : undefined;
  const d = await client.showWorkflow(id, { env: opts.env, version });
  if (opts.normalized) {
    // The stored version's definition: what runs, after older spellings were rewritten (compat: station says so).
    if (!d.version) throw new NotFoundError(`workflow "${id}" in "${d.environment}" has no valid version to show`);
    if (opts.json) printJson(d.version.spec);
    else print(stringify(readingOrder(d.version.spec), { lineWidth: 0 }).trimEnd());
    return 0;
  }
  if (opts.json) {
    printJson(d);
    return 0;
  }
  print(`${d.environment}/${id}  ${d.status}${d.activeVersion ? `  active v${d.activeVersion}` : ''}  (latest v${d.latestVersion})`);
  print(`path: ${d.path}${d.bundle ? `  (bundle ${d.bundle})` : ''}`);
  for (const e of d.errors) print(`error: ${d.path}:${e.line}:${e.col}: ${e.code}: ${e.message}`);
  const v = d.version;
  if (v) {
    const git = v.untracked ? ' (untracked)' : v.dirty ? ' (uncommitted changes)' : '';
    print(`version ${v.version}: label "${v.label}", commit ${shortSha(v.commit)}${git}, synced ${v.createdAt}`);
    print(`name: ${v.name}`);
    for (const line of pinnedVariableLines(d.variables)) print(line);
    print('');
    print(v.raw.trimEnd());
  }
  return 0;
}

/** `stn workflows versions <id> [--env]` */
export async function versionsCommand(client: StationClient, id: string, opts: { env?: string; json: boolean }): Promise<number> {
  const d = await client.showWorkflow(id, { env: opts.env });
  const { versions } = await client.workflowVersions(id, d.environment);
  if (opts.json) {
    printJson(versions);
    return 0;
  }
  print(
    table(
      ['VERSION', 'LABEL', 'COMMIT', 'GIT', 'HASH', 'SYNCED', ''],
      versions.map((v) => [
        `v${v.version}`,
        v.label,
        shortSha(v.commit),
        v.untracked ? 'untracked' : v.dirty ? 'dirty' : v.commit ? 'clean' : '-',
        v.contentHash.slice(0, 12),
        v.createdAt,
        v.active ? (d.status === 'active' ? 'active' : d.status) : '',
      ]),
    ),
  );
  return 0;
}

/** `stn workflows diff <id> <a> <b> [--env]`: the normalized definitions compared, so formatting noise never shows. */
export async function diffCommand(client: StationClient, id: string, a: string, b: string, opts: { env?: string; json: boolean }): Promise<number> {
  const load = async (v: string) => {
    const { environment, version } = await client.workflowVersion(id, opts.env, parseVersion(v, 'version'));
    return { environment, n: version.version, text: stringify(readingOrder(version.spec), { lineWidth: 0 }) };
  };
  const va = await load(a);
  const vb = await load(b);
  const diff = unifiedDiff(va.text, vb.text, `${id} v${va.n}`, `${id} v${vb.n}`);
  if (opts.json) printJson({ environment: va.environment, id, from: va.n, to: vb.n, identical: diff === '', diff });
  else print(diff === '' ? `v${va.n} and v${vb.n} are identical` : diff.trimEnd());
  return 0;
}

/** Keys in the order authors write them (stored specs have sorted keys, which read oddly in a diff). */
const KEY_ORDER = [
  'id', 'version', 'name', 'type', 'description', 'compat', 'inputSchema', 'timeoutSeconds', 'triggers', 'start', 'action',
  'if', 'expression', 'input', 'data', 'dataPath', 'conditions', 'defaultNext', 'branches', 'itemsPath', 'itemName',
  'maxConcurrency', 'iterator', 'states', 'outputAggregation', 'retry', 'resultPath', 'output', 'onError', 'compensation',
  'next', 'end', 'outputSchema',
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
