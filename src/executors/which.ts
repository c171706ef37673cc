import fs from 'node:fs';
import path from 'node:path';

/** Where a program is, as execvp would find it, or why it cannot be started (an errno code). */
export type Found = { path: string } | { code: 'ENOENT' | 'EACCES' };

/** The default search path when the step environment has no PATH (what execvp and libuv use). */
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * Finds `program` like execvp: a name with a slash relative to `cwd`, otherwise the first executable file of that name
 * in `pathVar`. Used when the command is started through a wrapper (cgroup.ts), so that "not found" and "permission
 * denied" stay spawn errors of the command, not exit codes of the wrapper.
 */
export function findProgram(program: string, pathVar: string | undefined, cwd: string): Found {
  if (program.includes('/')) return check(path.resolve(cwd, program)) ?? { path: path.resolve(cwd, program) };
  let denied = false;
  for (const dir of (pathVar ?? DEFAULT_PATH).split(':')) {
    const candidate = path.resolve(cwd, dir === '' ? '.' : dir, program);
    const problem = check(candidate);
    if (problem === undefined) return { path: candidate };
    if (problem.code === 'EACCES') denied = true;
  }
  return { code: denied ? 'EACCES' : 'ENOENT' };
}

function check(file: string): { code: 'ENOENT' | 'EACCES' } | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return { code: 'ENOENT' };
  }
  if (!stat.isFile()) return { code: 'EACCES' };
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return undefined;
  } catch {
    return { code: 'EACCES' };
  }
}
