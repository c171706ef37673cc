import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { JsonObject, JsonValue } from '../definitions/types.js';
import { Masker, maskJson } from '../engine/masking.js';
import { DEFAULT_EXEC_POLICY } from './policy.js';
import { MOVE_AND_EXEC, SHELL } from './cgroup.js';
import { LineScanner, TailBuffer } from './output-streams.js';
import { StepTree, TREE_MARKER_VAR } from './process-tree.js';
import { effectiveTimeoutMs, formatSeconds, parseJsonText, stopReasonFromSignal, stoppedResult, type StopReason } from './stopping.js';
import { stepEnvironment } from './step-env.js';
import { failed, ok, type ExecContext, type ExecResult, type Executor } from './types.js';
import { findProgram } from './which.js';

/** Each of stdout and stderr keeps its last 64 KiB: the end of a log is where the error usually is. */
export const SHELL_OUTPUT_LIMIT = 64 * 1024;
/** Time between SIGTERM and SIGKILL when the process group is stopped. */
export const SHELL_KILL_GRACE_MS = 2_000;
/** Longest stderr line quoted in a failure message (the full tail is in `details`). */
const MESSAGE_LINE_LIMIT = 500;
/** Spawn errors that a retry cannot fix. */
const PERMANENT_SPAWN_ERRORS = new Set(['ENOENT', 'EACCES', 'ENOTDIR', 'EISDIR', 'ENOEXEC']);

/** The `shell.exec` input, as the catalog schema describes it (the engine has validated it already). */
interface ShellInput {
  command?: string[];
  script?: string;
  shell?: boolean;
  cwd?: string;
  env?: Record<string, string>;
  stdin?: string;
  timeoutSeconds?: number;
}

/** How the process ended: from the 'exit' event, or a spawn failure. */
type Ending =
  | { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'spawn-error'; error: Error };

/**
 * `shell.exec` (README "`shell.exec` steps"): runs `command` as argv without a shell, or `script` through `/bin/sh -c`
 * when `shell: true`, in a minimal environment (station.yaml `steps.envAllowlist`, then `input.env` and the STN_* run
 * variables). The child leads its own process group; on timeout or abort the whole group gets SIGTERM, then SIGKILL
 * after a grace, so grandchildren die too. Processes the command leaves running after it exits are stopped the same
 * way, and so are those that left the group (setsid): they carry the step's marker variable (process-tree.ts).
 * A stdout line `::add-mask::<value>` marks `value` as secret for the rest of the run.
 */
export const shellExec: Executor = { name: 'shell.exec', run };

async function run(ctx: ExecContext): Promise<ExecResult> {
  const input = readInput(ctx.input);
  if (typeof input === 'string') return failed('STN_E_SHELL_SPAWN', input, { retryable: false });
  const argv = input.command ?? ['/bin/sh', '-c', input.script ?? ''];
  const [program, ...args] = argv;
  if (program === undefined || program === '') {
    return failed('STN_E_SHELL_SPAWN', 'shell.exec needs a non-empty command', { retryable: false });
  }

  const cwd = path.resolve(ctx.repo, input.cwd ?? '.');
  // spawn() reports a missing cwd as ENOENT of the program, which would blame the wrong thing.
  const cwdProblem = await checkDirectory(cwd);
  if (cwdProblem !== undefined) return failed('STN_E_SHELL_SPAWN', cwdProblem, { retryable: false });
  if (ctx.signal.aborted) return stoppedResult(stopReasonFromSignal(ctx.signal, 'command'), 'STN_E_SHELL_TIMEOUT');

  const policy = ctx.policy ?? DEFAULT_EXEC_POLICY;
  const tree = new StepTree(policy.cgroups);
  logTreeMode(ctx, tree);
  // Never the daemon's whole environment: it holds API tokens, Slack and webhook secrets (docs/security.md).
  const env: NodeJS.ProcessEnv = {
    ...stepEnvironment(policy.envAllowlist, process.env),
    ...input.env,
    STN_IDEMPOTENCY_KEY: ctx.idempotencyKey,
    STN_RUN_ID: ctx.runId,
    STN_STEP_ID: ctx.stepId,
    STN_ATTEMPT: String(ctx.attempt),
    [TREE_MARKER_VAR]: tree.marker,
  };
  const masks: string[] = [];
  const onMask = (value: string): void => {
    masks.push(value);
    ctx.addMask?.(value);
  };
  let spawnArgv: [string, string[]] = [program, args];
  const procs = tree.cgroupProcs;
  if (procs !== undefined) {
    // The command moves itself into the step's cgroup before it runs (so nothing it forks starts outside).
    const found = findProgram(program, env.PATH, cwd);
    if ('code' in found) {
      void tree.stop(0);
      return spawnFailure(found.code, program, found.code === 'ENOENT' ? 'command not found' : 'permission denied');
    }
    spawnArgv = [SHELL, ['-c', MOVE_AND_EXEC, procs, found.path, ...args]];
  }
  const timeoutMs = effectiveTimeoutMs(input.timeoutSeconds, ctx.timeoutMs);
  const startedAt = Date.now();
  const ended = await runProcess(spawnArgv[0], spawnArgv[1], { cwd, env, stdin: input.stdin, timeoutMs, signal: ctx.signal, tree, onMask });
  ctx.logger.debug({ pid: ended.pid, duration_ms: Date.now() - startedAt }, 'shell.exec process ended');
  const result = toResult(ended, program);
  // The engine masks the run's ::add-mask:: values too; this covers callers without one (and keeps the order simple).
  return masks.length === 0 ? result : maskResult(result, new Masker(masks));
}

