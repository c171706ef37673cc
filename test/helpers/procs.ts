/**
 * The one place tests start real `stn` processes and wait for things: the built CLI, the environment handed to it,
 * one-shot commands (blocking or not), a `stn serve` up to its "listening on" line, and polling.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The built CLI; `npm test` builds it before the tests run. */
export const STN = path.join(PROJECT_ROOT, 'dist', 'src', 'cli', 'main.js');

/** Builds the CLI when it is missing (running vitest directly, without `npm test`). */
export function ensureBuilt(): void {
  if (fs.existsSync(STN)) return;
  execFileSync('npm', ['run', 'build'], { cwd: PROJECT_ROOT, stdio: 'ignore' });
}

/** The test process's environment without Station's own STN_* settings, so they cannot leak into the CLI under test. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('STN_')) env[k] = v;
  return { ...env, ...extra };
}

export interface ProcResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Date.now() right after the process exited. */
  exitedAt: number;
}

export interface StnOptions {
  cwd: string;
  /** Added to the cleaned environment. */
  env?: NodeJS.ProcessEnv;
  /** The process is killed after this long (SIGKILL for a background one). */
  timeoutMs?: number;
}

/** Runs `node dist/src/cli/main.js <args>` to its end (blocking) and returns its exit status and output. */
export function stnSync(args: string[], o: StnOptions): ProcResult {
  const r = spawnSync(process.execPath, [STN, ...args], { cwd: o.cwd, env: cleanEnv(o.env), encoding: 'utf8', timeout: o.timeoutMs ?? 30_000 });
  const exitedAt = Date.now();
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, exitedAt };
}

/** Starts stn without blocking the test: its output so far, and its result once it has exited and closed its output. */
export function stnSpawn(args: string[], o: StnOptions): { child: ChildProcess; output: () => string; errorOutput: () => string; done: Promise<ProcResult> } {
  const child = spawn(process.execPath, [STN, ...args], { cwd: o.cwd, env: cleanEnv(o.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = o.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), o.timeoutMs);
  let exitedAt = 0;
  child.on('exit', () => (exitedAt = Date.now()));
  const done = new Promise<ProcResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, exitedAt: exitedAt || Date.now() });
    });
  });
  return { child, output: () => stdout, errorOutput: () => stderr, done };
}

/** A `stn serve` child process. */
export interface ServeProcess {
  proc: ChildProcess;
  /** Base URL printed on stdout once the daemon is up, e.g. http://127.0.0.1:41234. */
  url: string;
  stdout(): string;
  /** stderr so far (pino JSON lines). */
  stderr(): string;
  /** Parsed JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** Sends a signal (SIGKILL after `timeoutMs`) and resolves with the exit code once the output is drained. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** The exit code, once the process has exited and its output pipes are drained (so logs() is complete). */
  exited: Promise<number | null>;
}

/**
 * Spawns the built `stn <args>` (a `serve` command) and resolves once it prints the address it listens on; rejects
 * with its output if it exits first or takes longer than `timeoutMs`.
 */
export function startStnServe(args: string[], o: StnOptions): Promise<ServeProcess> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const { child: proc, output, errorOutput, done } = stnSpawn(args, { cwd: o.cwd, env: o.env ?? {} });
  const exited = done.then((r) => r.status);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`stn serve did not start within ${timeoutMs} ms\nstdout:\n${output()}\nstderr:\n${errorOutput().slice(-4000)}`));
    }, timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`stn serve exited (${code}) before listening\nstdout:\n${output()}\nstderr:\n${errorOutput().slice(-4000)}`));
    });
    const check = (): void => {
      const url = /listening on (http:\/\/[^\s/]+)/.exec(output())?.[1];
      if (!url) return;
      clearTimeout(timer);
      proc.stdout?.off('data', check);
      resolve({
        proc,
        url,
        stdout: output,
        stderr: errorOutput,
        logs: () =>
          errorOutput()
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as Record<string, unknown>),
        async stop(signal = 'SIGTERM', ms = 40_000) {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
          const killer = setTimeout(() => proc.kill('SIGKILL'), ms);
          const code = await exited;
          clearTimeout(killer);
          return code;
        },
        exited,
      });
    };
    proc.stdout?.on('data', check);
  });
}

/** Polls `probe` until it returns something other than undefined, or fails naming `what` after `timeoutMs`. */
export async function pollUntil<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
