import { pollUntil, startStnServe, type ServeProcess } from './procs.js';

export type { ServeProcess } from './procs.js';

/**
 * Spawns the built `stn --repo <repo> serve --port 0` and waits for its "listening on" line; rejects with its output
 * if it exits first or takes longer than `timeoutMs`.
 */
export function spawnServe(repo: string, args: string[] = [], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<ServeProcess> {
  return startStnServe(['--repo', repo, 'serve', '--port', '0', ...args], { cwd: repo, env, timeoutMs });
}

/** Polls `fn` until it returns a value other than undefined, or throws after `timeoutMs`. */
export function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000, everyMs = 25): Promise<T> {
  return pollUntil(what, fn, timeoutMs, everyMs);
}