let treeModeLogged = false;
/** Says once per process how step process trees are tracked (docs/reliability.md). */
function logTreeMode(ctx: ExecContext, tree: StepTree): void {
  if (treeModeLogged) return;
  treeModeLogged = true;
  ctx.logger.info({ mode: tree.mode }, tree.mode === 'cgroup' ? 'shell.exec: step processes tracked in a cgroup v2 per step' : 'shell.exec: step processes tracked by a marker variable (cgroup v2 not writable here, or steps.cgroups: false)');
}

function maskResult(result: ExecResult, masker: Masker): ExecResult {
  if (result.kind === 'ok') return ok(maskJson(masker, result.output));
  if (result.kind !== 'error') return result;
  const { error } = result;
  return {
    kind: 'error',
    error: { ...error, message: masker.mask(error.message), ...(error.details !== undefined ? { details: maskJson(masker, error.details) } : {}) },
  };
}

interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdin: string | undefined;
  timeoutMs: number | undefined;
  signal: AbortSignal;
  /** The step's processes (process-tree.ts). */
  tree: StepTree;
  /** Called for each `::add-mask::` line of stdout, as it arrives. */
  onMask: (value: string) => void;
}

interface Ended {
  pid: number | undefined;
  ending: Ending;
  stop: StopReason | undefined;
  stdout: TailBuffer;
  stderr: TailBuffer;
}

