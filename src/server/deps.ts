import type { ApproverDirectory } from '../approvals/identity.js';
import type { Station } from '../context.js';
import type { StatsStore } from '../store/stats.js';
import type { SyncOptions, SyncReport } from '../sync/sync.js';
import type { Auth } from './auth.js';
import type { Metrics } from './metrics.js';
import type { Streams } from './sse.js';

/**
 * The trigger-side services the routes call (src/triggers/, src/sync/ — see the daemon contract). Declared here as
 * the shapes the routes use, so the server can be built (and tested) with any subset of them.
 */
export interface WebhookPort {
  handle(req: {
    environment: string;
    workflowId: string;
    trigger: string;
    rawBody: Buffer;
    headers: Record<string, string | string[] | undefined>;
    /** The request path and query as received (signed by X-Station-Signature). */
    path?: string;
    query: Record<string, string | string[] | undefined>;
  }): { status: number; body: Record<string, unknown>; outcome?: string };
}

export interface GitPort {
  refresh(): Promise<{ updated: boolean; head: string | null; reason?: string }>;
  /** The checkout now (branch, HEAD, local changes) and what the last fetch found. */
  status(): object | Promise<object>;
}

export interface CronPort {
  list(): object[];
}

export type VerifySignature = (rawBody: Buffer, headers: Record<string, string | string[] | undefined>, secret: string) => boolean;

/** What the daemon reports about itself for /readyz. */
export interface DaemonState {
  /** The first sync after start has finished (successfully or not). */
  initialSyncDone: boolean;
  shuttingDown: boolean;
  /** Whether the file watcher is running. */
  watching: boolean;
  /**
   * Reason codes of a daemon that serves but may serve stale definitions (git_missing, git_diverged,
   * git_fetch_failed, sync_failed, sync_refused): /readyz answers 200 "degraded" with them.
   */
  degraded: string[];
}

export interface ServerDeps {
  station: Station;
  auth: Auth;
  metrics: Metrics;
  stats: StatsStore;
  streams: Streams;
  /** Runs a sync the way the daemon does: serialized, timed into the metrics, cron reloaded after changes. */
  sync(options: SyncOptions): Promise<SyncReport>;
  state(): DaemonState;
  webhooks?: WebhookPort | undefined;
  git?: GitPort | undefined;
  cron?: CronPort | undefined;
  verifySignature?: VerifySignature | undefined;
  /** Slack in HTTP mode (src/slack/runtime.ts): POST /slack/events. */
  slack?: { handleHttp(rawBody: Buffer, headers: Record<string, string | string[] | undefined>): Promise<{ status: number; body: string | Record<string, unknown> }> } | undefined;
  /** Slack's directory (when Slack is configured): API votes resolve `group:` approvers and emails through it. */
  approverDirectory?: ApproverDirectory | undefined;
  env: NodeJS.ProcessEnv;
}
