import { pollUntil, startStnServe, type ServeProcess } from './procs.js';

/** A running `stn serve` child process on a free port. */
export type ServeProc = ServeProcess;

/** Spawns the built `stn serve --port 0` in `repo` and resolves once it prints the address it listens on. */
export function startServe(repo: string, env: NodeJS.ProcessEnv = {}, args: string[] = [], timeoutMs = 30_000): Promise<ServeProc> {
  return startStnServe(['serve', '--port', '0', ...args], { cwd: repo, env, timeoutMs });
}

/** Polls until `check` returns a value (not undefined) or the time runs out. */
export function until<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  return pollUntil(what, check, timeoutMs, 50);
}
