/**
 * The one way Station runs git: `git <args>` in the checkout, with a time limit, never waiting for a password
 * prompt, in the C locale, and failures carrying git's stderr. GitInfo (facts for sync) and GitPoller (fetch and
 * fast-forward) both call it.
 */
import { execFile } from 'node:child_process';

/** A git command that takes longer than this is killed (a hung remote must not stall the daemon forever). */
export const GIT_TIMEOUT_MS = 60_000;

/** What one command may print before it is cut off. */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** A failed git command: the child_process error, with git's stderr and whether the time limit killed it. */
export interface GitFailure extends Error {
  code?: unknown;
  stderr?: string;
  killed?: boolean;
}

/** Runs git commands in one checkout. */
export class GitRunner {
  constructor(readonly cwd: string) {}

  /** git's stdout, as printed (callers trim what they parse as a line); rejects with a GitFailure. */
  run(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        'git',
        args,
        {
          cwd: this.cwd,
          timeout: GIT_TIMEOUT_MS,
          maxBuffer: MAX_OUTPUT_BYTES,
          // Never wait for a password prompt in a daemon; English messages in logs whatever the host's locale.
          env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'echo', LC_ALL: 'C' },
        },
        (err, stdout, stderr) => {
          if (err) reject(Object.assign(err, { stderr: String(stderr) }));
          else resolve(String(stdout));
        },
      );
    });
  }

  /** The command's stdout without surrounding whitespace (one ref, one count line, …). */
  async line(...args: string[]): Promise<string> {
    return (await this.run(args)).trim();
  }
}

/** The git program could not be started (ENOENT: not on PATH; EACCES: not executable). */
export function isSpawnFailure(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e?.code === 'ENOENT' || e?.code === 'EACCES') return true;
  return typeof e?.message === 'string' && /spawn git (ENOENT|EACCES)/.test(e.message);
}

/** git's own words for a failure (its stderr, else the error message), on one line, without a stack. */
export function gitErrorText(err: unknown): string {
  const e = err as GitFailure;
  if (e.killed) return `git timed out after ${GIT_TIMEOUT_MS / 1000} s`;
  const text = (e.stderr?.trim() || e.message || String(err)).split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ');
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
