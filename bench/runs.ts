import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStation, type Station } from '../src/context.js';
import type { RunEvent } from '../src/engine/events.js';
import { cleanEnv, gitInit } from './git.js';

/** Runs in benchmarks: a temp repository synced into a fresh database, and waiting for many runs at once. */

export const ENVIRONMENT = 'bench';

/** Fails with a clear message after `ms` instead of hanging. */
export async function bounded<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: did not finish within ${ms} ms (engine stuck or far too slow)`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One listener for all runs of a part (not one `events.next` per run: 1,000 predicates per event would be measured
 * too). Resolves each run's promise on run:completed, rejects on any other terminal event.
 */
export class RunWaiter {
  private readonly waiting = new Map<string, { resolve: (e: RunEvent) => void; reject: (err: Error) => void }>();
  private readonly finished = new Map<string, RunEvent>();
  completed = 0;
  readonly off: () => void;

  constructor(station: Station) {
    this.off = station.events.on((e) => {
      if (e.type !== 'run:completed' && e.type !== 'run:failed' && e.type !== 'run:cancelled' && e.type !== 'run:timed_out') return;
      if (e.type === 'run:completed') this.completed++;
      const w = this.waiting.get(e.runId);
      if (!w) {
        this.finished.set(e.runId, e);
        return;
      }
      this.waiting.delete(e.runId);
      this.settle(e, w);
    });
  }

  wait(runId: string): Promise<RunEvent> {
    return new Promise((resolve, reject) => {
      const done = this.finished.get(runId);
      if (done) {
        this.finished.delete(runId);
        this.settle(done, { resolve, reject });
      } else {
        this.waiting.set(runId, { resolve, reject });
      }
    });
  }

  private settle(e: RunEvent, w: { resolve: (e: RunEvent) => void; reject: (err: Error) => void }): void {
    if (e.type === 'run:completed') w.resolve(e);
    else w.reject(new Error(`run ${e.runId} ended with ${e.type}: ${JSON.stringify(e.data)}`));
  }
}

/** A temp repo with the given workflows in environment "bench" (and other files), synced into a fresh db; the engine not started. */
export async function prepare(prefix: string, workflows: Record<string, string>, files: Record<string, string> = {}): Promise<{ root: string; station: Station }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const dir = path.join(root, 'environments', ENVIRONMENT, 'workflows');
  fs.mkdirSync(dir, { recursive: true });
  for (const [id, yaml] of Object.entries(workflows)) fs.writeFileSync(path.join(dir, `${id}.workflow.yaml`), yaml);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  gitInit(root, 'generated workflows');
  const station = openStation({ repo: root, db: path.join(root, '.station', 'bench.db'), logLevel: 'silent' }, cleanEnv());
  const r = await station.syncer.sync({ source: 'cli' });
  const added = r.environments.reduce((n, e) => n + e.added.length, 0);
  const invalid = r.environments.flatMap((e) => e.invalid);
  if (added !== Object.keys(workflows).length || invalid.length > 0) {
    await station.close();
    fs.rmSync(root, { recursive: true, force: true });
    throw new Error(`sync added ${added} of ${Object.keys(workflows).length} workflows; invalid: ${JSON.stringify(invalid)}`);
  }
  return { root, station };
}

export async function teardown(root: string, station: Station): Promise<void> {
  try {
    await station.close();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

