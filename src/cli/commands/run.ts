import os from 'node:os';
import type { Station } from '../../context.js';
import type { RunEvent } from '../../engine/events.js';
import { StationError } from '../../errors.js';
import { TERMINAL_RUN, type RunRow } from '../../store/runs.js';
import { parseJsonArg, parsePositiveInt } from '../json-arg.js';
import { print, printJson } from '../output.js';
import {
  errorText,
  formatDuration,
  parseColumn,
  PROGRESS_EVENTS,
  progressLine,
  runDetailJson,
  runExitCode,
  TERMINAL_EVENTS,
  truncate,
} from '../run-view.js';

export interface RunCommandOptions {
  env?: string | undefined;
  input?: string | undefined;
  idempotencyKey?: string | undefined;
  detach?: boolean | undefined;
  version?: string | undefined;
  json: boolean;
}

/** Exit code after Ctrl-C: the run is left to `stn worker` or the daemon. */
const INTERRUPTED = 130;
/** How long running steps get to finish after Ctrl-C before they are aborted (and delivered again later). */
const INTERRUPT_GRACE_MS = 5_000;
/** Safety net next to the in-process events: another process may be the one that finishes the run. */
const STATUS_POLL_MS = 500;
const OUTPUT_LIMIT = 2000;

/** The user who started the run; some containers have no passwd entry for the uid. */
export function cliUser(): string | undefined {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? undefined;
  }
}

/**
 * `stn run <workflow>`: starts a run and, unless `--detach`, executes it in this process with progress lines.
 * Exit 0 COMPLETED, 1 FAILED/CANCELLED/TIMED_OUT, 2 bad input or unknown workflow, 130 interrupted.
 */
export async function runCommand(station: Station, workflowId: string, opts: RunCommandOptions): Promise<number> {
  const input = parseJsonArg('--input', opts.input);
  const version = parsePositiveInt('--version', opts.version, true);
  let started;
  try {
    started = station.runs.start({
      workflowId,
      environment: opts.env,
      input,
      idempotencyKey: opts.idempotencyKey,
      version,
      initiator: cliUser(),
      trigger: { type: 'manual', via: 'cli' },
    });
  } catch (err) {
    if (!opts.json && err instanceof StationError && err.code === 'STN_E_INPUT_INVALID') {
      printViolations(err);
      return err.exitCode;
    }
    throw err;
  }
  const { run, created } = started;

  if (opts.detach) {
    // stdout is only the id, so `id=$(stn run --detach …)` works whether or not the run already existed.
    if (opts.json) printJson({ id: run.id, created, status: run.status });
    else print(run.id);
    if (!opts.json && !created) {
      process.stderr.write(`stn: existing run for idempotency key "${opts.idempotencyKey ?? ''}" (${run.status})\n`);
    }
    return 0;
  }
  if (!opts.json) {
    print(created
      ? `run ${run.id}: ${run.environment}/${run.workflow_id} v${run.version}`
      : `run ${run.id} already exists for idempotency key "${opts.idempotencyKey ?? ''}" (${run.status})`);
  }
  if (TERMINAL_RUN.has(run.status)) return finish(station, run.id, opts.json);

  const outcome = await execute(station, run, opts.json);
  if (outcome === 'interrupted') {
    if (opts.json) printJson({ id: run.id, status: station.runStore.run(run.id)?.status ?? run.status, interrupted: true });
    else {
      print(`interrupted: run ${run.id} is saved and continues under "stn worker" or the daemon`);
      print(`  follow it with: stn runs events --follow ${run.id}`);
    }
    return INTERRUPTED;
  }
  return finish(station, run.id, opts.json);
}

function printViolations(err: StationError): void {
  const errors = (err.details?.errors ?? []) as Array<{ path: string; message: string; missing?: string; field?: string }>;
  process.stderr.write(`stn: ${err.code}: the input does not match the workflow's inputSchema (${errors.length} problem${errors.length === 1 ? '' : 's'}):\n`);
  for (const e of errors) {
    const extra = e.missing !== undefined ? ` (${e.missing})` : e.field !== undefined ? ` (${e.field})` : '';
    process.stderr.write(`  ${e.path}: ${e.message}${extra}\n`);
  }
}

/**
 * Runs the engine of this process on the run's tree until the run ends or Ctrl-C. Events are subscribed before the
 * engine starts, so no step is missed.
 */
async function execute(station: Station, run: RunRow, json: boolean): Promise<'ended' | 'interrupted'> {
  const labels = new Map<string, string | null>([[run.id, '']]);
  /** '' for the run itself, `child-workflow: ` for its child runs, null for runs outside the tree. */
  const labelOf = (runId: string): string | null => {
    let label = labels.get(runId);
    if (label === undefined) {
      const r = station.runStore.run(runId);
      label = r && r.root_run_id === run.id ? `${r.workflow_id}: ` : null;
      labels.set(runId, label);
    }
    return label;
  };

  let settle!: (how: 'ended' | 'interrupted') => void;
  const done = new Promise<'ended' | 'interrupted'>((resolve) => (settle = resolve));
  const off = station.events.on((e: RunEvent) => {
    if (e.runId === run.id && TERMINAL_EVENTS.has(e.type)) settle('ended');
    if (json || !PROGRESS_EVENTS.has(e.type)) return;
    const label = labelOf(e.runId);
    if (label === null) return;
    const line = progressLine(e, e.stepId ? station.runStore.step(e.stepId) : undefined, label);
    if (line !== undefined) print(line);
  });
  const poll = setInterval(() => {
    const status = station.runStore.run(run.id)?.status;
    if (status !== undefined && TERMINAL_RUN.has(status)) settle('ended');
  }, STATUS_POLL_MS);
  const onSigint = () => settle('interrupted');
  const onSecondSigint = () => process.exit(INTERRUPTED);
  process.once('SIGINT', onSigint);

  const engine = station.engine({ onlyRunTree: run.id });
  engine.start();
  const outcome = await done;
  clearInterval(poll);
  off();
  process.off('SIGINT', onSigint);
  if (outcome === 'interrupted') {
    // A second Ctrl-C gives up waiting: leases of a dead process are reclaimed by the next engine on this host.
    process.once('SIGINT', onSecondSigint);
    if (!json) print(`stopping: running steps get ${INTERRUPT_GRACE_MS / 1000} s to finish (Ctrl-C again to quit now)`);
    await engine.stop(INTERRUPT_GRACE_MS);
    process.off('SIGINT', onSecondSigint);
  } else {
    await engine.stop();
  }
  return outcome;
}

/** Prints a finished run (JSON or readable) and returns the exit code for its status. */
function finish(station: Station, runId: string, json: boolean): number {
  const run = station.runStore.run(runId) as RunRow;
  if (json) {
    printJson(runDetailJson(run, station.runStore.steps(run.id)));
    return runExitCode(run.status);
  }
  const took = run.started_at && run.finished_at ? ` in ${formatDuration(Date.parse(run.finished_at) - Date.parse(run.started_at))}` : '';
  print(`run ${run.id} ${run.status}${took}`);
  if (run.status === 'COMPLETED') {
    print('output:');
    print(truncate(JSON.stringify(parseColumn(run.output), null, 2) ?? 'null', OUTPUT_LIMIT));
  } else {
    const error = parseColumn(run.error) as { state?: string; path?: string } | null;
    if (error) print(`error: ${errorText(error)}${error.path ? ` (at ${error.path})` : ''}`);
    if (run.compensated !== null) print(`compensated: ${run.compensated === 1 ? 'yes' : `no (${run.compensation_errors ?? ''})`}`);
  }
  return runExitCode(run.status);
}
