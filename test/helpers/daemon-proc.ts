import { spawn, type ChildProcess } from 'node:child_process';
import { STN } from './cli.js';

/** A `stn serve` child process on a test repository. */
export interface ServeProcess {
  proc: ChildProcess;
  /** Base URL printed on stdout once the daemon is up, e.g. http://127.0.0.1:41234. */
  url: string;
  stdout(): string;
  /** stderr so far (pino JSON lines). */
  stderr(): string;
  /** Parsed JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('STN_')) env[k] = v;
  return { ...env, ...extra };
}

/**
 * Spawns the built `stn serve --port 0` and waits for its "listening on" line; rejects with its output if it exits
 * first or takes longer than `timeoutMs`.
 */
export function spawnServe(repo: string, args: string[] = [], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<ServeProcess> {
  const proc = spawn(process.execPath, [STN, '--repo', repo, 'serve', '--port', '0', ...args], { cwd: repo, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`stn serve did not start within ${timeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`));
    }, timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`stn serve exited with ${code} before listening\nstdout:\n${out}\nstderr:\n${err}`));
    });
    const check = () => {
      const m = /listening on (http:\/\/\S+?)\/api\/v1/.exec(out);
      if (!m?.[1]) return;
      clearTimeout(timer);
      proc.stdout.off('data', check);
      resolve({
        proc,
        url: m[1],
        stdout: () => out,
        stderr: () => err,
        logs: () =>
          err
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as Record<string, unknown>),
        async stop(signal = 'SIGTERM', ms = 40_000) {
          if (proc.exitCode !== null) return proc.exitCode;
          proc.kill(signal);
          const killer = setTimeout(() => proc.kill('SIGKILL'), ms);
          const code = await exited;
          clearTimeout(killer);
          return code;
        },
        exited,
      });
    };
    proc.stdout.on('data', check);
  });
}

/** Polls `fn` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