/** Spawns the process and resolves once it has ended and its output is read; never rejects. */
function runProcess(program: string, args: string[], options: RunOptions): Promise<Ended> {
  return new Promise<Ended>((resolve) => {
    const stdout = new TailBuffer(SHELL_OUTPUT_LIMIT);
    const stderr = new TailBuffer(SHELL_OUTPUT_LIMIT);
    let stop: StopReason | undefined;
    let ending: Ending | undefined;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let fallback: NodeJS.Timeout | undefined;
    // The sweep for processes that left the group. It runs on its own: the step's result does not wait for the /proc
    // scan (tens of ms on a busy host), only for the command and its output.
    let sweep: Promise<unknown> | undefined;
    const lines = new LineScanner(options.onMask);

    const child: ChildProcess = spawn(program, args, {
      cwd: options.cwd,
      env: options.env,
      shell: false,
      detached: true,
      stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const pid = child.pid;
    if (pid !== undefined) options.tree.adopt(pid);

    const settle = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(fallback);
      options.signal.removeEventListener('abort', onAbort);
      lines.end();
      // A spawn failure, or an ending without 'exit': the tree (and its cgroup) is cleaned up all the same.
      sweep ??= options.tree.stop(SHELL_KILL_GRACE_MS).catch(() => 0);
      resolve({ pid, ending: ending ?? { kind: 'exit', code: null, signal: null }, stop, stdout, stderr });
    };
    const sweepTree = (): void => {
      sweep = options.tree.stop(SHELL_KILL_GRACE_MS).catch(() => 0);
    };
    const stopWith = (reason: StopReason): void => {
      if (stop !== undefined || ending !== undefined) return;
      stop = reason;
      if (pid !== undefined) killGroup(pid);
      sweepTree();
    };
    function onAbort(): void {
      stopWith(stopReasonFromSignal(options.signal, 'command'));
    }

    child.stdout?.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      lines.push(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    if (child.stdin) {
      // The child may exit without reading its input (EPIPE): that is its business, not a Station failure.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.stdin ?? '');
    }

    child.on('error', (error) => {
      // 'error' without a pid is a spawn failure; after a successful spawn it only reports a failed kill().
      if (pid !== undefined) return;
      ending = { kind: 'spawn-error', error };
      settle();
    });
    child.on('exit', (code, signal) => {
      ending = { kind: 'exit', code, signal };
      clearTimeout(timer);
      // Stop whatever the command left in its group: background processes would otherwise outlive the step and hold
      // the output pipes open, so 'close' would never come. (After a timeout or abort the group is being killed.)
      if (stop === undefined) {
        killGroup(pid ?? 0);
        sweepTree();
      }
      // A process that left the group (setsid) may still hold the pipes after SIGKILL: stop reading then.
      fallback = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        settle();
      }, SHELL_KILL_GRACE_MS + 500);
    });
    child.on('close', settle);

    if (pid === undefined) return;
    if (options.timeoutMs !== undefined) {
      const ms = options.timeoutMs;
      const message = `command timed out after ${formatSeconds(ms)}`;
      timer = setTimeout(() => stopWith({ kind: 'timeout', message }), ms);
    }
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * SIGTERM to the whole process group, then SIGKILL after the grace if any member is still there. The check keeps
 * running after the executor has returned: its answer does not wait for grandchildren that closed their output.
 */
export function killGroup(pgid: number): void {
  if (pgid <= 0 || !signalGroup(pgid, 'SIGTERM')) return;
  const deadline = Date.now() + SHELL_KILL_GRACE_MS;
  const poll = setInterval(() => {
    if (!signalGroup(pgid, 0)) clearInterval(poll);
    else if (Date.now() >= deadline) {
      clearInterval(poll);
      signalGroup(pgid, 'SIGKILL');
    }
  }, 100);
}

/** Sends `signal` to process group `pgid`; false when the group no longer exists. */
function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

function spawnFailure(code: string, program: string, what: string): ExecResult {
  return failed('STN_E_SHELL_SPAWN', `cannot start ${program}: ${what}`, {
    retryable: !PERMANENT_SPAWN_ERRORS.has(code),
    details: { errno: code },
  });
}

function toResult(ended: Ended, program: string): ExecResult {
  const { ending, stop } = ended;
  if (ending.kind === 'spawn-error') {
    const code = (ending.error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
    const what =
      code === 'ENOENT' ? 'command not found' : code === 'EACCES' ? 'permission denied' : ending.error.message;
    return spawnFailure(code, program, what);
  }

  const stdout = ended.stdout.text();
  const stderr = ended.stderr.text();
  const truncated = ended.stdout.truncated || ended.stderr.truncated;
  const details: JsonObject = { exitCode: ending.code, signal: ending.signal, stdout, stderr, truncated };
  if (stop !== undefined) return stoppedResult(stop, 'STN_E_SHELL_TIMEOUT', details);

  if (ending.code !== 0) {
    const how =
      ending.code === null ? `was killed by signal ${ending.signal ?? 'unknown'}` : `exited with code ${ending.code}`;
    const line = lastLine(stderr);
    return failed('STN_E_SHELL_EXIT', `command ${how}${line === '' ? '' : `: ${line}`}`, { retryable: true, details });
  }

  const output: JsonObject = { exitCode: 0, stdout, stderr, truncated };
  // A truncated stdout is a tail: it may still parse (as a number, say) but would not be the command's answer.
  const json = ended.stdout.truncated ? undefined : parseJsonText(stdout);
  if (json !== undefined) output.json = json;
  return ok(output);
}

/** A JSON object of the catalog's shape, or a message saying why not (the engine validated it: a guard, not a parser). */
function readInput(value: JsonValue): ShellInput | string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'shell.exec input must be an object';
  const input = value as ShellInput;
  if (input.command !== undefined) {
    if (!Array.isArray(input.command) || !input.command.every((a) => typeof a === 'string')) {
      return 'shell.exec command must be an array of strings';
    }
    if (input.script !== undefined) return 'shell.exec takes command or script, not both';
    return input;
  }
  if (typeof input.script !== 'string') return 'shell.exec needs command or script';
  if (input.shell !== true) return 'shell.exec script needs shell: true';
  return input;
}

async function checkDirectory(dir: string): Promise<string | undefined> {
  try {
    const info = await stat(dir);
    return info.isDirectory() ? undefined : `working directory ${dir} is not a directory`;
  } catch {
    return `working directory ${dir} does not exist`;
  }
}

/** The last non-empty line, shortened for a message. */
function lastLine(text: string): string {
  const line = text.trimEnd().split('\n').pop()?.trim() ?? '';
  return line.length > MESSAGE_LINE_LIMIT ? `${line.slice(0, MESSAGE_LINE_LIMIT)}…` : line;
}
