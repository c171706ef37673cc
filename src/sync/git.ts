import fs from 'node:fs';
import path from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';

export interface FileGitState {
  dirty: boolean;
  untracked: boolean;
}

/** Git facts about the checkout, read through simple-git. A folder that is not a Git checkout gives nulls. */
export class GitInfo {
  private readonly git: SimpleGit;
  private prefix: string | undefined;
  readonly isRepo: boolean;

  constructor(readonly repo: string) {
    this.isRepo = findGitDir(repo) !== undefined;
    this.git = simpleGit({ baseDir: repo, maxConcurrentProcesses: 2 });
  }

  /** The commit HEAD points at, or null before the first commit / outside Git. */
  async head(): Promise<string | null> {
    if (!this.isRepo) return null;
    try {
      return (await this.git.revparse(['--verify', '-q', 'HEAD'])).trim() || null;
    } catch {
      return null;
    }
  }

  /**
   * Dirty/untracked state of the files under the given folders, in one `git status`. Files not in the answer are
   * clean and tracked.
   */
  async fileStates(paths: string[]): Promise<Map<string, FileGitState>> {
    const out = new Map<string, FileGitState>();
    if (!this.isRepo || paths.length === 0) return out;
    // Porcelain paths are relative to the top of the Git checkout, which may be above the Station repository.
    this.prefix ??= (await this.git.raw(['rev-parse', '--show-prefix'])).trim();
    const prefix = this.prefix;
    const raw = await this.git.raw(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--', ...paths]);
    // -z: entries are NUL-separated "XY path"; a rename carries its old path as the next entry.
    const parts = raw.split('\0');
    for (let i = 0; i < parts.length; i++) {
      const entry = parts[i] as string;
      if (entry.length < 4) continue;
      const xy = entry.slice(0, 2);
      const file = entry.slice(3);
      if (!file.startsWith(prefix)) continue;
      out.set(file.slice(prefix.length), { dirty: xy !== '??', untracked: xy === '??' });
      if (xy[0] === 'R' || xy[0] === 'C') i++;
    }
    return out;
  }
}

function findGitDir(dir: string): string | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, '.git'))) return d;
    if (path.dirname(d) === d) return undefined;
  }
}
