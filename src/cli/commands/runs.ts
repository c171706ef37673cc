import type { StationClient } from '../../client/types.js';
import { UsageError } from '../../errors.js';
import { RUN_STATUSES } from '../../store/runs.js';
import { triggerText } from '../../views/runs.js';
import type { EventView, RunDetailView, RunSummaryView } from '../../views/types.js';
import { parseJsonArg, parseLimit } from '../json-arg.js';
import { print, printJson, table } from '../output.js';
import { errorText, eventLine, formatDuration, oneLine } from '../run-view.js';

/** Input and output of a step in `stn runs show`. */
const VALUE_LIMIT = 200;

/** `stn runs list [--workflow] [--status] [--env] [--limit] [--before]`, newest first. */
export async function listRunsCommand(
  client: StationClient,
  opts: { workflow?: string; status?: string; env?: string; limit?: string; before?: string; json: boolean },
): Promise<number> {
  const status = opts.status?.toUpperCase();
  if (status !== undefined && !(RUN_STATUSES as readonly string[]).includes(status)) {
    throw new UsageError(`--status must be one of ${RUN_STATUSES.join(', ')}, got "${opts.status ?? ''}"`);
  }
  const runs = await client.listRuns({ workflowId: opts.workflow, environment: opts.env, status, before: opts.before, limit: parseLimit(opts.limit) });
  if (opts.json) {
    printJson(runs);
    return 0;
  }
  if (runs.length === 0) {
    print('no runs');
    return 0;
  }
  print(
    table(
      ['ID', 'WORKFLOW', 'ENV', 'VERSION', 'STATUS', 'CREATED', 'DURATION'],
      runs.map((r) => [r.id, r.workflowId, r.environment, `v${r.version}`, r.status, r.createdAt, formatDuration(r.durationMs)]),
    ),
  );
  return 0;
}

/** `stn runs show <id>`: the run's header, then its steps in order. */
export async function showRunCommand(client: StationClient, id: string, opts: { json: boolean }): Promise<number> {
  const run = await client.showRun(id);
  if (opts.json) printJson(run);
  else printRun(run);
  return 0;
}

function printRun(run: RunDetailView): void {
  const flags = `${run.paused && run.status !== 'PAUSED' ? ' (paused)' : ''}${run.cancelRequested && run.finishedAt === null ? ' (cancel requested)' : ''}`;
  print(`run ${run.id}`);
  print(`  workflow  ${run.environment}/${run.workflowId} v${run.version}`);
  print(`  status    ${run.status}${flags}`);
  print(`  trigger   ${triggerText(run)}`);
  print(`  created   ${run.createdAt}`);
  print(`  started   ${run.startedAt ?? '-'}`);
  print(`  finished  ${run.finishedAt ?? '-'}${run.durationMs !== null ? `  (${formatDuration(run.durationMs)})` : ''}`);
  print(`  input     ${oneLine(run.input, VALUE_LIMIT)}`);
  if (run.error !== null) print(`  error     ${oneLine(errorText(run.error), 500)}`);
  if (run.output !== null) print(`  output    ${oneLine(run.output, 500)}`);
  if (run.compensated !== null) print(`  compensated  ${run.compensated ? 'yes' : `no ${run.compensationErrors ?? ''}`}`);
  print('');
  if (run.steps.length === 0) {
    print('no steps yet');
    return;
  }
  print('steps:');
  for (const [i, s] of run.steps.entries()) {
    const what = s.type === 'operation' ? `operation ${s.action ?? '?'}` : s.type === 'compensation' ? `COMPENSATION ${s.action ?? '?'}` : s.type;
    const tries = s.type === 'operation' || s.type === 'compensation'
      ? `  attempt ${s.attempt} (${s.deliveries} ${s.deliveries === 1 ? 'delivery' : 'deliveries'})`
      : '';
    print(`${String(i + 1).padStart(3)}. ${s.path}  ${what}  ${s.status}${tries}  ${formatDuration(s.durationMs)}`);
    if (s.input !== null) print(`       input:  ${oneLine(s.input, VALUE_LIMIT)}`);
    if (s.output !== null) print(`       output: ${oneLine(s.output, VALUE_LIMIT)}`);
    if (s.error !== null) print(`       ${s.status === 'SUCCEEDED' ? 'earlier error' : 'error'}:  ${oneLine(errorText(s.error), VALUE_LIMIT)}`);
    if (s.wait !== null && s.status !== 'SUCCEEDED') print(`       waiting: ${oneLine(s.wait, VALUE_LIMIT)}`);
  }
}

/**
 * `stn runs events <id> [--follow]`: the event log, one line (or JSON line) per event. `--follow` prints events as
 * they are committed, whichever process runs the engine, and stops after the run's terminal event.
 */
export async function eventsCommand(client: StationClient, id: string, opts: { follow?: boolean; json: boolean }): Promise<number> {
  const show = (e: EventView) => (opts.json ? process.stdout.write(`${JSON.stringify(e)}\n`) : print(eventLine(e)));
  await client.events(id, show, opts.follow ?? false);
  return 0;
}

/** `stn runs cancel <id> [--compensate]`: the engine holding the run stops its steps. */
export async function cancelCommand(client: StationClient, id: string, opts: { compensate?: boolean; json: boolean }): Promise<number> {
  const run = await client.cancel(id, opts.compensate ?? false);
  return confirm(run, opts.json, `cancel requested for run ${run.id}${opts.compensate ? ' (with compensation)' : ''}: running steps are stopped and the run ends CANCELLED`);
}

/** `stn runs pause <id>`: no new steps start; a running step finishes. */
export async function pauseCommand(client: StationClient, id: string, opts: { json: boolean }): Promise<number> {
  const run = await client.pause(id);
  return confirm(run, opts.json, `run ${run.id} paused: no new steps start until "stn runs resume ${run.id}"`);
}

export async function resumeCommand(client: StationClient, id: string, opts: { json: boolean }): Promise<number> {
  const run = await client.resume(id);
  return confirm(run, opts.json, `run ${run.id} resumed (${run.status})`);
}

/** `stn runs signal <id> <name> [--payload json|@file]`: kept for the run's next `signal.wait` of that name. */
export async function signalCommand(client: StationClient, id: string, name: string, opts: { payload?: string; json: boolean }): Promise<number> {
  const payload = parseJsonArg('--payload', opts.payload);
  const { signalId } = await client.signal(id, name, payload);
  if (opts.json) printJson({ signalId });
  else print(`signal "${name}" sent to run ${id} (signal ${signalId})`);
  return 0;
}

function confirm(run: RunSummaryView, json: boolean, message: string): number {
  if (json) printJson(run);
  else print(message);
  return 0;
}
