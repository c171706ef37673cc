import { UsageError } from '../errors.js';
import type { RunEvent } from '../engine/events.js';
import type { EventRow } from '../store/runs.js';
import { encodeCursor, type Page } from '../server/pagination.js';
import type { definitionDetail, definitionSummary } from '../server/views.js';
import type { RunCommandOptions } from './commands/run.js';
import type { syncJson } from './commands/sync.js';
import { parseJsonArg, parsePositiveInt } from './json-arg.js';
import { print, printJson, shortSha, table } from './output.js';
import type { eventJson, runDetailJson, runSummaryJson } from './run-view.js';
import { errorText, eventLine, formatDuration, oneLine, progressLine, runExitCode, TERMINAL_EVENTS, truncate } from './run-view.js';
import type { RemoteClient } from './remote.js';

/**
 * The CLI commands that also work against a running daemon (`--server URL` / STN_SERVER): they call the HTTP API and
 * print what the local commands print (the JSON shapes are the same: the API uses the CLI's views).
 */

// The API answers with the views the local commands print, so the types are theirs.
type RunSummary = ReturnType<typeof runSummaryJson>;
type RunDetail = ReturnType<typeof runDetailJson>;
type EventJson = ReturnType<typeof eventJson>;
type DefinitionSummary = ReturnType<typeof definitionSummary>;
type DefinitionDetail = ReturnType<typeof definitionDetail>;

const OUTPUT_LIMIT = 2000;
const VALUE_LIMIT = 200;

const toRow = (e: EventJson): EventRow => ({ run_id: e.runId, seq: e.seq, type: e.type, step_id: e.stepId, data: JSON.stringify(e.data), created_at: e.at });

/** Every page of a list, following nextCursor. */
async function all<T>(client: RemoteClient, path: string, query: Record<string, string | number | undefined>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const { body } = await client.request<Page<T>>('GET', path, { query: { ...query, limit: 500, cursor } });
    items.push(...body.items);
    cursor = body.nextCursor ?? undefined;
  } while (cursor);
  return items;
}

// ------------------------------------------------------------------------------------------------------------- runs

