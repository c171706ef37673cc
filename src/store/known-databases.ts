import fs from 'node:fs';
import path from 'node:path';

/**
 * Which database files Station has used for a checkout, remembered in the checkout's Git directory
 * (`.git/station-databases`, one absolute path a line). It lives outside the database's own folder on purpose: when
 * `.station/` is deleted (`git clean -fdx`, a careless `rm -rf`), the next start must not silently begin again with
 * an empty database and lose every run. A checkout that is not a Git repository has no such memory.
 */
function listFile(repo: string): string | undefined {
  const dotGit = path.join(repo, '.git');
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dotGit);
  } catch {
    return undefined;
  }
  if (stat.isDirectory()) return path.join(dotGit, 'station-databases');
  // A linked worktree: `.git` is a file naming the real Git directory.
  const m = /^gitdir:\s*(.+)$/m.exec(fs.readFileSync(dotGit, 'utf8'));
  return m?.[1] ? path.join(path.resolve(repo, m[1].trim()), 'station-databases') : undefined;
}

function read(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Whether Station has used a database at `dbFile` for this checkout before. */
export function databaseWasKnown(repo: string, dbFile: string): boolean {
  const file = listFile(repo);
  return file !== undefined && read(file).includes(path.resolve(dbFile));
}

/** Remembers `dbFile` for this checkout (best effort: a read-only Git directory only loses the protection). */
export function rememberDatabase(repo: string, dbFile: string): void {
  const file = listFile(repo);
  if (!file) return;
  const abs = path.resolve(dbFile);
  if (read(file).includes(abs)) return;
  try {
    fs.appendFileSync(file, `${abs}\n`);
  } catch {
    // Not remembered: a later deletion of the database cannot be told from a first start.
  }
}
