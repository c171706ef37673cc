import os from 'node:os';
import type { Station } from '../../context.js';
import type { RunEvent } from '../../engine/events.js';
import { StationError } from '../../errors.js';
import { TERMINAL_RUN, type EventRow, type RunRow } from '../../store/runs.js';
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
/** How often the event log is read for steps that other processes (a worker, the daemon) execute. */
const STORE_POLL_MS = 100;
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
      // The local CLI holds the database itself, so it is as trusted as an admin token; a pin is still audited.
      pinnedBy: version !== undefined ? `cli:${cliUser() ?? 'unknown'}` : undefined,
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
  if (started.pinned) {
    station.logger.warn({ run_id: run.id, workflow_id: run.workflow_id, env: run.environment, version: run.version, by: `cli:${cliUser() ?? 'unknown'}` }, 'run pinned to a version that is not the active one');
  }

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
 * Prints the progress lines of a run and its child runs from the event log in the database, in sequence order. The
 * log, not this process's own events, because another engine on the database (`stn worker`, the daemon) may execute
 * some of the steps: after a timer or a signal, whichever engine claims the task first carries the run on.
 */
class TreeProgress {
  /** Last event printed, per run of the tree; child runs are added as they appear. */
  private readonly last = new Map<string, number>();
  private readonly labels = new Map<string, string>();
  private readonly depth = new Map<string, number>();

  constructor(
    private readonly station: Station,
    rootId: string,
  ) {
    this.last.set(rootId, 0);
    this.labels.set(rootId, '');
  }

  drain(): void {
    const store = this.station.runStore;
    const rows: EventRow[] = [];
    // A Map iterates over entries added while iterating, so child runs found on the way are read too.
    for (const [runId, after] of this.last) {
      let seq = after;
      for (;;) {
        const batch = store.events(runId, seq, 1000);
        for (const row of batch) if (PROGRESS_EVENTS.has(row.type)) rows.push(row);
        seq = batch.at(-1)?.seq ?? seq;
        if (batch.length < 1000) break;
      }
      this.last.set(runId, seq);
      for (const child of store.childRuns(runId)) {
        if (this.last.has(child.id)) continue;
        this.last.set(child.id, 0);
        this.labels.set(child.id, `${child.workflow_id}: `);
        this.depth.set(child.id, (this.depth.get(runId) ?? 0) + 1);
      }
    }
    // Runs of one tree interleave in time: a child's steps come between its parent's "wait" and "ok" lines, which can
    // share a millisecond (and a transaction) with the child's first or last step.
    const depth = (row: EventRow) => this.depth.get(row.run_id) ?? 0;
    rows.sort((a, b) => {
      if (a.created_at !== b.created_at) return a.created_at < b.created_at ? -1 : 1;
      if (depth(a) === depth(b)) return 0;
      const [outer, sign] = depth(a) < depth(b) ? [a, -1] : [b, 1];
      return outer.type === 'step:waiting' ? sign : -sign;
    });
    for (const row of rows) {
      const e = { runId: row.run_id, seq: row.seq, type: row.type, stepId: row.step_id, data: parseColumn(row.data), at: row.created_at } as RunEvent;
      const line = progressLine(e, row.step_id ? store.step(row.step_id) : undefined, this.labels.get(row.run_id) ?? '');
      if (line !== undefined) print(line);
    }
  }
}

/**
 * Runs the engine of this process on the run's tree until the run ends or Ctrl-C. Progress comes from the event log
 * (see TreeProgress): read as soon as this process commits something, and every STORE_POLL_MS for the commits of
 * other processes.
 */
async function execute(station: Station, run: RunRow, json: boolean): Promise<'ended' | 'interrupted'> {
  const progress = json ? undefined : new TreeProgress(station, run.id);
  let settled = false;
  let resolveDone!: (how: 'ended' | 'interrupted') => void;
  const done = new Promise<'ended' | 'interrupted'>((resolve) => (resolveDone = resolve));
  const settle = (how: 'ended' | 'interrupted') => {
    settled = true;
    resolveDone(how);
  };
  const check = () => {
    if (settled) return;
    progress?.drain();
    const status = station.runStore.run(run.id)?.status;
    if (status !== undefined && TERMINAL_RUN.has(status)) {
      progress?.drain(); // the events committed between the first drain and the status read
      settle('ended');
    }
  };
  let queued = false;
  const off = station.events.on(() => {
    if (queued) return;
    queued = true;
    setImmediate(() => {
      queued = false;
      check();
    });
  });
  const poll = setInterval(check, STORE_POLL_MS);
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
    if (run.compensated !== null) print(`compensated: ${run.compensated ? 'yes' : `no (${run.compensation_errors ?? ''})`}`);
  }
  return runExitCode(run.status);
}
