import type { JsonValue } from '../definitions/types.js';
import { TERMINAL_EVENTS } from '../views/runs.js';
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
import { StationError } from '../errors.js';
import { encodeCursor, remoteError, RemoteClient, type Page, type RemoteTarget } from './transport.js';
import { MAX_LIST_LIMIT, type AgentQuery, type AgentRunOptions, type RunListQuery, type StartRunOptions, type StationClient, type WatchOptions } from './types.js';

type Query = Record<string, string | number | undefined>;
const enc = encodeURIComponent;
/** A sync reads and validates the whole checkout: it may take longer than an ordinary request. */
const SYNC_TIMEOUT_MS = 300_000;

/** The client of a daemon's HTTP API (`--server URL` / STN_SERVER, token from STN_TOKEN). */
export class HttpClient implements StationClient {
  readonly kind = 'remote';
  private readonly api: RemoteClient;

  constructor(target: RemoteTarget) {
    this.api = new RemoteClient(target);
  }

  private async get<T>(path: string, query: Query = {}): Promise<T> {
    return (await this.api.request<T>('GET', path, { query })).body;
  }

  private async post<T>(path: string, body: unknown): Promise<T> {
    return (await this.api.request<T>('POST', path, { body })).body;
  }

  /** Every page of a list, following nextCursor (from `cursor`, when given). */
  private async all<T>(path: string, query: Query, cursor?: string): Promise<T[]> {
    const items: T[] = [];
    let next = cursor;
    do {
      const page = await this.get<Page<T>>(path, { ...query, limit: MAX_LIST_LIMIT, cursor: next });
      items.push(...page.items);
      next = page.nextCursor ?? undefined;
    } while (next);
    return items;
  }

  listWorkflows(q: { env?: string | undefined; status?: string | undefined }) {
    return this.all<DefinitionSummaryView>('/api/v1/workflows', { env: q.env, status: q.status });
  }

  showWorkflow(id: string, q: { env?: string | undefined; version?: number | undefined }) {
    return this.get<DefinitionDetailView>(`/api/v1/workflows/${enc(id)}`, { env: q.env, version: q.version });
  }

  async workflowVersions(id: string, env: string | undefined) {
    const { environment } = await this.showWorkflow(id, { env });
    return { environment, versions: await this.all<VersionSummaryView>(`/api/v1/workflows/${enc(id)}/versions`, { env: environment }) };
  }

  async workflowVersion(id: string, env: string | undefined, n: number) {
    const { environment } = await this.showWorkflow(id, { env });
    return { environment, version: await this.get<VersionDetailView>(`/api/v1/workflows/${enc(id)}/versions/${n}`, { env: environment }) };
  }

  listAgents(q: { env?: string | undefined; status?: string | undefined }) {
    return this.all<AgentSummaryView>('/api/v1/agents', { env: q.env, status: q.status });
  }

  showAgent(name: string, q: AgentQuery & { version?: number | undefined }) {
    return this.get<AgentDetailView>(`/api/v1/agents/${enc(name)}`, { env: q.env, bundle: q.bundle, version: q.version });
  }

  async agentVersions(name: string, q: AgentQuery) {
    // Resolved first, so the versions are of the agent the answer names (as the local client does it).
    const { environment, bundle } = await this.showAgent(name, q);
    const versions = await this.all<AgentVersionSummaryView>(`/api/v1/agents/${enc(name)}/versions`, { env: environment, bundle: bundle ?? '' });
    return { environment, bundle, versions };
  }

  /** `POST /agents/{name}/runs` answers NDJSON: a line per turn and tool call, then the result (or a server error). */
  async runAgent(name: string, o: AgentRunOptions): Promise<AgentRunResultView> {
    const body = { task: o.task, variables: o.variables, environment: o.env, bundle: o.bundle };
    let result: AgentRunResultView | undefined;
    await this.api.postLines(`/api/v1/agents/${enc(name)}/runs`, body, (line) => {
      const l = line as { type: string; result?: AgentRunResultView; error?: { code: string; message: string } };
      if (l.type === 'result') result = l.result;
      else if (l.type === 'error') throw remoteError(l.error);
      else o.onProgress?.(l as AgentRunProgressView);
    }, o.signal);
    if (!result) throw new StationError('STN_E_SERVER', `POST /api/v1/agents/${name}/runs: the answer ended before the result (the daemon stopped?)`);
    return result;
  }

  async sync(o: { env?: string | undefined; dryRun?: boolean | undefined; allowEmpty?: boolean | undefined }) {
    const body = { environment: o.env, dryRun: o.dryRun, allowEmpty: o.allowEmpty };
    return (await this.api.request<SyncReportView>('POST', '/api/v1/sync', { body, timeoutMs: SYNC_TIMEOUT_MS })).body;
  }

  async startRun(o: StartRunOptions) {
    const { status, body } = await this.api.request<RunDetailView>('POST', '/api/v1/workflow-runs', { body: o });
    return { run: body, created: status === 201 };
  }

  async watchRun(runId: string, o: WatchOptions): Promise<'ended' | 'interrupted'> {
    try {
      await this.follow(runId, '', o);
    } catch (err) {
      if (!o.signal.aborted) throw err;
    }
    return o.signal.aborted ? 'interrupted' : 'ended';
  }

