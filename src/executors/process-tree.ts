/**
 * Finding and stopping every process a shell.exec step started, including those that left its process group
 * (`setsid`, daemonizing double forks). Each step's processes carry a marker variable, `STN_STEP_TREE=<random>`,
 * which children inherit; when the step ends, times out or is cancelled, /proc is scanned for processes whose
 * environment holds the marker, and they get SIGTERM, then SIGKILL after the grace. /proc lists the processes of the
 * daemon's PID namespace, so this works in containers too. A process that exec()s with a cleared environment
 * escapes it (docs/reliability.md "Step process trees").
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';

/** The variable that marks a step's processes. */
export const TREE_MARKER_VAR = 'STN_STEP_TREE';

/** A fresh marker value for one spawn. */
export function newTreeMarker(): string {
  return randomBytes(12).toString('hex');
}

/** PIDs of this PID namespace's processes (other than this one) whose initial environment holds `VAR=marker`. */
export async function markedProcesses(marker: string): Promise<number[]> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return []; // no /proc (macOS): the process group kill is all there is
  }
  const needle = Buffer.from(`\0${TREE_MARKER_VAR}=${marker}\0`);
  const first = Buffer.from(`${TREE_MARKER_VAR}=${marker}\0`);
  const found: number[] = [];
  await Promise.all(
    entries.map(async (name) => {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return;
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

/**
 * SIGTERM to every process carrying the marker, then SIGKILL to those still there after `graceMs`. Resolves once the
 * SIGTERMs are sent (the SIGKILL follow-up runs on its own); resolves with the number of processes signalled.
 */
export async function killMarked(marker: string, graceMs: number): Promise<number> {
  const pids = await markedProcesses(marker);
  const signalled = pids.filter((pid) => signal(pid, 'SIGTERM'));
  if (signalled.length > 0) {
    const timer = setTimeout(() => {
      void markedProcesses(marker).then((left) => {
        for (const pid of left) signal(pid, 'SIGKILL');
      });
    }, graceMs);
    timer.unref();
  }
  return signalled.length;
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
