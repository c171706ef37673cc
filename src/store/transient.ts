import { retryDelayMs, type Backoff } from '../backoff.js';
import type { Logger } from '../log.js';
import { storageProblemOf } from './health.js';

/** Contention: another process holds the write lock past busy_timeout (a backup, an operator's sqlite3 shell). */
const CONTENTION = /^SQLITE_(BUSY|LOCKED)/;

/**
 * Errors that say "not now" rather than "this is wrong": contention, or a storage problem (full disk, read-only file,
 * I/O errors; see health.ts). Retrying the same transaction later is correct for all of them: a transaction that failed
 * with one of them was rolled back whole.
 */
export function isTransientStorageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (CONTENTION.test(code) || storageProblemOf(err) !== undefined);
}

/** 50 ms, doubled per failure up to 2 s, with jitter. */
const BACKOFF: Backoff = { kind: 'exponential', firstMs: 50, capMs: 2000 };

/**
 * One episode of transient storage errors and its backoff (exponential with jitter, to 2 s). Contention is logged by
 * this class: its first failure (warn) and the first success after it, with how long it lasted. Storage problems are
 * logged once per episode by the connection's StorageHealth, so they are retried here without a log line of their own.
 */
export class TransientEpisode {
  private failures = 0;
  private since = 0;
  private lastCode = '';
  private logged = false;

  constructor(
    private readonly logger: Logger,
    private readonly what: string,
  ) {}

  /** Records a transient failure; returns how long to wait before the next try (ms). */
  failed(err: unknown, fields: Record<string, unknown> = {}): number {
    const code = String((err as { code?: unknown }).code);
    if (this.failures === 0) this.since = Date.now();
    if ((this.failures === 0 || code !== this.lastCode) && storageProblemOf(err) === undefined) {
      this.logged = true;
      this.logger.warn(
        { ...fields, err, error_type: code, storage: this.what },
        `storage busy or failing (${code}): ${this.what} retries with backoff`,
      );
    }
    this.lastCode = code;
    this.failures++;
    return retryDelayMs(BACKOFF, this.failures);
  }

  /** Records a success: ends the episode (logged if there was one). */
  ok(): void {
    if (this.failures === 0) return;
    if (this.logged) this.logger.info(
      { storage: this.what, retries: this.failures, duration_ms: Date.now() - this.since, error_type: this.lastCode },
      `storage available again: ${this.what} recovered`,
    );
    this.failures = 0;
    this.logged = false;
  }

  get failing(): boolean {
    return this.failures > 0;
  }
}
