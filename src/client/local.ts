import { approvalJson } from '../approvals/types.js';
import type { Station } from '../context.js';
import type { JsonValue } from '../definitions/types.js';
import { NotFoundError } from '../errors.js';
import type { ApprovalFilter, ApprovalStatus } from '../store/approvals.js';
import { AgentStore } from '../store/agents.js';
import type { DefinitionRow } from '../store/definitions.js';
import type { RunRow } from '../store/runs.js';
import { markInterruptedSyncs } from '../sync/interrupted.js';
import { agentSummary, agentVersionSummary } from '../views/agents.js';
import { definitionSummary, versionDetail, versionSummary } from '../views/definitions.js';
import { eventJson, runDetailJson, runSummaryJson } from '../views/runs.js';
import { checkoutState, syncJson } from '../views/sync.js';
import type { DecisionView, EventView } from '../views/types.js';
import { executeAgentTry, prepareAgentTry } from './agent-try.js';
import { executeTree } from './local-watch.js';
import { localActor, localUser } from './local-user.js';
import { agentDetailOf, definitionDetailOf, findAgent, findDefinition, mustGetRun } from './lookup.js';
import { RunTail } from './run-tail.js';
import type { AgentQuery, AgentRunOptions, RunListQuery, StartRunOptions, StationClient, WatchOptions } from './types.js';

/** Events read per query of a run's log. */
const PAGE = 1000;

/**
 * The in-process client: opens nothing itself, works on the Station (database, config, checkout) it is given, as the
 * local CLI always has. It acts as the user running this process, who holds the database.
 */
export class LocalClient implements StationClient {
  readonly kind = 'local';

  constructor(readonly station: Station) {}

  private findDefinition(id: string, env: string | undefined): DefinitionRow {
    return findDefinition(this.station.definitions, id, env, '--env');
  }

  private mustGetRun(id: string): RunRow {
    return mustGetRun(this.station.runStore, id);
  }

  private detail(id: string) {
    return runDetailJson(this.mustGetRun(id), this.station.runStore.steps(id));
  }

  listWorkflows(q: { env?: string | undefined; status?: string | undefined }) {
    return Promise.resolve(this.station.definitions.listDefinitions({ environment: q.env, status: q.status }).map(definitionSummary));
  }

  showWorkflow(id: string, q: { env?: string | undefined; version?: number | undefined }) {
    return Promise.resolve(definitionDetailOf(this.station.definitions, this.findDefinition(id, q.env), q.version));
  }

  workflowVersions(id: string, env: string | undefined) {
    const d = this.findDefinition(id, env);
    const versions = this.station.definitions.versions(d.environment, id).map((v) => versionSummary(v, d.active_version));
    return Promise.resolve({ environment: d.environment, versions });
  }

  workflowVersion(id: string, env: string | undefined, n: number) {
    const d = this.findDefinition(id, env);
    const v = this.station.definitions.version(d.environment, id, n);
    if (!v) throw new NotFoundError(`workflow "${id}" in "${d.environment}" has no version ${n}`);
    return Promise.resolve({ environment: d.environment, version: versionDetail(v) });
  }

  private get agents(): AgentStore {
    return (this.agentStore ??= new AgentStore(this.station.db));
  }

  private agentStore: AgentStore | undefined;

  private findAgent(name: string, q: AgentQuery) {
    return findAgent(this.agents, name, q, { env: '--env', bundle: '--bundle' });
  }

  listAgents(q: { env?: string | undefined; status?: string | undefined }) {
    return Promise.resolve(this.agents.listAgents({ environment: q.env, status: q.status }).map(agentSummary));
  }

  showAgent(name: string, q: AgentQuery & { version?: number | undefined }) {
    return Promise.resolve(agentDetailOf(this.agents, this.findAgent(name, q), q.version));
  }

  agentVersions(name: string, q: AgentQuery) {
    const a = this.findAgent(name, q);
    const versions = this.agents.versions(a.environment, a.scope, a.name).map((v) => agentVersionSummary(v, a.active_version));
    return Promise.resolve({ environment: a.environment, bundle: a.scope === '' ? null : a.scope, versions });
  }

  runAgent(name: string, o: AgentRunOptions) {
    const prepared = prepareAgentTry(this.station, name, { task: o.task, variables: o.variables, environment: o.env, bundle: o.bundle }, { env: '--env', bundle: '--bundle' });
    return executeAgentTry(this.station, prepared, o.onProgress ?? (() => undefined), o.signal ?? new AbortController().signal);
  }

