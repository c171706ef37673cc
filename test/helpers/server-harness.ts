import path from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { openStation, type Station } from '../../src/context.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createGitRepo, type GitRepo } from './git-repo.js';

/**
 * In-process daemon tests: a real Git repository in a temp folder, a real SQLite file, the real Daemon (engine, cron,
 * webhooks; no file watcher unless asked) and its Fastify app, driven with `inject()` or a real listen on 127.0.0.1.
 */
export interface TestDaemon {
  repo: GitRepo;
  station: Station;
  daemon: Daemon;
  app: FastifyInstance;
  /** `inject()` with a JSON body and an optional bearer token. */
  request(method: string, url: string, opts?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export interface TestDaemonOptions {
  /** Repository files (path → content), committed before the daemon starts. */
  files: Record<string, string>;
  env?: NodeJS.ProcessEnv;
  engine?: boolean;
  watch?: boolean;
  host?: string;
}

export async function startTestDaemon(opts: TestDaemonOptions): Promise<TestDaemon> {
  const repo = createGitRepo('stn-server-');
  repo.write('.gitignore', '.station/\n');
  for (const [file, content] of Object.entries(opts.files)) repo.write(file, content);
  repo.commit('fixtures');
  const env = opts.env ?? {};
  let station: Station | undefined;
  let daemon: Daemon | undefined;
  try {
    station = openStation({ repo: repo.dir, db: path.join(repo.dir, '.station', 'station.db'), logLevel: 'silent' }, env);
    daemon = new Daemon(station, { env, watch: opts.watch ?? false, engine: opts.engine ?? true, host: opts.host });
    await daemon.start({ listen: false });
  } catch (err) {
    await daemon?.stop('test setup failed');
    await station?.close();
    repo.cleanup();
    throw err;
  }
  const s = station;
  const d = daemon;
  return {
    repo,
    station: s,
    daemon: d,
    app: d.app,
    request(method, url, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
      return d.app.inject({
        method: method as 'GET',
        url,
        headers,
        ...(o.body !== undefined ? { payload: JSON.stringify(o.body), headers: { ...headers, 'content-type': 'application/json' } } : {}),
      });
    },
    async close() {
      await d.stop('test done');
      await s.close();
      repo.cleanup();
    },
  };
}

/** A workflow whose run waits for a signal named `go` (pause, cancel, signal tests). */
export const GATED_WORKFLOW = `id: gated
version: "1"
name: Gated
states:
  - {name: first, type: operation, action: noop, next: gate}
  - {name: gate, type: operation, action: signal.wait, input: {name: go}, next: last}
  - {name: last, type: operation, action: noop, input: {got: "{{ steps.gate }}"}, end: true}
`;

/** A workflow with an inputSchema (422 tests). */
export const TYPED_WORKFLOW = `id: typed
version: "1"
name: Typed
inputSchema:
  type: object
  required: [host]
  additionalProperties: false
  properties:
    host: {type: string}
    count: {type: integer, minimum: 1}
states:
  - {name: echo, type: operation, action: noop, input: {host: "{{ input.host }}"}, end: true}
`;

/** Three noop steps. */
export const THREE_STEPS = `id: three
version: "1"
name: Three steps
states:
  - {name: a, type: operation, action: noop, next: b}
  - {name: b, type: operation, action: noop, next: c}
  - {name: c, type: operation, action: noop, end: true}
`;
