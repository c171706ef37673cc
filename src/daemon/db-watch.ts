import fs from 'node:fs';

/** How often the daemon checks that its database file is still the one it opened. */
export const DB_WATCH_MS = 1_000;

/**
 * Notices when the daemon's database file is deleted or replaced under it (its folder removed by `git clean -fdx`
 * or `rm -rf .station`): SQLite keeps writing to the open, now nameless, file, and everything would be lost at exit.
 * Compares the path's device and inode with those seen at start.
 */
export class DatabaseWatch {
  private timer: NodeJS.Timeout | undefined;
  private readonly identity: string | undefined;
  private fired = false;

  constructor(
    private readonly file: string,
    private readonly onVanished: (why: string) => void,
  ) {
    this.identity = identityOf(file);
  }

  start(): void {
    if (this.identity === undefined || this.timer) return;
    this.timer = setInterval(() => this.check(), DB_WATCH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Checks once (the timer calls this); fires at most once. */
  check(): void {
    if (this.fired) return;
    const now = identityOf(this.file);
    if (now === this.identity) return;
    this.fired = true;
    this.stop();
    this.onVanished(now === undefined ? `${this.file} no longer exists` : `${this.file} was replaced by another file`);
  }
}

function identityOf(file: string): string | undefined {
  try {
    const st = fs.statSync(file);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}
