import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Db } from './db.js';

/** WAL pages after which a committing connection checkpoints itself anyway (the checkpointer fell behind). */
const SAFETY_AUTOCHECKPOINT_PAGES = 50_000;

/**
 * Checkpoints the WAL from a background thread while the engine runs (daemon, `stn worker`). Without it, every
 * ~10,000 pages one commit of the engine's thread copies the whole WAL into the database file and the event loop
 * stalls for tens of milliseconds (webhook answers, SSE, other runs wait). Short CLI commands don't need it.
 */
export class Checkpointer {
  /** Settles when the thread has ended, whenever that was (it may die before stop(), e.g. its file vanished). */
  private readonly exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    private readonly db: Db,
    private readonly previousPages: number,
  ) {
    this.exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  }

  /**
   * Starts one for a file database; undefined for `:memory:` or when the worker script is absent (tests on src/).
   * Every 2 s: often enough that the WAL stays small, rarely enough not to compete with the engine for the CPU.
   */
  static start(db: Db, intervalMs = 2000): Checkpointer | undefined {
    const script = fileURLToPath(new URL('./checkpoint-worker.js', import.meta.url));
    if (db.memory || db.readonly || !fs.existsSync(script)) return undefined;
    const previous = db.pragma('wal_autocheckpoint', { simple: true }) as number;
    const worker = new Worker(script, { workerData: { file: db.name, intervalMs } });
    worker.unref();
    // The thread died: the connection checkpoints itself again, as it did before.
    worker.on('error', () => db.pragma(`wal_autocheckpoint = ${previous}`));
    db.pragma(`wal_autocheckpoint = ${SAFETY_AUTOCHECKPOINT_PAGES}`);
    return new Checkpointer(worker, db, previous);
  }

  /** Stops the thread after a last checkpoint and gives the connection its own checkpoints back. */
  async stop(): Promise<void> {
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${this.previousPages}`);
    this.worker.postMessage('stop');
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await this.exited;
    clearTimeout(timer);
  }
}
