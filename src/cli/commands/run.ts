import type { StationClient } from '../../client/types.js';
import { StationError } from '../../errors.js';
import { runExitCode } from '../../views/runs.js';
import type { RunDetailView } from '../../views/types.js';
import { parseJsonArg, parsePositiveInt } from '../json-arg.js';
import { print, printJson } from '../output.js';
import { errorText, formatDuration, progressLine, truncate } from '../run-view.js';

export interface RunCommandOptions {
  env?: string | undefined;
  input?: string | undefined;
  idempotencyKey?: string | undefined;
  detach?: boolean | undefined;
  version?: string | undefined;
  json: boolean;
}

/** Exit code after Ctrl-C: the run goes on under `stn worker` or the daemon. */
const INTERRUPTED = 130;
const OUTPUT_LIMIT = 2000;

/**
 * `stn run <workflow>`: starts a run and, unless `--detach`, follows it with progress lines until it ends (a local
 * client executes it in this process meanwhile; a daemon executes its own). Exit 0 COMPLETED, 1 FAILED, CANCELLED or
 * TIMED_OUT, 2 bad input or unknown workflow, 130 interrupted.
 */
export async function runCommand(client: StationClient, workflowId: string, opts: RunCommandOptions): Promise<number> {
  const input = parseJsonArg('--input', opts.input);
  const version = parsePositiveInt('--version', opts.version, true);
  let started;
  try {
    started = await client.startRun({ workflowId, environment: opts.env, input, idempotencyKey: opts.idempotencyKey, version });
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
    if (!opts.json && !created) process.stderr.write(`stn: existing run for idempotency key "${opts.idempotencyKey ?? ''}" (${run.status})\n`);
    return 0;
  }
  if (!opts.json) {
    print(created
      ? `run ${run.id}: ${run.environment}/${run.workflowId} v${run.version}`
      : `run ${run.id} already exists for idempotency key "${opts.idempotencyKey ?? ''}" (${run.status})`);
  }
  if (run.finishedAt === null && (await follow(client, run.id, opts.json)) === 'interrupted') {
    const status = (await client.showRun(run.id)).status;
    if (opts.json) printJson({ id: run.id, status, interrupted: true });
    else if (client.kind === 'remote') print(`interrupted: run ${run.id} continues on the server; follow it with: stn runs events --follow ${run.id}`);
    else {
      print(`interrupted: run ${run.id} is saved and continues under "stn worker" or the daemon`);
      print(`  follow it with: stn runs events --follow ${run.id}`);
    }
    return INTERRUPTED;
  }
  return finish(await client.showRun(run.id), opts.json);
}

/** Prints the progress lines until the run ends or Ctrl-C; a second Ctrl-C stops waiting for running steps. */
async function follow(client: StationClient, runId: string, json: boolean): Promise<'ended' | 'interrupted'> {
  const interrupted = new AbortController();
  const onSigint = () => interrupted.abort();
  const onSecondSigint = () => process.exit(INTERRUPTED);
  process.once('SIGINT', onSigint);
  try {
    return await client.watchRun(runId, {
      signal: interrupted.signal,
      onProgress: json ? undefined : ({ event, step, prefix }) => {
        const line = progressLine(event, step, prefix);
        if (line !== undefined) print(line);
      },
      onStopping: (graceMs) => {
        // Leases of a dead process are reclaimed by the next engine on this host.
        process.once('SIGINT', onSecondSigint);
        if (!json) print(`stopping: running steps get ${graceMs / 1000} s to finish (Ctrl-C again to quit now)`);
      },
    });
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGINT', onSecondSigint);
  }
}

function printViolations(err: StationError): void {
  const errors = (err.details?.errors ?? []) as Array<{ path: string; message: string; missing?: string; field?: string }>;
  process.stderr.write(`stn: ${err.code}: the input does not match the workflow's inputSchema (${errors.length} problem${errors.length === 1 ? '' : 's'}):\n`);
  for (const e of errors) {
    const extra = e.missing !== undefined ? ` (${e.missing})` : e.field !== undefined ? ` (${e.field})` : '';
    process.stderr.write(`  ${e.path}: ${e.message}${extra}\n`);
  }
}

/** Prints a finished run (JSON or readable) and returns the exit code for its status. */
function finish(run: RunDetailView, json: boolean): number {
  if (json) {
    printJson(run);
    return runExitCode(run.status);
  }
  print(`run ${run.id} ${run.status}${run.durationMs !== null ? ` in ${formatDuration(run.durationMs)}` : ''}`);
  if (run.status === 'COMPLETED') {
    print('output:');
    print(truncate(JSON.stringify(run.output, null, 2) ?? 'null', OUTPUT_LIMIT));
  } else {
    const error = run.error as { path?: string } | null;
    if (error) print(`error: ${errorText(error)}${error.path ? ` (at ${error.path})` : ''}`);
    if (run.compensated !== null) print(`compensated: ${run.compensated ? 'yes' : `no (${run.compensationErrors ?? ''})`}`);
  }
  return runExitCode(run.status);
}
