import type { JsonObject, JsonValue } from '../definitions/types.js';
import type {
  AgentDetailView,
  AgentRunProgressView,
  AgentRunResultView,
  AgentSummaryView,
  AgentVersionSummaryView,
  ApprovalView,
  DecisionView,
  DefinitionDetailView,
  DefinitionSummaryView,
  EventView,
  RunDetailView,
  RunSummaryView,
  StepView,
  SyncReportView,
  VersionDetailView,
  VersionSummaryView,
} from '../views/types.js';

/** At most this many items per list, in process as over HTTP (one API page). */
export const MAX_LIST_LIMIT = 500;

export interface RunListQuery {
  workflowId?: string | undefined;
  environment?: string | undefined;
  status?: string | undefined;
  /** How the runs were started: manual, cron, webhook or workflow (child runs). */
  trigger?: string | undefined;
  /** Runs created at or after this time (ISO-8601). */
  since?: string | undefined;
  /** Runs created before this time (ISO-8601). */
  until?: string | undefined;
  /** Runs created before this one (the next page). */
  before?: string | undefined;
  limit: number;
}

/** Which agent of a name: needed when it exists in several environments (or bundles of one). */
export interface AgentQuery {
  env?: string | undefined;
  bundle?: string | undefined;
}

/** `stn agents run`: one try of an agent's active version, outside any workflow. */
export interface AgentRunOptions extends AgentQuery {
  task: string;
  variables?: JsonObject | undefined;
  /** Hears of each model turn and tool call as it completes. */
  onProgress?: ((p: AgentRunProgressView) => void) | undefined;
  /** Stops the agent (Ctrl-C): the in-flight model request and tool calls are aborted. */
  signal?: AbortSignal | undefined;
}

export interface StartRunOptions {
  workflowId: string;
  environment?: string | undefined;
  input?: JsonValue | undefined;
  version?: number | undefined;
  idempotencyKey?: string | undefined;
}

/** One progress event of a run tree: `step` is the step it concerns, `prefix` names a child run (`child-wf: `). */
export interface ProgressEvent {
  event: EventView;
  step: StepView | undefined;
  prefix: string;
}

export interface WatchOptions {
  /** Receives the step events of the run (and, where the client sees them, of its child runs) in order. */
  onProgress?: ((p: ProgressEvent) => void) | undefined;
  /** Stops watching (Ctrl-C); the run goes on. */
  signal: AbortSignal;
  /** Called once when an abort makes the client wait for steps it executes itself. */
  onStopping?: ((graceMs: number) => void) | undefined;
}

/**
 * What every CLI command that reads or acts on a Station goes through: in process on the database
 * ({@link LocalClient}) or over the HTTP API of a daemon ({@link HttpClient}). Both answer with the same views, so a
 * command's output does not depend on where it ran.
 */
export interface StationClient {
  /** Where the work happens: the daemon executes remote runs; a local `stn run` executes them in this process. */
  readonly kind: 'local' | 'remote';

  listWorkflows(q: { env?: string | undefined; status?: string | undefined }): Promise<DefinitionSummaryView[]>;
  showWorkflow(id: string, q: { env?: string | undefined; version?: number | undefined }): Promise<DefinitionDetailView>;
  workflowVersions(id: string, env: string | undefined): Promise<{ environment: string; versions: VersionSummaryView[] }>;
  workflowVersion(id: string, env: string | undefined, version: number): Promise<{ environment: string; version: VersionDetailView }>;
  sync(o: { env?: string | undefined; dryRun?: boolean | undefined; allowEmpty?: boolean | undefined }): Promise<SyncReportView>;

  listAgents(q: { env?: string | undefined; status?: string | undefined }): Promise<AgentSummaryView[]>;
  showAgent(name: string, q: AgentQuery & { version?: number | undefined }): Promise<AgentDetailView>;
  agentVersions(name: string, q: AgentQuery): Promise<{ environment: string; bundle: string | null; versions: AgentVersionSummaryView[] }>;
  /**
   * Runs the agent's active version once with the daemon's (or this process's) providers and MCP tools, nothing
   * stored. Rejects before it runs (unknown agent, variables that break its input schema); resolves with the result
   * otherwise, also when the agent failed.
   */
  runAgent(name: string, o: AgentRunOptions): Promise<AgentRunResultView>;

  /** Starts a run (or returns the earlier one of the same idempotency key). */
  startRun(o: StartRunOptions): Promise<{ run: RunDetailView; created: boolean }>;
  /** Until the run ends ('ended') or `signal` aborts ('interrupted'); a local client executes the run meanwhile. */
  watchRun(runId: string, o: WatchOptions): Promise<'ended' | 'interrupted'>;
  listRuns(q: RunListQuery): Promise<RunSummaryView[]>;
  showRun(id: string): Promise<RunDetailView>;
  /** The run's event log; with `follow`, every event up to the run's terminal one, as it is committed. */
  events(id: string, onEvent: (e: EventView) => void, follow: boolean): Promise<void>;
  /** The events of one step of a run, in order (an agent step's transcript is made of its agent:* events). */
  stepEvents(runId: string, stepId: string): Promise<EventView[]>;
  cancel(id: string, compensate: boolean): Promise<RunSummaryView>;
  pause(id: string): Promise<RunSummaryView>;
  resume(id: string): Promise<RunSummaryView>;
  signal(id: string, name: string, payload: JsonValue | undefined): Promise<{ signalId: number }>;

  listApprovals(q: { status?: string | undefined; limit: number }): Promise<ApprovalView[]>;
  /** `as`: who a local vote counts as; a remote vote counts as the token's person. */
  decide(approvalId: string, vote: 'approve' | 'reject', o: { comment?: string | undefined; as?: string | undefined }): Promise<DecisionView>;

  close(): Promise<void>;
}
