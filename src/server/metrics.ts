import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RunEvent, RunEvents } from '../engine/events.js';
import { RUN_STATUSES, type RunStore } from '../store/runs.js';
import type { StatsStore } from '../store/stats.js';
import type { SyncReport } from '../sync/sync.js';

/** The reasons /readyz may name for a daemon that serves but may serve stale definitions. */
const DEGRADED_REASONS = ['git_missing', 'git_diverged', 'git_fetch_failed', 'sync_failed', 'sync_refused'];
/** The most distinct agent, provider and tool label values kept; later ones count under {@link OTHER}. */
export const AGENT_LABEL_CAP = 200;
/** The label value of names past the cap. */
const OTHER = '(other)';
/** The tool label of a call the model made to a tool the agent does not have (its name is the model's invention). */
const UNKNOWN_TOOL = '(unknown)';
/** Where a sync comes from (the `source` label). */
const SYNC_SOURCES = ['start', 'watch', 'poll', 'webhook', 'api'];
/** The outcome label of a webhook delivery answered with `status`, when the handler did not name one. */
export function webhookOutcome(status: number): string {
  switch (status) {
    case 202:
      return 'accepted';
    case 200:
      return 'duplicate';
    case 400:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 404:
      return 'not_found';
    case 409:
      return 'unavailable';
    case 413:
      return 'too_large';
    case 422:
      return 'invalid_input';
    default:
      return 'error';
  }
}

