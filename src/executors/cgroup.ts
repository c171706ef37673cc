/**
 * cgroup v2 for step processes, where this process may create cgroups below its own (root, or a delegated cgroup):
 * each step's processes go into a cgroup of their own, so they can be listed and killed whatever they do (setsid,
 * double forks, a cleared environment). Probed once; anything that fails turns it off for this process, and the
 * marker scan (process-tree.ts) still runs.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The command line that moves itself into a cgroup and then becomes the step's command: `sh -c MOVE_AND_EXEC
 * <cgroup.procs> <program> <args...>`. The move happens before the command runs, so nothing it forks is left outside;
 * were the write to fail, the command runs anyway (the marker still finds its processes).
 */
export const MOVE_AND_EXEC = 'echo $$ > "$0" 2>/dev/null; exec "$@"';
export const SHELL = '/bin/sh';

let base: string | null | undefined;

/** This process's folder of step cgroups (created on first use), or undefined when cgroup v2 is not writable here. */
export function cgroupBase(): string | undefined {
  if (base !== undefined) return base ?? undefined;
  base = probe() ?? null;
  return base ?? undefined;
}

/** Turns cgroups off for the rest of this process (a write that failed where the probe succeeded). */
export function disableCgroups(): void {
  base = null;
}

function probe(): string | undefined {
  try {
    const own = /^0::(\/.*)$/m.exec(fs.readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
    if (own === undefined) return undefined;
    const mount = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' - '))
      .find(([, after]) => after?.startsWith('cgroup2 '))?.[0]
      ?.split(' ')[4];
    if (mount === undefined) return undefined;
    const parent = path.join(mount, own);
    removeStale(parent);
    const dir = path.join(parent, `stn-${process.pid}`);
    fs.mkdirSync(dir, { recursive: true });
    if (!canMoveInto(dir)) {
      fs.rmdirSync(dir);
      return undefined;
    }
    process.once('exit', () => removeTree(dir));
    return dir;
  } catch {
    return undefined;
  }
}

/** Removes this process's step cgroups that are empty, then its folder (best effort, when the process exits). */
function removeTree(dir: string): void {
  try {
    for (const name of fs.readdirSync(dir)) {
      if (!name.startsWith('step-')) continue;
      try {
        fs.rmdirSync(path.join(dir, name));
      } catch {
        // still populated: a process that outlived its step by less than the kill grace
      }
    }
    fs.rmdirSync(dir);
  } catch {
    // left for the operator; an empty cgroup costs nothing
  }
}

/** The folders of Station processes that died without cleaning up (killed): removed when empty. */
function removeStale(parent: string): void {
  for (const name of fs.readdirSync(parent)) {
    const pid = /^stn-(\d+)$/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || fs.existsSync(`/proc/${pid}`)) continue;
    removeTree(path.join(parent, name));
  }
}

/** Whether a process of ours can move itself into a new cgroup under `dir` (permissions, delegation, cgroup type). */
function canMoveInto(dir: string): boolean {
  const probe = path.join(dir, 'probe');
  try {
    fs.mkdirSync(probe);
    const r = spawnSync(SHELL, ['-c', 'echo $$ > "$0"', path.join(probe, 'cgroup.procs')], { stdio: 'ignore', timeout: 5_000 });
    return r.status === 0;
  } catch {
    return false;
  } finally {
    try {
      fs.rmdirSync(probe);
    } catch {
      // never created
    }
  }
}

/** One step's cgroup: created empty, entered by the step's command (MOVE_AND_EXEC), emptied and removed at the end. */
export class StepCgroup {
  private constructor(readonly dir: string) {}

  /** A new empty cgroup, or undefined when cgroups are not available. */
  static create(): StepCgroup | undefined {
    const root = cgroupBase();
    if (root === undefined) return undefined;
    const dir = path.join(root, `step-${randomBytes(6).toString('hex')}`);
    try {
      fs.mkdirSync(dir);
      return new StepCgroup(dir);
    } catch {
      disableCgroups();
      return undefined;
    }
  }

  /** The file a process writes its PID to, to move into this cgroup. */
  get procsFile(): string {
    return path.join(this.dir, 'cgroup.procs');
  }

  /** PIDs in the cgroup now. */
  members(): number[] {
    try {
      return fs
        .readFileSync(path.join(this.dir, 'cgroup.procs'), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map(Number);
    } catch {
      return [];
    }
  }

  /** SIGKILL to everything inside at once (cgroup.kill, Linux 5.14+), or one by one. */
  killAll(): void {
    try {
      fs.writeFileSync(path.join(this.dir, 'cgroup.kill'), '1');
      return;
    } catch {
      for (const pid of this.members()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  }

  /** Removes the cgroup once it is empty; true when it is gone. */
  remove(): boolean {
    try {
      fs.rmdirSync(this.dir);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT';
    }
  }
}
