import { spawn, type ChildProcess } from 'node:child_process';
import { STN } from './cli.js';

/** A running `stn serve` child process on a free port. */
export interface ServeProc {
  url: string;
  proc: ChildProcess;
  /** The JSON log lines written so far (stderr). */
  logs(): Array<Record<string, unknown>>;
  /** SIGTERM, then waits for the exit; returns the exit code. */
  stop(): Promise<number | null>;
}

/** The test's environment without Station's own STN_* settings, plus `extra`. */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('STN_')) env[k] = v;
  return { ...env, ...extra };
}

/** Spawns the built `stn serve --port 0` in `repo` and resolves once it prints the address it listens on. */
export function startServe(repo: string, env: NodeJS.ProcessEnv = {}, args: string[] = [], timeoutMs = 30_000): Promise<ServeProc> {
  const proc = spawn(process.execPath, [STN, 'serve', '--port', '0', ...args], { cwd: repo, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  // 'close', not 'exit': it comes after the output pipes are drained, so logs() is complete once stop() resolves.
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`stn serve did not start within ${timeoutMs} ms:\n${stdout}\n${stderr.slice(-4000)}`));
    }, timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`stn serve exited (${code}) before listening:\n${stdout}\n${stderr.slice(-4000)}`));
    });
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const url = /listening on (http:\/\/[^\s/]+)/.exec(stdout)?.[1];
      if (!url) return;
      clearTimeout(timer);
      resolve({
        url,
        proc,
        logs: () =>
          stderr
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as Record<string, unknown>),
        stop: async () => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
          return exited;
        },
      });
    });
  });
}

/** Polls until `check` returns a value (not undefined) or the time runs out. */
export async function until<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
