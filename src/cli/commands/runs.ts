import type { StationClient } from '../../client/types.js';
import { UsageError } from '../../errors.js';
import { RUN_STATUSES, RUN_TRIGGERS } from '../../store/runs.js';
import { triggerText } from '../../views/runs.js';
import { findStep, transcriptOf, type StepDetailView } from '../../views/transcript.js';
import type { EventView, RunDetailView, RunSummaryView } from '../../views/types.js';
import { parseJsonArg, parseLimit } from '../json-arg.js';
import { print, printJson, table } from '../output.js';
import { errorText, eventLine, formatDuration, oneLine, truncate } from '../run-view.js';

/** Input and output of a step in `stn runs show`. */
const VALUE_LIMIT = 200;
/** Input, output and error of the step `stn runs show --step` shows. */
const STEP_VALUE_LIMIT = 2000;
/** A model reply in a transcript (the whole text is in `--json`). */
const TRANSCRIPT_TEXT_LIMIT = 500;
/** Tool arguments and results in a transcript. */
const TRANSCRIPT_VALUE_LIMIT = 300;

/** `stn runs list [--workflow] [--status] [--env] [--trigger] [--since] [--until] [--limit] [--before]`, newest first. */
export async function listRunsCommand(
  client: StationClient,
  opts: {
    workflow?: string;
    status?: string;
    env?: string;
    trigger?: string;
    since?: string;
    until?: string;
    limit?: string;
    before?: string;
    json: boolean;
  },
): Promise<number> {
  const status = opts.status?.toUpperCase();
  if (status !== undefined && !(RUN_STATUSES as readonly string[]).includes(status)) {
    throw new UsageError(`--status must be one of ${RUN_STATUSES.join(', ')}, got "${opts.status ?? ''}"`);
  }
  const trigger = opts.trigger?.toLowerCase();
  if (trigger !== undefined && !(RUN_TRIGGERS as readonly string[]).includes(trigger)) {
    throw new UsageError(`--trigger must be one of ${RUN_TRIGGERS.join(', ')}, got "${opts.trigger ?? ''}"`);
  }
  const runs = await client.listRuns({
    workflowId: opts.workflow,
    environment: opts.env,
    status,
    trigger,
    since: timeOption('--since', opts.since),
    until: timeOption('--until', opts.until),
    before: opts.before,
    limit: parseLimit(opts.limit),
  });
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

/** `stn runs show <id> [--step <step>]`: the run's header, then its steps in order; or one step in detail. */
export async function showRunCommand(client: StationClient, id: string, opts: { json: boolean; step?: string | undefined }): Promise<number> {
  const run = await client.showRun(id);
  if (opts.step !== undefined) return showStep(client, run, opts.step, opts.json);
  if (opts.json) printJson(run);
  else printRun(run);
  return 0;
}

/** One step: its fields, then for an agent step the transcript of each attempt. */
async function showStep(client: StationClient, run: RunDetailView, ref: string, json: boolean): Promise<number> {
  const step = findStep(run.steps, ref);
  if (!step) {
    const known = [...new Set(run.steps.map((s) => s.state))].join(', ') || 'none yet';
    throw new UsageError(`run ${run.id} has no step "${ref}" (a step id, path or state name; its states: ${known})`);
  }
  const events = await client.stepEvents(run.id, step.id);
  const transcript = step.action === 'agent.run' || events.some((e) => e.type.startsWith('agent:')) ? transcriptOf(events) : null;
  const view: StepDetailView = { runId: run.id, step, transcript };
  if (json) printJson(view);
  else printStep(view);
  return 0;
}

function printStep({ runId, step: s, transcript }: StepDetailView): void {
  print(`step ${s.id}  (run ${runId})`);
  print(`  path      ${s.path}`);
  print(`  state     ${s.state}  ${s.type === 'operation' || s.type === 'compensation' ? `${s.type} ${s.action ?? '?'}` : s.type}`);
  print(`  status    ${s.status}`);
  if (s.type === 'operation' || s.type === 'compensation') print(`  attempt   ${s.attempt} (${s.deliveries} ${s.deliveries === 1 ? 'delivery' : 'deliveries'})`);
  print(`  started   ${s.startedAt ?? '-'}`);
  print(`  finished  ${s.finishedAt ?? '-'}${s.durationMs !== null ? `  (${formatDuration(s.durationMs)})` : ''}`);
  print(`  input     ${oneLine(s.input, STEP_VALUE_LIMIT)}`);
  if (s.output !== null) print(`  output    ${oneLine(s.output, STEP_VALUE_LIMIT)}`);
  if (s.error !== null) print(`  ${s.status === 'SUCCEEDED' ? 'earlier error' : 'error'}  ${oneLine(errorText(s.error), STEP_VALUE_LIMIT)}`);
  if (s.wait !== null && s.status !== 'SUCCEEDED') print(`  waiting   ${oneLine(s.wait, STEP_VALUE_LIMIT)}`);
  if (transcript === null) return;
  print('');
  if (transcript.length === 0) {
    print('transcript: no model turn committed yet');
    return;
  }
  for (const a of transcript) {
    const tokens = `${a.usage.inputTokens} in / ${a.usage.outputTokens} out`;
    print(`transcript, attempt ${a.attempt}${a.agent !== null ? ` (agent ${a.agent})` : ''}: ${a.turns.length} ${a.turns.length === 1 ? 'turn' : 'turns'}, ${tokens} tokens`);
    for (const t of a.turns) {
      print(`  turn ${t.turn}  ${t.provider}/${t.model}  ${t.usage.inputTokens} in / ${t.usage.outputTokens} out  ${formatDuration(t.latencyMs)}`);
      if (t.content !== null && t.content !== '') print(`    reply: ${oneLine(t.content, TRANSCRIPT_TEXT_LIMIT)}`);
      for (const c of t.toolCalls) print(`    asks:  ${c.name} ${truncate(c.arguments.replace(/\s+/g, ' '), TRANSCRIPT_VALUE_LIMIT)}`);
      for (const c of t.tools) {
        print(`    tool ${c.tool}  ${c.ok ? 'ok' : 'error'}  ${formatDuration(c.latencyMs)}`);
        print(`      arguments: ${oneLine(c.arguments, TRANSCRIPT_VALUE_LIMIT)}`);
        print(`      result:    ${oneLine(c.result.replace(/\s+/g, ' '), TRANSCRIPT_VALUE_LIMIT)}`);
      }
    }
  }
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

/** A time option: an ISO-8601 date-time with its zone (`2026-12-03T10:00:00Z`), or a date (midnight UTC). */
function timeOption(flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  const date = /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v;
  const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(date) && !Number.isNaN(Date.parse(date));
  if (!ok) throw new UsageError(`${flag} must be a date (2026-12-03) or a date-time with its zone (2026-12-03T10:00:00Z), got "${value}"`);
  return new Date(Date.parse(date)).toISOString();
}
