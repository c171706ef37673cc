import { stnSync } from './procs.js';

export { cleanEnv, ensureBuilt, PROJECT_ROOT, STN } from './procs.js';

export interface StnResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/src/cli/main.js <args>` in `cwd` and returns its exit status and output. */
export function stn(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): StnResult {
  const { status, stdout, stderr } = stnSync(args, { cwd, env });
  return { status, stdout, stderr };
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