/** `stn run` against the daemon: it executes the run; the CLI follows its stream and prints the same progress lines. */
export async function remoteRun(client: RemoteClient, workflowId: string, opts: RunCommandOptions): Promise<number> {
  const input = parseJsonArg('--input', opts.input);
  const version = parsePositiveInt('--version', opts.version, true);
  const { status, body: run } = await client.request<RunDetail>('POST', '/api/v1/workflow-runs', {
    body: { workflowId, environment: opts.env, input, version, idempotencyKey: opts.idempotencyKey },
  });
  const created = status === 201;
  if (opts.detach) {
    if (opts.json) printJson({ id: run.id, created, status: run.status });
    else print(run.id);
    if (!opts.json && !created) process.stderr.write(`stn: existing run for idempotency key "${opts.idempotencyKey ?? ''}" (${run.status})\n`);
    return 0;
  }
  if (!opts.json) {
    print(created
      ? `run ${run.id}: ${run.environment}/${run.workflowId} v${run.version} (on ${client.target.url})`
      : `run ${run.id} already exists for idempotency key "${opts.idempotencyKey ?? ''}" (${run.status})`);
  }
  const interrupted = new AbortController();
  const onSigint = () => interrupted.abort();
  process.once('SIGINT', onSigint);
  try {
    await client.stream(`/api/v1/workflow-runs/${encodeURIComponent(run.id)}/stream`, {}, (data) => {
      if (opts.json) return;
      const line = progressLine(data as RunEvent, undefined);
      if (line !== undefined) print(line);
    }, interrupted.signal);
  } catch (err) {
    if (!interrupted.signal.aborted) throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (interrupted.signal.aborted) {
    if (opts.json) printJson({ id: run.id, interrupted: true });
    else print(`interrupted: run ${run.id} continues on the server; follow it with: stn runs events --follow ${run.id}`);
    return 130;
  }
  const { body: done } = await client.request<RunDetail>('GET', `/api/v1/workflow-runs/${encodeURIComponent(run.id)}`);
  if (opts.json) {
    printJson(done);
    return runExitCode(done.status);
  }
  print(`run ${done.id} ${done.status}${done.durationMs !== null ? ` in ${formatDuration(done.durationMs)}` : ''}`);
  if (done.status === 'COMPLETED') {
    print('output:');
    print(truncate(JSON.stringify(done.output, null, 2) ?? 'null', OUTPUT_LIMIT));
  } else {
    const error = done.error as { path?: string } | null;
    if (error) print(`error: ${errorText(error)}${error.path ? ` (at ${error.path})` : ''}`);
    if (done.compensated !== null) print(`compensated: ${done.compensated ? 'yes' : 'no'}`);
  }
  return runExitCode(done.status);
}

export async function remoteListRuns(
  client: RemoteClient,
  opts: { workflow?: string; status?: string; env?: string; limit?: string; before?: string; json: boolean },
): Promise<number> {
  const limit = parsePositiveInt('--limit', opts.limit) ?? 50;
  if (limit > 500) throw new UsageError(`--limit must be at most 500 with --server, got ${limit}`);
  const { body } = await client.request<Page<RunSummary>>('GET', '/api/v1/workflow-runs', {
    query: {
      workflowId: opts.workflow,
      environment: opts.env,
      status: opts.status?.toUpperCase(),
      limit,
      cursor: opts.before !== undefined ? encodeCursor(opts.before) : undefined,
    },
  });
  if (opts.json) {
    printJson(body.items);
    return 0;
  }
  if (body.items.length === 0) {
    print('no runs');
    return 0;
  }
  print(table(
    ['ID', 'WORKFLOW', 'ENV', 'VERSION', 'STATUS', 'CREATED', 'DURATION'],
    body.items.map((r) => [r.id, r.workflowId, r.environment, `v${r.version}`, r.status, r.createdAt, formatDuration(r.durationMs)]),
  ));
  return 0;
}

export async function remoteShowRun(client: RemoteClient, id: string, opts: { json: boolean }): Promise<number> {
  const { body: run } = await client.request<RunDetail>('GET', `/api/v1/workflow-runs/${encodeURIComponent(id)}`);
  if (opts.json) {
    printJson(run);
    return 0;
  }
  const t = (run.trigger ?? {}) as { type?: string; via?: string; name?: string };
  print(`run ${run.id}`);
  print(`  workflow  ${run.environment}/${run.workflowId} v${run.version}`);
  print(`  status    ${run.status}`);
  print(`  trigger   ${[t.type ?? 'unknown', t.via ? `via ${t.via}` : '', t.name ?? '', run.initiator ? `by ${run.initiator}` : ''].filter(Boolean).join(' ')}`);
  print(`  created   ${run.createdAt}`);
  print(`  started   ${run.startedAt ?? '-'}`);
  print(`  finished  ${run.finishedAt ?? '-'}${run.durationMs !== null ? `  (${formatDuration(run.durationMs)})` : ''}`);
  print(`  input     ${oneLine(run.input, VALUE_LIMIT)}`);
  if (run.error) print(`  error     ${oneLine(errorText(run.error), 500)}`);
  if (run.output !== null) print(`  output    ${oneLine(run.output, 500)}`);
  print('');
  if (run.steps.length === 0) {
    print('no steps yet');
    return 0;
  }
  print('steps:');
  for (const [i, s] of run.steps.entries()) {
    const what = s.type === 'operation' ? `operation ${s.action ?? '?'}` : s.type === 'compensation' ? `COMPENSATION ${s.action ?? '?'}` : s.type;
    const tries = s.type === 'operation' || s.type === 'compensation' ? `  attempt ${s.attempt} (${s.deliveries} ${s.deliveries === 1 ? 'delivery' : 'deliveries'})` : '';
    print(`${String(i + 1).padStart(3)}. ${s.path}  ${what}  ${s.status}${tries}  ${formatDuration(s.durationMs)}`);
    if (s.input !== null) print(`       input:  ${oneLine(s.input, VALUE_LIMIT)}`);
    if (s.output !== null) print(`       output: ${oneLine(s.output, VALUE_LIMIT)}`);
    if (s.error !== null) print(`       ${s.status === 'SUCCEEDED' ? 'earlier error' : 'error'}:  ${oneLine(errorText(s.error), VALUE_LIMIT)}`);
  }
  return 0;
}

/** `stn runs events [--follow]`: the event log; `--follow` reads the run's SSE stream until the run ends. */
export async function remoteEvents(client: RemoteClient, id: string, opts: { follow?: boolean; json: boolean }): Promise<number> {
  const show = (e: EventJson) => (opts.json ? process.stdout.write(`${JSON.stringify(e)}\n`) : print(eventLine(toRow(e))));
  const path = `/api/v1/workflow-runs/${encodeURIComponent(id)}`;
  if (!opts.follow) {
    for (const e of await all<EventJson>(client, `${path}/events`, {})) show(e);
    return 0;
  }
  let ended = false;
  await client.stream(`${path}/stream`, {}, (data) => {
    const e = data as EventJson;
    show(e);
    if (TERMINAL_EVENTS.has(e.type)) ended = true;
  });
  // The stream answers 204 when the run had already ended: print the whole log then.
  if (!ended) for (const e of await all<EventJson>(client, `${path}/events`, {})) show(e);
  return 0;
}

export async function remoteControl(
  client: RemoteClient,
  verb: 'cancel' | 'pause' | 'resume',
  id: string,
  opts: { compensate?: boolean; json: boolean },
): Promise<number> {
  const { body: run } = await client.request<RunSummary>('POST', `/api/v1/workflow-runs/${encodeURIComponent(id)}/${verb}`, {
    ...(verb === 'cancel' ? { body: { compensate: opts.compensate ?? false } } : {}),
  });
  if (opts.json) printJson(run);
  else if (verb === 'cancel') print(`cancel requested for run ${run.id}${opts.compensate ? ' (with compensation)' : ''}: running steps are stopped and the run ends CANCELLED`);
  else if (verb === 'pause') print(`run ${run.id} paused: no new steps start until "stn runs resume ${run.id}"`);
  else print(`run ${run.id} resumed (${run.status})`);
  return 0;
}

export async function remoteSignal(client: RemoteClient, id: string, name: string, opts: { payload?: string; json: boolean }): Promise<number> {
  const payload = parseJsonArg('--payload', opts.payload);
  const { body } = await client.request<{ signalId: number }>('POST', `/api/v1/workflow-runs/${encodeURIComponent(id)}/signals`, { body: { name, payload } });
  if (opts.json) printJson(body);
  else print(`signal "${name}" sent to run ${id} (signal ${body.signalId})`);
  return 0;
}

// -------------------------------------------------------------------------------------------------- workflows, sync

export async function remoteListWorkflows(client: RemoteClient, opts: { env?: string; status?: string; json: boolean }): Promise<number> {
  if (opts.status !== undefined && !['active', 'disabled', 'invalid'].includes(opts.status)) {
    throw new UsageError(`--status must be active, disabled or invalid, got "${opts.status}"`);
  }
  const rows = await all<DefinitionSummary>(client, '/api/v1/workflows', { env: opts.env, status: opts.status });
  if (opts.json) {
    printJson(rows);
    return 0;
  }
  if (rows.length === 0) {
    print('no workflow definitions (run "stn sync" first)');
    return 0;
  }
  print(table(
    ['ENV', 'ID', 'STATUS', 'VERSION', 'LABEL', 'COMMIT', 'PATH'],
    rows.map((r) => [r.environment, r.id, r.error && r.status === 'active' ? 'active (file invalid)' : r.status, r.version === null ? '-' : `v${r.version}`, r.label ?? '-', shortSha(r.commit), r.path]),
  ));
  for (const r of rows) if (r.error) print(`\n${r.environment}/${r.id}: ${r.error}`);
  return 0;
}

export async function remoteShowWorkflow(client: RemoteClient, id: string, opts: { env?: string; version?: string; json: boolean }): Promise<number> {
  const version = parsePositiveInt('--version', opts.version, true);
  const { body: d } = await client.request<DefinitionDetail>('GET', `/api/v1/workflows/${encodeURIComponent(id)}`, { query: { env: opts.env, version } });
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
    print(`name: ${v.name}\n`);
    print(v.raw.trimEnd());
  }
  return 0;
}

