import fs from 'node:fs';
import os from 'node:os';

/**
 * The clock leases are measured on. Lease deadlines are compared across processes, so every engine on one database
 * must read the same clock: the host's monotonic clock (CLOCK_MONOTONIC) is shared by every process of one kernel boot,
 * containers included, and is never stepped by NTP or an operator, so a wall-clock jump neither expires a lease early
 * nor keeps a dead engine's lease alive. A SQLite database is only ever shared by processes of one kernel (WAL needs
 * shared memory), which is what makes this clock valid; `boot` tells a lease of an earlier boot (expired by definition).
 */
export interface LeaseClock {
  now(): number;
  readonly boot: string;
}

/** Milliseconds of the host's monotonic clock (the same value in every process of this boot). */
export function hostMonotonicMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1000 + Math.floor(ns / 1e6);
}

/** Where this process runs: the kernel boot and the PID namespace, as far as the OS tells. */
export interface HostIdentity {
  /** Linux: /proc/sys/kernel/random/boot_id; elsewhere an estimate from the boot time. */
  bootId: string;
  /** Linux: the inode of /proc/self/ns/pid (`pid:[4026531836]`); null where it cannot be read. */
  pidNs: string | null;
}

let identity: HostIdentity | undefined;

export function hostIdentity(): HostIdentity {
  identity ??= { bootId: readBootId(), pidNs: readPidNamespace() };
  return identity;
}

function readBootId(): string {
  try {
    const id = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    if (id) return id;
  } catch {
    // not Linux: fall through
  }
  // The boot time to the minute (a clock step of less than that does not change it).
  return `${os.hostname()}@${Math.round((Date.now() / 1000 - os.uptime()) / 60)}`;
}

function readPidNamespace(): string | null {
  try {
    return fs.readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
}

/** The lease clock of this host. */
export function hostLeaseClock(): LeaseClock {
  return { now: hostMonotonicMs, boot: hostIdentity().bootId };
}

/**
 * Measures how long this process did not run (SIGSTOP, `docker pause`, a VM paused by its host, a long synchronous
 * call): the time between two samples on the monotonic clock. A gap longer than the lease renewal period means leases
 * this engine holds may have expired and been taken over by another engine.
 */
export class StallWatch {
  private last = hostMonotonicMs();

  /** Milliseconds since the previous sample. */
  sample(): number {
    const now = hostMonotonicMs();
    const gap = now - this.last;
    this.last = now;
    return gap;
  }

  /** Milliseconds since the previous sample, without taking a new one. */
  peek(): number {
    return hostMonotonicMs() - this.last;
  }
}

/**
 * Whether a PID of another engine can be checked with kill(pid, 0): only when it runs in this kernel boot and this
 * PID namespace (two containers of one pod share a hostname, not PIDs). Anything else is decided by lease expiry.
 */
export function samePidSpace(other: { boot_id: string | null; pid_ns: string | null }): boolean {
  const me = hostIdentity();
  return me.pidNs !== null && other.pid_ns === me.pidNs && other.boot_id === me.bootId;
}