  /**
   * Hands the step events of a run to `o.onProgress` until it ends, with their steps (read again when a step is new or
   * changed). A child run the run waits for is followed in its place, so its steps come between the parent's.
   */
  private async follow(runId: string, prefix: string, o: WatchOptions): Promise<void> {
    const path = `/api/v1/workflow-runs/${enc(runId)}`;
    let steps = new Map<string, StepView>();
    const stepOf = async (e: EventView): Promise<StepView | undefined> => {
      if (e.stepId === null) return undefined;
      if (!steps.has(e.stepId) || e.type === 'step:failed' || e.type === 'step:waiting') {
        steps = new Map((await this.showRun(runId)).steps.map((s) => [s.id, s]));
      }
      return steps.get(e.stepId);
    };
    let last = 0;
    let queue = Promise.resolve();
    const onData = (data: unknown) => {
      const e = data as EventView;
      if (e.seq <= last) return;
      last = e.seq;
      const report = o.onProgress;
      if (!report || !e.type.startsWith('step:')) return;
      // In order, one step read at a time, however fast the events come.
      queue = queue.then(async () => {
        report({ event: e, step: await stepOf(e), prefix });
        const child = childRunOf(e);
        if (child !== undefined) await this.follow(child, `${(await this.showRun(child)).workflowId}: `, o);
      });
      queue.catch(() => undefined); // awaited below; this only keeps a failure from being reported as unhandled first
    };
    for (;;) {
      // A stream that ends before the run (a daemon restarting) is resumed after the last event received; one that
      // has nothing to send (204: the run had ended) leaves the rest to read from the log.
      const streamed = await this.api.stream(`${path}/stream`, { 'last-event-id': String(last) }, onData, o.signal);
      if (!streamed) for (const e of await this.all<EventView>(`${path}/events`, {}, last > 0 ? encodeCursor(last) : undefined)) onData(e);
      if (!streamed || (await this.showRun(runId)).finishedAt !== null) break;
    }
    await queue;
  }

  async listRuns(q: RunListQuery) {
    const query = {
      workflowId: q.workflowId,
      environment: q.environment,
      status: q.status,
      trigger: q.trigger,
      since: q.since,
      until: q.until,
      limit: q.limit,
      cursor: q.before !== undefined ? encodeCursor(q.before) : undefined,
    };
    return (await this.get<Page<RunSummaryView>>('/api/v1/workflow-runs', query)).items;
  }

  showRun(id: string) {
    return this.get<RunDetailView>(`/api/v1/workflow-runs/${enc(id)}`);
  }

  /** `follow` reads the run's SSE stream until the run ends, then whatever it did not deliver from the log. */
  async events(id: string, onEvent: (e: EventView) => void, follow: boolean): Promise<void> {
    const path = `/api/v1/workflow-runs/${enc(id)}`;
    let last = 0;
    let ended = false;
    if (follow) {
      await this.api.stream(`${path}/stream`, {}, (data) => {
        const e = data as EventView;
        if (e.seq <= last) return;
        last = e.seq;
        onEvent(e);
        if (TERMINAL_EVENTS.has(e.type)) ended = true;
      });
    }
    if (ended) return;
    // Without --follow, and after a stream that had nothing left to send (204: the run had ended).
    for (const e of await this.all<EventView>(`${path}/events`, {}, last > 0 ? encodeCursor(last) : undefined)) onEvent(e);
  }

  /** `GET /workflow-runs/{id}/events?stepId=`, every page. */
  stepEvents(runId: string, stepId: string): Promise<EventView[]> {
    return this.all<EventView>(`/api/v1/workflow-runs/${enc(runId)}/events`, { stepId });
  }

  cancel(id: string, compensate: boolean) {
    return this.post<RunSummaryView>(`/api/v1/workflow-runs/${enc(id)}/cancel`, { compensate });
  }

  pause(id: string) {
    return this.post<RunSummaryView>(`/api/v1/workflow-runs/${enc(id)}/pause`, undefined);
  }

  resume(id: string) {
    return this.post<RunSummaryView>(`/api/v1/workflow-runs/${enc(id)}/resume`, undefined);
  }

  signal(id: string, name: string, payload: JsonValue | undefined) {
    return this.post<{ signalId: number }>(`/api/v1/workflow-runs/${enc(id)}/signals`, { name, payload });
  }

  async listApprovals(q: { status?: string | undefined; limit: number }) {
    return (await this.get<Page<ApprovalView>>('/api/v1/workflow-approvals', { status: q.status, limit: q.limit })).items;
  }

  /** The decision routes are under the run, so the approval is read first for its run id. */
  async decide(approvalId: string, vote: 'approve' | 'reject', o: { comment?: string | undefined }) {
    const a = await this.get<ApprovalView>(`/api/v1/workflow-approvals/${enc(approvalId)}`);
    const path = `/api/v1/workflow-runs/${enc(a.runId)}/approvals/${enc(a.id)}/${vote}`;
    return this.post<DecisionView>(path, o.comment !== undefined ? { comment: o.comment } : {});
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The child run a `step:waiting` event waits for, if it does. */
function childRunOf(e: EventView): string | undefined {
  if (e.type !== 'step:waiting') return undefined;
  const wait = (e.data as { wait?: { type?: unknown; runId?: unknown } } | null)?.wait;
  return wait?.type === 'child' && typeof wait.runId === 'string' ? wait.runId : undefined;
}
