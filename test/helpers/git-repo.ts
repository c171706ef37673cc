import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Git settings for test repositories: a fixed identity, and no system or global config, so the tests neither need
 * nor are disturbed by the machine's git setup (signing, hooks, templates).
 */
export const GIT_ENV: NodeJS.ProcessEnv = {
  GIT_AUTHOR_NAME: 'Station Test',
  GIT_AUTHOR_EMAIL: 'test@station.invalid',
  GIT_COMMITTER_NAME: 'Station Test',
  GIT_COMMITTER_EMAIL: 'test@station.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: os.devNull,
};

/** A real Git repository in a fresh temp folder. */
export interface GitRepo {
  /** Absolute path of the checkout. */
  readonly dir: string;
  /** Writes a file (path relative to the checkout, with /), creating folders. */
  write(rel: string, content: string): void;
  /** Reads a file of the checkout. */
  read(rel: string): string;
  /** Deletes a file (or folder) from the working tree; commit() records the deletion. */
  remove(rel: string): void;
  /** Stages everything and commits; returns the new HEAD sha. */
  commit(message?: string): string;
  /** Runs git in the checkout and returns its trimmed stdout. */
  git(...args: string[]): string;
  /** Removes the temp folder. */
  cleanup(): void;
}

/** Creates a temp folder holding a fresh repository on branch main, with no commits yet. */
export function createGitRepo(prefix = 'stn-test-'): GitRepo {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: dir, env: { ...process.env, ...GIT_ENV }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  git('-c', 'init.defaultBranch=main', 'init', '-q');
  const abs = (rel: string) => path.join(dir, ...rel.split('/'));
  return {
    dir,
    write(rel, content) {
      fs.mkdirSync(path.dirname(abs(rel)), { recursive: true });
      fs.writeFileSync(abs(rel), content);
    },
    read(rel) {
      return fs.readFileSync(abs(rel), 'utf8');
    },
    remove(rel) {
      fs.rmSync(abs(rel), { recursive: true, force: true });
    },
    commit(message = 'change') {
      git('add', '-A');
      git('commit', '-q', '--allow-empty', '--no-verify', '-m', message);
      return git('rev-parse', 'HEAD');
    },
    git,
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A temp folder that is not a Git checkout. */
export function createTempDir(prefix = 'stn-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
