import { execFileSync } from 'node:child_process';

/** Makes `repo` a Git repository with everything in it committed, as a fixed bench identity. */
export function gitInit(repo: string, message: string): void {
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'bench',
    GIT_AUTHOR_EMAIL: 'bench@station.invalid',
    GIT_COMMITTER_NAME: 'bench',
    GIT_COMMITTER_EMAIL: 'bench@station.invalid',
  };
  execFileSync('git', ['-c', 'init.defaultBranch=main', 'init', '-q'], { cwd: repo, env });
  execFileSync('git', ['add', '-A'], { cwd: repo, env });
  execFileSync('git', ['commit', '-q', '--no-verify', '-m', message], { cwd: repo, env });
}

/** The environment without the caller's STN_* settings, which must not change what is measured. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STN_')));
}