/** `stn sync` against the daemon: it syncs its own checkout. Exit codes as locally: 0, 1 some invalid, 2 refused. */
export async function remoteSync(client: RemoteClient, opts: { env?: string; dryRun?: boolean; allowEmpty?: boolean; json: boolean }): Promise<number> {
  const { body } = await client.request<ReturnType<typeof syncJson>>('POST', '/api/v1/sync', {
    body: { environment: opts.env, dryRun: opts.dryRun, allowEmpty: opts.allowEmpty },
    timeoutMs: 300_000,
  });
  const exit = body.environments.some((e) => e.error?.code === 'STN_E_SYNC_EMPTY') ? 2 : body.environments.some((e) => e.error || e.invalid.length > 0) ? 1 : 0;
  if (opts.json) {
    printJson(body);
    return exit;
  }
  print(`${body.dryRun ? 'Dry run (nothing written) at commit' : 'Synced commit'} ${shortSha(body.commit)} on ${client.target.url}: ${body.environments.length} environment(s)`);
  for (const e of body.environments) {
    print(`\nenvironment ${e.name}`);
    if (e.error) {
      print(`  NOT SYNCED  ${e.error.code}: ${e.error.message}`);
      continue;
    }
    const withVersion = (ids: string[]) => ids.map((id) => (e.versions[id] ? `${id} (v${e.versions[id]})` : id)).join(', ');
    for (const [label, ids] of [['added', e.added], ['updated', e.updated], ['re-enabled', e.reenabled], ['disabled', e.disabled]] as const) {
      if (ids.length > 0) print(`  ${label.padEnd(11)} ${withVersion(ids)}`);
    }
    if (e.unchanged.length > 0) print(`  ${'unchanged'.padEnd(11)} ${e.unchanged.length} definition(s)`);
    for (const i of e.invalid) {
      print(`  ${'invalid'.padEnd(11)} ${i.path}${i.id ? ` [${i.id}]` : ''}${i.activeVersion ? ` (v${i.activeVersion} stays active)` : ''}`);
      for (const d of i.errors) print(`      ${i.path}:${d.line}:${d.col}: error ${d.code}: ${d.message}`);
    }
  }
  return exit;
}
