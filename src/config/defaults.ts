/** Every default of Station's configuration, in one place. */
export const DEFAULTS = {
  configFile: 'station.yaml',
  database: '.station/station.db',
  logLevel: 'info',
  server: { host: '127.0.0.1', port: 7878, maxBodyBytes: 1024 * 1024, shutdownGraceSeconds: 30 },
  git: { pollSeconds: 0, remote: 'origin' },
  engine: { concurrency: 8, leaseSeconds: 30 },
  /** Validation worker threads for large syncs: one per core, at most this many. */
  sync: { maxWorkers: 4 },
  /** Limits on definition files (DESIGN §10). */
  definitions: { maxFileBytes: 1024 * 1024, maxAliasCount: 100 },
  /** Limits on bundle archives (DESIGN §10): compressed size, bytes after gunzip (zip-bomb guard), file count. */
  bundles: { maxArchiveBytes: 16 * 1024 * 1024, maxExpandedBytes: 64 * 1024 * 1024, maxFiles: 1000 },
} as const;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
