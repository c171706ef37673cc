import fs from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Station } from '../context.js';
import { UsageError } from '../errors.js';
import type { SyncOptions, SyncReport } from './report.js';

/** The watcher never waits longer than this after the first change of a burst before syncing. */
export const MAX_DEBOUNCE_MS = 300;
const DEFAULT_DEBOUNCE_MS = 150;
/** The folders whose files are definitions (README "Sync"); everything else in the checkout is ignored. */
const WATCHED = new Set(['environments', 'bundles']);

export interface RepoWatcherOptions {
  station: Station;
  /** Quiet time after the last change before syncing (default 150 ms, at most 300 ms after the first change). */
  debounceMs?: number;
  onSynced?: (report: SyncReport) => void;
  onError?: (err: unknown) => void;
}

/**
 * Watches `environments/` and `bundles/` of the checkout (chokidar) and syncs what changed: a burst of file changes
 * becomes one incremental sync of those paths; a folder added or removed, a full sync of its environment
 * (of all environments for a bundle folder). Syncs go through
 * the Syncer, which runs them one at a time with the poller's and the API's.
 */
export class RepoWatcher {
  private readonly station: Station;
  private readonly debounceMs: number;
  private readonly onSynced: ((report: SyncReport) => void) | undefined;
  private readonly onError: ((err: unknown) => void) | undefined;
  private watcher: FSWatcher | undefined;
  private pending = new Set<string>();
  /** Environments to sync in full (a folder inside them came or went); '*' for all (a bundle folder did). */
  private full = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private burstStarted = 0;
  private inFlight: Promise<void> | undefined;
  private stopped = false;

  constructor(opts: RepoWatcherOptions) {
    const debounce = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    if (!Number.isFinite(debounce) || debounce < 0 || debounce > MAX_DEBOUNCE_MS) {
      throw new UsageError(`watcher debounce must be between 0 and ${MAX_DEBOUNCE_MS} ms, got ${debounce}`);
    }
    this.station = opts.station;
    this.debounceMs = debounce;
    this.onSynced = opts.onSynced;
    this.onError = opts.onError;
  }

  /** Starts watching; resolves once chokidar has scanned the folders (changes after that are seen). */
  async start(): Promise<void> {
    const repo = this.station.config.repo;
    this.stopped = false;
    const watcher = watch(repo, {
      ignoreInitial: true,
      persistent: true,
      ignored: (p: string) => ignored(repo, p),
    });
    this.watcher = watcher;
    watcher.on('all', (event, p) => this.changed(event, p));
    watcher.on('error', (err) => this.report(err));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    this.station.logger.info({ repo, debounce_ms: this.debounceMs }, 'watching environments/ and bundles/');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.watcher?.close();
    this.watcher = undefined;
    await this.inFlight;
  }

  private changed(event: string, abs: string): void {
    if (this.stopped) return;
    const rel = path.relative(this.station.config.repo, abs).split(path.sep).join('/');
    if (rel === '' || rel.startsWith('..')) return;
    if (event === 'addDir' || event === 'unlinkDir') {
      // A whole folder came or went (an environment, a bundle, a checkout of another branch): its environment is synced
      // in full rather than trusting one event per file; a bundle folder concerns every environment.
      const [top, env] = rel.split('/');
      if (env === undefined) return;
      this.full.add(top === 'environments' ? env : '*');
    } else {
      this.pending.add(rel);
    }
    this.schedule();
  }

  /** Debounce: wait for a quiet `debounceMs`, but never more than MAX_DEBOUNCE_MS after the burst's first change. */
  private schedule(): void {
    const now = Date.now();
    if (!this.timer) this.burstStarted = now;
    else clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.debounceMs, this.burstStarted + MAX_DEBOUNCE_MS - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
  }

  private flush(): void {
    if (this.stopped || this.inFlight) return; // the running sync flushes again when it ends
    if (this.pending.size === 0 && this.full.size === 0) return;
    const paths = [...this.pending].sort();
    const full = [...this.full].sort();
    this.pending = new Set();
    this.full = new Set();
    this.inFlight = this.syncBatch(paths, full).finally(() => {
      this.inFlight = undefined;
      if (this.pending.size > 0 || this.full.size > 0) this.flush();
    });
  }

  /** One full sync when a bundle folder changed; otherwise full syncs of the environments named and one incremental. */
  private async syncBatch(paths: string[], full: string[]): Promise<void> {
    if (full.includes('*')) return this.syncOnce({});
    for (const environment of full) {
      // A folder that came and went between two syncs leaves nothing to sync (and no environment to name).
      const known = fs.existsSync(path.join(this.station.config.repo, 'environments', environment)) || this.station.definitions.environment(environment);
      if (known) await this.syncOnce({ environment });
    }
    const rest = paths.filter((p) => !full.some((env) => p.startsWith(`environments/${env}/`)));
    if (rest.length > 0) await this.syncOnce({ changedPaths: rest });
  }

  private async syncOnce(options: Pick<SyncOptions, 'environment' | 'changedPaths'>): Promise<void> {
    try {
      const report = await this.station.syncer.sync({ source: 'watch', ...options });
      this.onSynced?.(report);
    } catch (err) {
      this.report(err);
    }
  }

  private report(err: unknown): void {
    this.station.logger.error({ err }, 'watch sync failed');
    this.onError?.(err);
  }
}

/** Everything outside environments/ and bundles/ (and editor droppings inside them) is not watched. */
function ignored(repo: string, abs: string): boolean {
  const rel = path.relative(repo, abs);
  if (rel === '') return false;
  const parts = rel.split(path.sep);
  if (parts[0] === '..' || !WATCHED.has(parts[0] as string)) return true;
  const base = parts[parts.length - 1] as string;
  return parts.length > 1 && (base.startsWith('.') || base.endsWith('~') || base.endsWith('.swp'));
}
