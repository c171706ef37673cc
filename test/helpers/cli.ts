import { execFileSync, spawnSync } from 'node:child_process';
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

export interface StnResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The test process's environment without Station's own STN_* settings, so they cannot leak into the CLI under test. */
export function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('STN_')) env[k] = v;
  return { ...env, ...extra };
}

/** Runs `node dist/src/cli/main.js <args>` in `cwd` and returns its exit status and output. */
export function stn(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): StnResult {
  const r = spawnSync(process.execPath, [STN, ...args], { cwd, env: cleanEnv(env), encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs stn and parses its stdout as JSON. */
export function stnJson<T = unknown>(args: string[], cwd: string): { status: number | null; json: T; stderr: string } {
  const r = stn(args, cwd);
  let json: T;
  try {
    json = JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stn ${args.join(' ')} did not print JSON (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  return { status: r.status, json, stderr: r.stderr };
}
