/** Every default of Station's configuration, in one place. */
export const DEFAULTS = {
  configFile: 'station.yaml',
  database: '.station/station.db',
  logLevel: 'info',
  server: {
    host: '127.0.0.1',
    port: 7878,
    maxBodyBytes: 1024 * 1024,
    shutdownGraceSeconds: 30,
    /** Connection and request limits (docs/security.md "Server limits"). */
    limits: {
      headersTimeoutSeconds: 10,
      requestTimeoutSeconds: 30,
      idleTimeoutSeconds: 120,
      keepAliveTimeoutSeconds: 72,
      // Well under the usual 1024 open files, which SQLite, Git and step processes share with the sockets.
      maxConnections: 512,
      maxConnectionsPerClient: 256,
      maxBodiesPerClient: 32,
      maxStreams: 400,
      maxStreamsPerClient: 100,
    },
    /** Token buckets per client: bursts up to `max`, refilled at `max` per `windowSeconds`. */
    rateLimits: {
      authFailures: { max: 20, windowSeconds: 600 },
      webhooks: { max: 500, windowSeconds: 1 },
    },
  },
  git: { pollSeconds: 0, remote: 'origin', onDiverged: 'report' },
  engine: { concurrency: 8, leaseSeconds: 30 },
  /**
   * What a shell.exec process inherits from the daemon's environment (names, or prefixes ending in *): enough to find
   * programs and format text, nothing that holds a credential.
   */
  steps: { envAllowlist: ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'LC_*', 'TZ', 'TMPDIR', 'TERM'], cgroups: true },
  /** http.request egress (docs/security.md): link-local/metadata addresses are always refused. */
  http: { denyPrivateNetworks: false, maxRedirects: 5 },
  /**
   * agent.run model providers: the built-in offline provider's name (scripted replies from files in the repository),
   * the chat-completions base URL of `type: openai` providers without one, and how long one model request may take.
   */
  agents: { fixtureProvider: 'fixture', openaiBaseUrl: 'https://api.openai.com/v1', timeoutSeconds: 120 },
  /** Validation worker threads for large syncs: one per core, at most this many. */
  sync: { maxWorkers: 4, deletionWindowSeconds: 3 },
  /**
   * Deepest nesting of objects/lists Station parses from untrusted text: JSON request and webhook bodies, workflow
   * and environment files. Past it, recursive code (parsers, schema checks, templates) could exhaust the stack.
   */
  maxNestingDepth: 64,
  /** Limits on definition files (docs/security.md "Bounded parsing"). */
  definitions: { maxFileBytes: 1024 * 1024, maxAliasCount: 100 },
  /**
   * Limits on bundle archives (docs/bundles.md "Archive safety"): compressed size, bytes after gunzip (zip-bomb guard),
   * file count.
   */
  bundles: { maxArchiveBytes: 16 * 1024 * 1024, maxExpandedBytes: 64 * 1024 * 1024, maxFiles: 1000 },
  /**
   * The cost budget of CEL expressions (docs/security.md). A cost unit is about one AST node evaluated, plus one per
   * 10 characters or elements a value carries into a call, a `+`, an `in` or a comparison. `maxCost` is per
   * evaluation: one switch (all its conditions) or one rendering of a templated value. `maxMillis` is a second guard
   * that stops an evaluation running longer than that even within its budget; `maxNesting` refuses, at validation,
   * comprehensions (`all`, `exists`, `map`, `filter`…) nested deeper than that.
   */
  expressions: { maxCost: 100_000, maxStringLength: 1_000_000, maxListLength: 100_000, maxMillis: 200, maxNesting: 3 },
} as const;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
