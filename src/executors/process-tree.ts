/**
 * Finding and stopping every process a shell.exec step started, including those that left its process group
 * (`setsid`, daemonizing double forks), two ways at once:
 * - a cgroup v2 per step when this process may create them (cgroup.ts): everything the step starts is inside;
 * - a marker variable, `STN_STEP_TREE=<random>`, which children inherit: /proc is scanned for processes whose
 *   environment holds it. /proc lists the processes of the daemon's PID namespace, so this works in containers too;
 *   a process that exec()s with a cleared environment escapes it (the cgroup does not let it).
 * When the step ends, times out or is cancelled, they get SIGTERM, then SIGKILL after the grace
 * (docs/reliability.md "Step process trees").
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { StepCgroup } from './cgroup.js';

/** The variable that marks a step's processes. */
export const TREE_MARKER_VAR = 'STN_STEP_TREE';

/** A fresh marker value for one spawn. */
export function newTreeMarker(): string {
  return randomBytes(12).toString('hex');
}

/** Past this, PIDs may have wrapped around (pid_max can be as low as 32768) and the PID filter is not used. */
const PID_FILTER_MAX_MS = 60_000;

/**
 * PIDs of this PID namespace's processes (other than this one) whose initial environment holds `VAR=marker`. With
 * `sincePid`, only PIDs above it are read: a step's processes were all forked after its first one, so unless the PID
 * counter wrapped (checked with ns_last_pid), they have higher PIDs. That keeps the scan to the processes started
 * since, not every process of the machine.
 */
export async function markedProcesses(marker: string, sincePid?: number): Promise<number[]> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return []; // no /proc (macOS): the process group kill is all there is
  }
  const floor = sincePid !== undefined && (await lastPid()) >= sincePid ? sincePid : 1;
  const needle = Buffer.from(`\0${TREE_MARKER_VAR}=${marker}\0`);
  const first = Buffer.from(`${TREE_MARKER_VAR}=${marker}\0`);
  const found: number[] = [];
  await Promise.all(
    entries.map(async (name) => {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid < floor || pid <= 1 || pid === process.pid) return;
      let environ: Buffer;
      try {
        environ = await readFile(`/proc/${pid}/environ`);
      } catch {
        return; // gone, or another user's process (never ours then)
      }
      if (environ.includes(needle) || environ.subarray(0, first.length).equals(first)) found.push(pid);
    }),
  );
  return found;
}

/** The last PID handed out in this PID namespace; 0 when unknown (then everything is scanned). */
async function lastPid(): Promise<number> {
  try {
    return Number((await readFile('/proc/sys/kernel/ns_last_pid', 'utf8')).trim()) || 0;
  } catch {
    return 0;
  }
}

/** The processes of one step: its marker, and its cgroup where cgroups are available. */
export class StepTree {
  readonly marker = newTreeMarker();
  private cgroup: StepCgroup | undefined;
  private rootPid: number | undefined;
  private readonly startedAt = Date.now();

  /** `useCgroups`: station.yaml `steps.cgroups` (used only where this process may create cgroups). */
  constructor(useCgroups: boolean) {
    this.cgroup = useCgroups ? StepCgroup.create() : undefined;
  }

  /** How the tree is tracked, for the log. */
  get mode(): 'cgroup' | 'marker' {
    return this.cgroup ? 'cgroup' : 'marker';
  }

  /** The cgroup.procs file the step's command moves itself into (MOVE_AND_EXEC), when there is a cgroup. */
  get cgroupProcs(): string | undefined {
    return this.cgroup?.procsFile;
  }

  /** Records the step's first process (its PID bounds the /proc scan). */
  adopt(pid: number): void {
    this.rootPid = pid;
  }

  /** The marked processes, scanning only PIDs after the step's first one while that is safe. */
  private marked(): Promise<number[]> {
    const recent = Date.now() - this.startedAt < PID_FILTER_MAX_MS;
    return markedProcesses(this.marker, recent ? this.rootPid : undefined);
  }

  /**
   * SIGTERM to every process of the tree, then SIGKILL to those still there after `graceMs`, then the cgroup is
   * removed. Resolves once the SIGTERMs are sent (the rest runs on its own), with the number of processes signalled.
   */
  async stop(graceMs: number): Promise<number> {
    // With a cgroup, its member list is the tree (one small read); otherwise /proc is scanned for the marker.
    const pids = this.cgroup ? this.cgroup.members() : await this.marked();
    const signalled = pids.filter((pid) => signal(pid, 'SIGTERM'));
    const cgroup = this.cgroup;
    if (signalled.length === 0 && (cgroup === undefined || cgroup.remove())) return 0;
    const timer = setTimeout(() => {
      if (cgroup) {
        cgroup.killAll();
        removeWhenEmpty(cgroup);
        return;
      }
      void this.marked().then((left) => {
        for (const pid of left) signal(pid, 'SIGKILL');
      });
    }, graceMs);
    timer.unref();
    return signalled.length;
  }
}

/** The cgroup can only go once the killed processes are reaped: a few tries. */
function removeWhenEmpty(cgroup: StepCgroup, tries = 50): void {
  if (cgroup.remove() || tries <= 0) return;
  setTimeout(() => removeWhenEmpty(cgroup, tries - 1), 100).unref();
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
