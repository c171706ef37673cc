import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { StationError } from '../errors.js';
import { GitRunner, gitErrorText, isSpawnFailure } from './git-runner.js';

/** Git facts about the checkout, read through the git runner. A folder that is not a Git checkout gives nulls. */
export class GitInfo {
  private readonly git: GitRunner;
  readonly isRepo: boolean;
  private readonly gitDir: string | undefined;

  constructor(readonly repo: string) {
    this.gitDir = findGitDir(repo);
    this.isRepo = this.gitDir !== undefined;
    this.git = new GitRunner(repo);
  }

  /** The commit HEAD points at, or null before the first commit / outside Git. */
  async head(): Promise<string | null> {
    if (!this.gitDir) return null;
    const fast = readHead(this.gitDir);
    if (fast !== undefined) return fast;
    try {
      return (await this.git.line('rev-parse', '--verify', '-q', 'HEAD')) || null;
    } catch {
      return null;
    }
  }

  /** Set once a git command could not be started (git is not on PATH). */
  missing = false;

  /** Whether the git program can be run (`git --version`); false when it is not on PATH. */
  async available(): Promise<boolean> {
    try {
      await this.git.run(['--version']);
      this.missing = false;
      return true;
    } catch (err) {
      if (!isSpawnFailure(err)) throw err;
      this.missing = true;
      return false;
    }
  }

  /**
   * How HEAD compares with the remote-tracking branch `<remote>/<branch>` as last fetched (no fetch): commits only
   * HEAD has (`ahead`: local commits, or a remote whose history was rewritten) and only the remote has. Null outside
   * Git, on a detached HEAD, without such a remote-tracking branch, or when git is missing.
   */
  async comparedWithRemote(remote: string, branch?: string): Promise<{ upstream: string; ahead: number; behind: number } | null> {
    if (!this.isRepo) return null;
    try {
      const b = branch ?? await this.git.line('symbolic-ref', '--quiet', '--short', 'HEAD');
      if (!b) return null;
      const ref = `refs/remotes/${remote}/${b}`;
      if (!(await this.git.line('rev-parse', '--verify', '--quiet', ref))) return null;
      const [ahead, behind] = (await this.git.line('rev-list', '--left-right', '--count', `HEAD...${ref}`)).split(/\s+/).map(Number);
      return { upstream: `${remote}/${b}`, ahead: ahead ?? 0, behind: behind ?? 0 };
    } catch (err) {
      if (isSpawnFailure(err)) this.missing = true;
      return null;
    }
  }

  /**
   * Blob ids of the files under the given folders in a commit (`git ls-tree`, paths relative to the repository). One
   * call answers for thousands of files and, unlike `git status`, never re-reads the work tree.
   */
  async treeBlobs(commit: string, folders: string[]): Promise<Map<string, string> | null> {
    const out = new Map<string, string>();
    if (!this.isRepo) return out;
    let raw: string;
    try {
      raw = await this.git.run(['ls-tree', '-r', '-z', commit, '--', ...folders]);
    } catch (err) {
      // Without git the versions are still recorded, with their commit (read from .git) but no dirty/untracked flag.
      if (isSpawnFailure(err)) {
        this.missing = true;
        return null;
      }
      throw new StationError('STN_E_GIT', `git ls-tree ${commit.slice(0, 12)} failed in ${this.repo}: ${gitErrorText(err)}`, undefined, { cause: err });
    }
    this.missing = false;
    for (const entry of raw.split('\0')) {
      // "<mode> blob <sha>\t<path>"
      const tab = entry.indexOf('\t');
      if (tab < 0) continue;
      const [, type, sha] = entry.slice(0, tab).split(' ');
      if (type === 'blob' && sha) out.set(entry.slice(tab + 1), sha);
    }
    return out;
  }
}

/** Git's object id of file content: compared with the commit's blob, it tells whether a file has local changes. */
export function gitBlobSha(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');
}

/** The .git folder of the checkout containing dir (a `.git` file, as in worktrees, is followed). */
function findGitDir(dir: string): string | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const dotGit = path.join(d, '.git');
    try {
      const stat = fs.statSync(dotGit);
      if (stat.isDirectory()) return dotGit;
      const m = /^gitdir:\s*(.+)$/m.exec(fs.readFileSync(dotGit, 'utf8'));
      if (m?.[1]) return path.resolve(d, m[1].trim());
    } catch {
      // not here: look further up
    }
    if (path.dirname(d) === d) return undefined;
  }
}

/**
 * Resolves HEAD from the files in .git, which costs microseconds where spawning git costs milliseconds (it runs on
 * every sync, including the watcher's incremental ones). Anything unusual (packed refs, worktree indirection)
 * answers undefined, and the caller asks git itself.
 */
function readHead(gitDir: string): string | null | undefined {
  try {
    const head = fs.readFileSync(path.join(gitDir, 'HEAD'), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(head)) return head;
    const ref = /^ref: (refs\/[^\s]+)$/.exec(head)?.[1];
    if (!ref) return undefined;
    const file = path.join(gitDir, ref);
    if (!fs.existsSync(file)) return undefined;
    const sha = fs.readFileSync(file, 'utf8').trim();
    return /^[0-9a-f]{40}$/.test(sha) ? sha : undefined;
  } catch {
    return undefined;
  }
}
