import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { expressionLimits } from '../expressions/index.js';
import { compactResult, validateDefinitionBytes, type CompactResult } from './validate.js';
import type { ValidationRequest, ValidationResponse } from './worker.js';

const BATCH = 64;
/** Below this many files a pool costs more to start than it saves. */
export const POOL_THRESHOLD = 256;

/**
 * Validates many definition files on worker threads (one per core). Results come back in the order asked. When the
 * compiled worker is not available (running from TypeScript sources, as the unit tests do), validation runs inline.
 */
export class ValidationPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (r: CompactResult[]) => void; reject: (e: Error) => void }>();
  private readonly queue: ValidationRequest[] = [];
  private readonly idle: Worker[] = [];
  private nextId = 0;
  private failure: Error | undefined;
  private closing = false;

  private constructor(size: number, script: string) {
    for (let i = 0; i < size; i++) {
      // The static cost check must judge against the same budget as this process (station.yaml expressions:).
      const w = new Worker(script, { workerData: { expressionLimits: expressionLimits() } });
      w.on('message', (res: ValidationResponse) => {
        this.pending.get(res.id)?.resolve(res.results);
        this.pending.delete(res.id);
        this.dispatch(w);
      });
      // A dead worker would leave its batch unanswered: fail everything still waiting instead of hanging.
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (code !== 0 && !this.closing) this.fail(new Error(`validation worker exited with code ${code}`));
      });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  /** A pool, or undefined when validation should stay on this thread. */
  static create(files: number, workers: number): ValidationPool | undefined {
    const script = fileURLToPath(new URL('./worker.js', import.meta.url));
    if (workers < 1 || files < POOL_THRESHOLD || !fs.existsSync(script)) return undefined;
    return new ValidationPool(workers, script);
  }

  async validate(items: Array<{ path: string; bytes: Uint8Array }>): Promise<CompactResult[]> {
    const batches: Array<Promise<CompactResult[]>> = [];
    for (let i = 0; i < items.length; i += BATCH) {
      const req: ValidationRequest = { id: this.nextId++, items: items.slice(i, i + BATCH) };
      batches.push(new Promise((resolve, reject) => this.pending.set(req.id, { resolve, reject })));
      this.queue.push(req);
    }
    if (this.failure) this.fail(this.failure);
    for (const w of this.idle.splice(0)) this.dispatch(w);
    return (await Promise.all(batches)).flat();
  }

  private fail(err: Error): void {
    this.failure = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.queue.length = 0;
  }

  private dispatch(w: Worker): void {
    const req = this.queue.shift();
    if (req) w.postMessage(req);
    else this.idle.push(w);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Validates inline, for small syncs and when no pool exists. */
export function validateInline(items: Array<{ path: string; bytes: Uint8Array }>): CompactResult[] {
  return items.map((it) => compactResult(validateDefinitionBytes(it.bytes, it.path)));
}
