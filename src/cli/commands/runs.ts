import type { Station } from '../../context.js';
import { UsageError } from '../../errors.js';
import { RUN_STATUSES, type EventRow, type RunRow } from '../../store/runs.js';
import { parseJsonArg, parsePositiveInt } from '../json-arg.js';
import { print, printJson, table } from '../output.js';
import {
  errorText,
  eventJson,
  eventLine,
  formatDuration,
  mustGetRun,
  oneLine,
  parseColumn,
  runDetailJson,
  runSummaryJson,
  TERMINAL_EVENTS,
  triggerText,
} from '../run-view.js';
import { cliUser } from './run.js';

/** How often `stn runs events --follow` reads new events from the store. */
const FOLLOW_POLL_MS = 200;
/** Input and output of a step in `stn runs show`. */
const VALUE_LIMIT = 200;

/** `stn runs list [--workflow] [--status] [--env] [--limit] [--before]`, newest first. */
export function listRunsCommand(
  station: Station,
  opts: { workflow?: string; status?: string; env?: string; limit?: string; before?: string; json: boolean },
): number {
  const status = opts.status?.toUpperCase();
  if (status !== undefined && !(RUN_STATUSES as readonly string[]).includes(status)) {
    throw new UsageError(`--status must be one of ${RUN_STATUSES.join(', ')}, got "${opts.status ?? ''}"`);
  }
  const runs = station.runStore.listRuns({
    workflowId: opts.workflow,
    environment: opts.env,
    status,
    before: opts.before,
    limit: parsePositiveInt('--limit', opts.limit) ?? 50,
  });
  if (opts.json) {
    printJson(runs.map(runSummaryJson));
    return 0;
  }
  if (runs.length === 0) {
    print('no runs');
    return 0;
  }
  print(
    table(
      ['ID', 'WORKFLOW', 'ENV', 'VERSION', 'STATUS', 'CREATED', 'DURATION'],
      runs.map((r) => {
        const s = runSummaryJson(r);
        return [r.id, r.workflow_id, r.environment, `v${r.version}`, r.status, r.created_at, formatDuration(s.durationMs)];
      }),
    ),
  );
  return 0;
}

/** `stn runs show <id>`: the run's header, then its steps in order. */
export function showRunCommand(station: Station, id: string, opts: { json: boolean }): number {
  const run = mustGetRun(station, id);
  const steps = station.runStore.steps(run.id);
  if (opts.json) {
    printJson(runDetailJson(run, steps));
    return 0;
  }
  const summary = runSummaryJson(run);
  print(`run ${run.id}`);
  print(`  workflow  ${run.environment}/${run.workflow_id} v${run.version}`);
  print(`  status    ${run.status}${run.paused && run.status !== 'PAUSED' ? ' (paused)' : ''}${run.cancel && !run.finished_at ? ' (cancel requested)' : ''}`);
  print(`  trigger   ${triggerText(run)}`);
  print(`  created   ${run.created_at}`);
  print(`  started   ${run.started_at ?? '-'}`);
  print(`  finished  ${run.finished_at ?? '-'}${summary.durationMs !== null ? `  (${formatDuration(summary.durationMs)})` : ''}`);
  print(`  input     ${oneLine(parseColumn(run.input), VALUE_LIMIT)}`);
  if (run.error) print(`  error     ${oneLine(errorText(parseColumn(run.error)), 500)}`);
  if (run.output) print(`  output    ${oneLine(parseColumn(run.output), 500)}`);
  if (run.compensated !== null) print(`  compensated  ${run.compensated ? 'yes' : `no ${run.compensation_errors ?? ''}`}`);
  print('');
  if (steps.length === 0) {
    print('no steps yet');
    return 0;
  }
  print('steps:');
  for (const [i, s] of steps.entries()) {
    const what = s.type === 'operation' ? `operation ${s.action ?? '?'}` : s.type === 'compensation' ? `COMPENSATION ${s.action ?? '?'}` : s.type;
    const tries = s.type === 'operation' || s.type === 'compensation'
      ? `  attempt ${s.attempt} (${s.deliveries} ${s.deliveries === 1 ? 'delivery' : 'deliveries'})`
      : '';
    print(`${String(i + 1).padStart(3)}. ${s.path}  ${what}  ${s.status}${tries}  ${formatDuration(s.duration_ms)}`);
    if (s.input !== null) print(`       input:  ${oneLine(parseColumn(s.input), VALUE_LIMIT)}`);
    if (s.output !== null) print(`       output: ${oneLine(parseColumn(s.output), VALUE_LIMIT)}`);
    if (s.error !== null) print(`       ${s.status === 'SUCCEEDED' ? 'earlier error' : 'error'}:  ${oneLine(errorText(parseColumn(s.error)), VALUE_LIMIT)}`);
    if (s.wait !== null && s.status !== 'SUCCEEDED') print(`       waiting: ${oneLine(parseColumn(s.wait), VALUE_LIMIT)}`);
  }
  return 0;
}

/**
 * `stn runs events <id> [--follow]`: the event log, one line (or JSON line) per event. `--follow` polls the store, so it
 * works while another process runs the engine, and stops after the run's terminal event.
 */
export async function eventsCommand(station: Station, id: string, opts: { follow?: boolean; json: boolean }): Promise<number> {
  mustGetRun(station, id);
  const show = (e: EventRow) => (opts.json ? process.stdout.write(`${JSON.stringify(eventJson(e))}\n`) : print(eventLine(e)));
  let last = 0;
  for (;;) {
    let ended = false;
    for (;;) {
      const batch = station.runStore.events(id, last, 1000);
      for (const e of batch) {
        show(e);
        last = e.seq;
        if (TERMINAL_EVENTS.has(e.type)) ended = true;
      }
      if (batch.length < 1000) break;
    }
    if (!opts.follow || ended) return 0;
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS));
  }
}

/** `stn runs cancel <id> [--compensate]`: recorded in the database; the engine holding the run stops its steps. */
export function cancelCommand(station: Station, id: string, opts: { compensate?: boolean; json: boolean }): number {
  const run = station.runs.cancel(id, opts.compensate ?? false, cliUser() ?? null);
  return confirm(run, opts.json, `cancel requested for run ${run.id}${opts.compensate ? ' (with compensation)' : ''}: running steps are stopped and the run ends CANCELLED`);
}

/** `stn runs pause <id>`: no new steps start; a running step finishes. */
export function pauseCommand(station: Station, id: string, opts: { json: boolean }): number {
  const run = station.runs.pause(id, cliUser() ?? null);
  return confirm(run, opts.json, `run ${run.id} paused: no new steps start until "stn runs resume ${run.id}"`);
}

export function resumeCommand(station: Station, id: string, opts: { json: boolean }): number {
  const run = station.runs.resume(id, cliUser() ?? null);
  return confirm(run, opts.json, `run ${run.id} resumed (${run.status})`);
}

/** `stn runs signal <id> <name> [--payload json|@file]`: kept for the run's next `signal.wait` of that name. */
export function signalCommand(station: Station, id: string, name: string, opts: { payload?: string; json: boolean }): number {
  const payload = parseJsonArg('--payload', opts.payload);
  const { signalId } = station.runs.signal(id, name, payload);
  if (opts.json) printJson({ signalId });
  else print(`signal "${name}" sent to run ${id} (signal ${signalId})`);
  return 0;
}

function confirm(run: RunRow, json: boolean, message: string): number {
  if (json) printJson(runSummaryJson(run));
  else print(message);
  return 0;
}