/**
 * The daemon's Prometheus metrics (`GET /metrics`), in a registry of their own. Gauges that describe the database
 * (runs by status, queue depth) are read when scraped, so they count runs of every process sharing the database;
 * step durations are observed from this process's engine events.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly stepDuration: Histogram<'outcome'>;
  private readonly syncDuration: Histogram<'source'>;
  private readonly syncErrors: Counter<'source'>;
  private readonly syncInvalidFiles: Gauge;
  /** Invalid files per environment, as its last sync found them. */
  private readonly invalidByEnvironment = new Map<string, number>();
  private readonly webhooks: Counter<'outcome'>;
  private readonly modelCalls: Counter<'agent' | 'provider'>;
  private readonly tokens: Counter<'agent' | 'provider' | 'direction'>;
  private readonly toolCalls: Counter<'agent' | 'tool' | 'outcome'>;
  private readonly modelLatency: Histogram<'agent' | 'provider'>;
  private readonly toolLatency: Histogram<'agent' | 'tool'>;
  /** The label values seen so far, per label: bounded so that names from files or models cannot grow the series. */
  private readonly labelValues = { agent: new Set<string>(), provider: new Set<string>(), tool: new Set<string>() };
  private readonly stopListening: () => void;

  constructor(
    private readonly o: {
      stats: StatsStore;
      runStore: RunStore;
      events: RunEvents;
      defaultMetrics?: boolean;
      /** The daemon's degradation reasons and git state, read when scraped. */
      health?: () => { reasons: string[]; gitDiverged: boolean };
    },
  ) {
    const registers = [this.registry];
    // prom-client's names start with process_ and nodejs_ already: station_process_cpu_seconds_total, station_nodejs_*.
    if (o.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'station_' });
    const stats = o.stats;
    new Gauge({
      name: 'station_runs',
      help: 'Runs in the database, by status.',
      labelNames: ['status'],
      registers,
      collect() {
        const counts = stats.runsByStatus();
        for (const s of RUN_STATUSES) this.set({ status: s }, counts.get(s) ?? 0);
      },
    });
    const runStore = o.runStore;
    new Gauge({
      name: 'station_queue_depth',
      help: 'Engine tasks that are due now (waiting for or held by an engine), across every process on the database.',
      registers,
      collect() {
        this.set(runStore.queueDepth(Date.now()));
      },
    });
    const health = o.health;
    if (health) {
      new Gauge({
        name: 'station_git_diverged',
        help: 'The checkout has commits its remote lacks (remote history rewritten, e.g. force-pushed) and was not reset: 1, else 0.',
        registers,
        collect() {
          this.set(health().gitDiverged ? 1 : 0);
        },
      });
      new Gauge({
        name: 'station_degraded',
        help: 'Why /readyz answers "degraded" (1 per reason that holds now): git_missing, git_diverged, git_fetch_failed, sync_failed, sync_refused.',
        labelNames: ['reason'],
        registers,
        collect() {
          const now = new Set(health().reasons);
          for (const reason of new Set([...DEGRADED_REASONS, ...now])) this.set({ reason }, now.has(reason) ? 1 : 0);
        },
      });
    }
    this.stepDuration = new Histogram({
      name: 'station_step_duration_seconds',
      help: 'Duration of step attempts executed by this process, by outcome (succeeded, failed, retrying).',
      labelNames: ['outcome'],
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers,
    });
    this.syncDuration = new Histogram({
      name: 'station_sync_duration_seconds',
      help: 'Duration of syncs, by source (start, watch, poll, webhook, api).',
      labelNames: ['source'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.syncErrors = new Counter({
      name: 'station_sync_errors_total',
      help: 'Syncs that failed outright or left an environment unsynced, by source.',
      labelNames: ['source'],
      registers,
    });
    this.syncInvalidFiles = new Gauge({
      name: 'station_sync_invalid_files',
      help: 'Invalid definition files, as the last sync of each environment found them.',
      registers,
    });
    this.webhooks = new Counter({
      name: 'station_webhook_deliveries_total',
      help: 'Webhook deliveries, by outcome (accepted, duplicate, unauthorized, not_found, too_large, invalid_input, ...).',
      labelNames: ['outcome'],
      registers,
    });
    this.modelCalls = new Counter({
      name: 'station_agent_model_calls_total',
      help: 'Model turns of agent.run steps executed by this process, by agent and provider.',
      labelNames: ['agent', 'provider'],
      registers,
    });
    this.tokens = new Counter({
      name: 'station_agent_tokens_total',
      help: 'Tokens of the model turns of agent.run steps, by agent, provider and direction (input, output).',
      labelNames: ['agent', 'provider', 'direction'],
      registers,
    });
    this.toolCalls = new Counter({
      name: 'station_agent_tool_calls_total',
      help: 'Tool calls of agent.run steps, by agent, tool (server/tool; "(unknown)" for a name the agent does not have) and outcome (ok, error).',
      labelNames: ['agent', 'tool', 'outcome'],
      registers,
    });
    this.modelLatency = new Histogram({
      name: 'station_agent_model_latency_seconds',
      help: 'Latency of the model turns of agent.run steps, by agent and provider.',
      labelNames: ['agent', 'provider'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.toolLatency = new Histogram({
      name: 'station_agent_tool_latency_seconds',
      help: 'Latency of the tool calls of agent.run steps, by agent and tool.',
      labelNames: ['agent', 'tool'],
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    for (const outcome of ['accepted', 'duplicate', 'unauthorized', 'not_found', 'too_large', 'invalid_input']) this.webhooks.inc({ outcome }, 0);
    // Series exist from the start, so rate() and alerts on sync errors see 0 rather than nothing.
    for (const source of SYNC_SOURCES) this.syncErrors.inc({ source }, 0);
    this.stopListening = o.events.on((e) => this.onEvent(e));
  }

  private onEvent(e: RunEvent): void {
    switch (e.type) {
      case 'step:succeeded': {
        const ms = e.data.durationMs;
        if (ms !== null) this.stepDuration.observe({ outcome: 'succeeded' }, ms / 1000);
        return;
      }
      case 'step:failed':
      case 'step:retrying': {
        // Failures are rare enough to read the step row for its duration (the event does not carry it).
        const step = e.stepId ? this.o.runStore.step(e.stepId) : undefined;
        const ms = step?.duration_ms ?? (step?.attempt_started_ms ? Date.now() - step.attempt_started_ms : null);
        if (ms !== null && ms !== undefined) this.stepDuration.observe({ outcome: e.type === 'step:failed' ? 'failed' : 'retrying' }, ms / 1000);
        return;
      }
      case 'agent:turn': {
        const d = e.data;
        const labels = { agent: this.label('agent', d.agent), provider: this.label('provider', d.provider) };
        this.modelCalls.inc(labels);
        this.tokens.inc({ ...labels, direction: 'input' }, d.usage.inputTokens);
        this.tokens.inc({ ...labels, direction: 'output' }, d.usage.outputTokens);
        this.modelLatency.observe(labels, d.latencyMs / 1000);
        return;
      }
      case 'agent:tool': {
        const d = e.data;
        const unknown = !d.ok && d.result.startsWith('STN_E_AGENT_UNKNOWN_TOOL');
        const labels = { agent: this.label('agent', d.agent), tool: unknown ? UNKNOWN_TOOL : this.label('tool', d.tool) };
        this.toolCalls.inc({ ...labels, outcome: d.ok ? 'ok' : 'error' });
        this.toolLatency.observe(labels, d.latencyMs / 1000);
        return;
      }
      default:
        return;
    }
  }

  /** `value` as a label value, or `(other)` once {@link AGENT_LABEL_CAP} other values of `label` were seen. */
  private label(label: keyof Metrics['labelValues'], value: string | null): string {
    const v = value ?? UNKNOWN_TOOL;
    const seen = this.labelValues[label];
    if (seen.has(v)) return v;
    if (seen.size >= AGENT_LABEL_CAP) return OTHER;
    seen.add(v);
    return v;
  }

  /** A webhook delivery ended with this outcome (the handler's, or `too_large` when the server refused the body). */
  webhookDelivery(outcome: string): void {
    this.webhooks.inc({ outcome });
  }

  /** A sync ended: `report` is null when it threw. */
  syncFinished(report: SyncReport | null, ms: number, source = 'api'): void {
    this.syncDuration.observe({ source }, ms / 1000);
    if (!report || report.environments.some((e) => e.error !== undefined)) this.syncErrors.inc({ source });
    if (report && !report.dryRun) {
      // A sync may cover one environment (the watcher's, `POST /sync {environment}`): the others keep their count.
      for (const e of report.environments) if (e.error === undefined) this.invalidByEnvironment.set(e.name, e.invalid.length);
      this.syncInvalidFiles.set([...this.invalidByEnvironment.values()].reduce((n, c) => n + c, 0));
    }
  }

  /** The exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.stopListening();
    this.registry.clear();
  }
}