  async sync(o: { env?: string | undefined; dryRun?: boolean | undefined; allowEmpty?: boolean | undefined }) {
    const s = this.station;
    if (!o.dryRun) markInterruptedSyncs(s.definitions, s.logger);
    const report = await s.syncer.sync({ environment: o.env, dryRun: o.dryRun, allowEmpty: o.allowEmpty, source: 'cli' });
    return syncJson(report, await checkoutState(s.git, s.config.git.remote, s.config.git.branch));
  }

  startRun(o: StartRunOptions) {
    const user = localUser();
    const { run, created, pinned } = this.station.runs.start({
      ...o,
      // The local CLI holds the database itself, so it is as trusted as an admin token; a pin is still audited.
      pinnedBy: o.version !== undefined ? `cli:${user ?? 'unknown'}` : undefined,
      initiator: user,
      trigger: { type: 'manual', via: 'cli' },
    });
    if (pinned) {
      const fields = { run_id: run.id, workflow_id: run.workflow_id, env: run.environment, version: run.version, by: `cli:${user ?? 'unknown'}` };
      this.station.logger.warn(fields, 'run pinned to a version that is not the active one');
    }
    return Promise.resolve({ run: this.detail(run.id), created });
  }

  watchRun(runId: string, o: WatchOptions) {
    this.mustGetRun(runId);
    return executeTree(this.station, runId, o);
  }

  listRuns(q: RunListQuery) {
    return Promise.resolve(this.station.runStore.listRuns(q).map(runSummaryJson));
  }

  showRun(id: string) {
    return Promise.resolve(this.detail(id));
  }

  async events(id: string, onEvent: (e: EventView) => void, follow: boolean): Promise<void> {
    this.mustGetRun(id);
    if (!follow) {
      for (let after = 0, batch = this.station.runStore.events(id, 0, PAGE); batch.length > 0; batch = this.station.runStore.events(id, after, PAGE)) {
        for (const e of batch) onEvent(eventJson(e));
        after = batch.at(-1)?.seq ?? after;
      }
      return;
    }
    // The tail's timer does not hold the process open (a daemon's streams must not): this wait does.
    const keepAlive = setInterval(() => undefined, 60_000);
    try {
      await new Promise<void>((resolve) => {
        // Another process (`stn worker`, the daemon) may execute the run: the tail reads what it commits.
        new RunTail(this.station, id, { afterSeq: 0, onEvents: (rows) => rows.forEach((r) => onEvent(eventJson(r))), onEnd: () => resolve() });
      });
    } finally {
      clearInterval(keepAlive);
    }
  }

  stepEvents(runId: string, stepId: string): Promise<EventView[]> {
    this.mustGetRun(runId);
    return Promise.resolve(this.station.runStore.eventsOfStep(runId, stepId).map(eventJson));
  }

  cancel(id: string, compensate: boolean) {
    return Promise.resolve(runSummaryJson(this.station.runs.cancel(id, compensate, localUser() ?? null)));
  }

  pause(id: string) {
    return Promise.resolve(runSummaryJson(this.station.runs.pause(id, localUser() ?? null)));
  }

  resume(id: string) {
    return Promise.resolve(runSummaryJson(this.station.runs.resume(id, localUser() ?? null)));
  }

  signal(id: string, name: string, payload: JsonValue | undefined) {
    return Promise.resolve(this.station.runs.signal(id, name, payload));
  }

  listApprovals(q: { status?: string | undefined; limit: number }) {
    const approvals = this.station.approvals;
    const filter: ApprovalFilter = { status: q.status as ApprovalStatus | undefined, limit: q.limit };
    return Promise.resolve(approvals.list(filter).map((a) => approvalJson(a, approvals.votes(a.id))));
  }

  decide(approvalId: string, vote: 'approve' | 'reject', o: { comment?: string | undefined; as?: string | undefined }): Promise<DecisionView> {
    const actor = localActor(o.as);
    const res = this.station.approvals.decide({ approvalId, vote, actor, comment: o.comment });
    const approval = approvalJson(res.approval, this.station.approvals.votes(approvalId));
    return Promise.resolve({ outcome: res.outcome, remaining: res.remaining, by: { source: actor.source, id: actor.id, name: actor.name }, approval });
  }

  close(): Promise<void> {
    return this.station.close();
  }
}
