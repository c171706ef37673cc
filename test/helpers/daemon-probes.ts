import fs from 'node:fs';
import { createGitRepo, type GitRepo } from './git-repo.js';

/** Helpers of the reliability tests (test/reliability/): real daemons and workers on one database. */

/** A temp Git repository with these files committed (the Station database stays out of it). */
export function committedRepo(prefix: string, files: Record<string, string>): GitRepo {
  const repo = createGitRepo(prefix);
  repo.write('.gitignore', '.station/\n*.log\n*.pid\n');
  for (const [file, content] of Object.entries(files)) repo.write(file, content);
  repo.commit('fixtures');
  return repo;
}

/** One JSON request to a daemon's API; answers with the status and the parsed body. */
export async function api<T = Record<string, unknown>>(base: string, method: string, url: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : null) as T };
}

/** Latencies of `GET /healthz`, asked one after another until stopped. */
export class HealthSampler {
  readonly times: number[] = [];
  private running = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly base: string,
    private readonly everyMs = 20,
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const t0 = performance.now();
      const res = await fetch(`${this.base}/healthz`, { signal: AbortSignal.timeout(30_000) });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`/healthz answered ${res.status}`);
      this.times.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, this.everyMs));
    }
  }

  /** Stops sampling; the slowest answer, the 99th percentile and the median (ms), and how many were taken. */
  async stop(): Promise<{ max: number; p99: number; p50: number; n: number }> {
    this.running = false;
    await this.done;
    const sorted = [...this.times].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
    return { max: sorted[sorted.length - 1] ?? NaN, p99: at(0.99), p50: at(0.5), n: sorted.length };
  }
}

/** The peak resident memory of a live process (VmHWM), in MB. */
export function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m?.[1]) throw new Error(`no VmHWM for process ${pid}`);
  return Number(m[1]) / 1024;
}

/** Whether a process exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
