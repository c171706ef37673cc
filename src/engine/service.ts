import type { ValidateFunction } from 'ajv/dist/2020.js';
import { ajv, formatSchemaErrors, schemaViolations } from '../json-schema.js';
import type { JsonObject, JsonValue, WorkflowSpec } from '../definitions/types.js';
import { NotFoundError, StationError, UsageError } from '../errors.js';
import type { WaitSpec } from '../executors/types.js';
import type { DefinitionStore } from '../store/definitions.js';
import { environmentRevisions, type EnvironmentRevisionStore, type VariableScope } from '../store/environment-revisions.js';
import { TERMINAL_RUN, type RunRow, type RunStore, type StepRow } from '../store/runs.js';
import type { RunEvent, RunEventMap, RunEventType, RunEvents } from './events.js';
import { appendRunEvent } from './append-event.js';
import { newRunId } from './ids.js';
import { statusOfActiveSteps } from './interpreter.js';
import type { Specs } from './specs.js';

export interface StartRunRequest {
  workflowId: string;
  environment?: string | undefined;
  input?: JsonValue | undefined;
  /**
   * Run this version; default: the active one. Another version than the active one is refused
   * (STN_E_VERSION_PIN_FORBIDDEN) unless `pinnedBy` names who was allowed to pin it (the API's admin role, the local CLI).
   */
  version?: number | undefined;
  /** Who pins a non-active version, checked by the caller (admin token, CLI user); recorded as `run:version_pinned`. */
  pinnedBy?: string | undefined;
  idempotencyKey?: string | undefined;
  trigger?: Record<string, unknown> | undefined;
  initiator?: string | undefined;
}

export interface StartedRun {
  run: RunRow;
  /** false when an earlier run with the same idempotency key was returned instead. */
  created: boolean;
  /** true when this call created a run of a version other than the active one (audited as `run:version_pinned`). */
  pinned?: boolean;
}

/** The ways to act on runs from outside the engine (CLI, API): start, signal, pause, resume, cancel, read. */
export class RunService {
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(
    private readonly o: {
      store: RunStore;
      definitions: DefinitionStore;
      specs: Specs;
      events: RunEvents;
      now?: () => number;
      /** Called after anything that gives the local engine work. */
      poke?: () => void;
      /** Pins the agent versions a starting run's workflow names (inside the run's creating transaction). */
      pinAgents?: (runId: string, environment: string, bundle: string | null, spec: WorkflowSpec) => void;
    },
  ) {
    this.revisions = environmentRevisions(o.definitions.db);
  }

  private readonly revisions: EnvironmentRevisionStore;

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** Starts a run (`POST /api/v1/workflow-runs`): validates the input against `inputSchema`, pins the version. */
  start(req: StartRunRequest): StartedRun {
    const started = this.o.store.transaction(() => this.startInTx(req));
    if (started.created) this.o.poke?.();
    return started;
  }

  /** The same, inside a transaction the caller holds (child runs are created in their parent's transaction). */
  startInTx(req: StartRunRequest & { parent?: { runId: string; stepId: string; rootRunId: string } }): StartedRun {
    const environment = this.resolveEnvironment(req.workflowId, req.environment);
    const def = this.o.definitions.definition(environment, req.workflowId);
    if (!def) throw new NotFoundError(`no workflow "${req.workflowId}" in environment "${environment}"`);
    if (req.idempotencyKey !== undefined) {
      const existing = this.o.store.runByIdempotencyKey(environment, req.workflowId, req.idempotencyKey);
      if (existing) return { run: existing, created: false };
    }
    // A disabled definition never starts, whichever version is asked for (its file was deleted on purpose).
    if (def.status === 'disabled') {
      throw new StationError('STN_E_WORKFLOW_UNAVAILABLE', `workflow "${req.workflowId}" in "${environment}" is disabled (its file was deleted)`);
    }
    const version = req.version ?? def.active_version;
    if (version === null) {
      throw new StationError('STN_E_WORKFLOW_UNAVAILABLE', `workflow "${req.workflowId}" has no valid version to run (it is ${def.status})`);
    }
    // An older version may lack a gate (an approval, a check) added since: only an admin may run it, and it is audited.
    const pinned = version !== def.active_version;
    if (pinned && req.pinnedBy === undefined) {
      throw new StationError(
        'STN_E_VERSION_PIN_FORBIDDEN',
        `version ${version} of "${req.workflowId}" is not its active version (${def.active_version ?? 'none'}): running it needs the admin role`,
        { version, activeVersion: def.active_version },
      );
    }
    const { spec } = this.o.specs.get(environment, req.workflowId, version);
    const input = (req.input ?? {}) as JsonValue;
    this.validateInput(environment, req.workflowId, version, spec.inputSchema, input);

    const nowMs = this.now();
    const nowIso = new Date(nowMs).toISOString();
    const id = newRunId(nowMs);
    const trigger = req.trigger ?? { type: req.parent ? 'workflow' : 'manual' };
    const vars = this.varsFor(environment, req.workflowId, def.bundle);
    this.o.store.insertRun({
      id,
      workflow_id: req.workflowId,
      environment,
      version,
      status: 'PENDING',
      input: JSON.stringify(input),
      trigger: JSON.stringify(trigger),
      vars: JSON.stringify(vars.vars),
      env_revision: vars.revision,
      idempotency_key: req.idempotencyKey ?? null,
      parent_run_id: req.parent?.runId ?? null,
      parent_step_id: req.parent?.stepId ?? null,
      root_run_id: req.parent?.rootRunId ?? id,
      initiator: req.initiator ?? null,
      deadline_at: spec.timeoutSeconds ? nowMs + spec.timeoutSeconds * 1000 : null,
      created_at: nowIso,
    });
    this.o.pinAgents?.(id, environment, def.bundle, spec);
    this.o.store.insertFrame({ run_id: id, id: 0, parent_id: null, owner_step_id: null, key: '', path: '', def_path: '', vars: null, status: 'RUNNING' });
    this.o.store.insertPatch(id, 1, 0, '', 'set', JSON.stringify(input !== null && typeof input === 'object' && !Array.isArray(input) ? input : { input }));
    const created: RunEventMap['run:created'] = { workflowId: req.workflowId, environment, version, trigger };
    if (req.parent) created.parentRunId = req.parent.runId;
    this.o.store.insertEvent(id, 1, 'run:created', null, JSON.stringify(created), nowIso);
    if (pinned) {
      const audit: RunEventMap['run:version_pinned'] = { version, activeVersion: def.active_version, by: req.pinnedBy ?? null };
      this.o.store.insertEvent(id, 2, 'run:version_pinned', null, JSON.stringify(audit), nowIso);
    }
    const run = this.o.store.run(id) as RunRow;
    run.event_seq = pinned ? 2 : 1;
    run.patch_seq = 1;
    this.o.store.updateRun(run);
    this.o.store.insertTask(id, 'start', null, null, nowMs);
    return { run, created: true, pinned };
  }

  /**
   * workflow.run: a child run in the parent's environment unless it names another, of the version it names, else of
   * the child workflow's active version (the parent's pinned version says nothing about its children's).
   */
  createChild(parent: RunRow, step: StepRow, wait: Extract<WaitSpec, { type: 'child' }>): string {
    const started = this.startInTx({
      workflowId: wait.workflow,
      environment: wait.environment ?? parent.environment,
      version: wait.version,
      // A version named in the parent's definition was chosen in its reviewed file, not by whoever runs it; the child
      // still records it as pinned (run:version_pinned), by the parent.
      ...(wait.version !== undefined ? { pinnedBy: `workflow.run in run ${parent.id} (${parent.workflow_id} v${parent.version}, state ${step.state_name})` } : {}),
      input: wait.input,
      parent: { runId: parent.id, stepId: step.id, rootRunId: parent.root_run_id },
      initiator: parent.initiator ?? undefined,
    });
    return started.run.id;
  }

  private resolveEnvironment(workflowId: string, environment: string | undefined): string {
    if (environment !== undefined) return environment;
    const defs = this.o.definitions.definitionsById(workflowId);
    if (defs.length === 0) throw new NotFoundError(`no workflow "${workflowId}" in any environment (run "stn sync" first?)`);
    if (defs.length > 1) {
      throw new UsageError(`workflow "${workflowId}" exists in ${defs.map((d) => d.environment).join(', ')}: name the environment`);
    }
    return (defs[0] as { environment: string }).environment;
  }

  /** All violations of `inputSchema`, listed (STN_E_INPUT_INVALID). */
  private validateInput(env: string, id: string, version: number, schema: JsonObject | undefined, input: JsonValue): void {
    if (!schema) return;
    const key = `${env}\0${id}\0${version}`;
    let validate = this.validators.get(key);
    if (!validate) {
      validate = ajv.compile(schema);
      this.validators.set(key, validate);
    }
    if (validate(input)) return;
    const errors = schemaViolations(validate.errors);
    throw new StationError('STN_E_INPUT_INVALID', `input does not match the inputSchema of "${id}": ${formatSchemaErrors(validate.errors)}`, { errors });
  }

  /**
   * The variables a new run starts with: those sync pinned in the environment's current revision (its own workflows'
   * scope, or the bundle's), never the working tree's files. The revision is recorded on the run; its vars are copied
   * into the run, so they never change while it runs. Before the environment's first sync with this Station (a
   * database from an earlier release), the newest run of the same workflow lends its stored vars; with none, `{}`.
   */
  private varsFor(environment: string, workflowId: string, bundle: string | null): { vars: JsonObject; revision: number | null } {
    const revision = this.revisions.latestNumber(environment);
    if (revision === null) {
      // Every run started before the first revision copies these same vars, so the answer stays true: read it once
      // (the newest run of a workflow is a sort over all its runs).
      const key = `${environment}\0${workflowId}`;
      let vars = this.unpinnedCache.get(key);
      if (!vars) {
        vars = (this.revisions.lastRunVars(environment, workflowId) ?? {}) as JsonObject;
        this.unpinnedCache.set(key, vars);
      }
      return { vars, revision: null };
    }
    const key = `${environment}\0${revision}`;
    let scopes = this.scopeCache.get(key);
    if (!scopes) {
      scopes = this.revisions.get(environment, revision)?.scopes ?? {};
      // One entry per environment: a new revision replaces the old one.
      for (const k of this.scopeCache.keys()) if (k.startsWith(`${environment}\0`)) this.scopeCache.delete(k);
      this.scopeCache.set(key, scopes);
    }
    // A bundle no longer listed has no scope of its own: its workflows see the environment's vars.
    const scope = (bundle !== null && Object.hasOwn(scopes, bundle) ? scopes[bundle] : scopes['']) ?? { vars: {} };
    return { vars: scope.vars as JsonObject, revision };
  }

  /** Parsed revisions by environment (run starts are hot: cron, webhooks). */
  private readonly scopeCache = new Map<string, Record<string, VariableScope>>();
  /** Before an environment's first revision: the vars lent by a workflow's newest run, by environment and workflow. */
  private readonly unpinnedCache = new Map<string, JsonObject>();

  // ---------------------------------------------------------------- acting on runs

  private mustGet(runId: string): RunRow {
    const run = this.o.store.run(runId);
    if (!run) throw new NotFoundError(`no run "${runId}"`);
    return run;
  }

  /** Appends an event inside the caller's transaction; the caller emits it once that transaction committed. */
  private appendEvent<T extends RunEventType>(run: RunRow, type: T, data: RunEventMap[T]): RunEvent {
    return appendRunEvent((id, row) => this.o.store.insertEventRow(id, row), run, type, null, data, new Date(this.now()).toISOString());
  }

  /** Delivers a signal; a run not waiting for it yet keeps it for its next `signal.wait` of that name. */
  signal(runId: string, name: string, payload: JsonValue | undefined): { signalId: number } {
    const result = this.o.store.transaction(() => {
      const run = this.mustGet(runId);
      if (TERMINAL_RUN.has(run.status)) throw new StationError('STN_E_RUN_FINISHED', `run ${runId} already ended ${run.status}`);
      const at = new Date(this.now()).toISOString();
      const signalId = this.o.store.insertSignal(runId, name, payload === undefined ? null : JSON.stringify(payload), at);
      this.o.store.insertTask(runId, 'signal', null, { signalId }, this.now());
      return { signalId };
    });
    this.o.poke?.();
    return result;
  }

  /** Pause: no new steps start; a running step finishes. */
  pause(runId: string, by: string | null = null): RunRow {
    return this.setPaused(runId, true, by);
  }

  /** Resume: the run goes on from where it paused. */
  resume(runId: string, by: string | null = null): RunRow {
    const run = this.setPaused(runId, false, by);
    this.o.poke?.();
    return run;
  }

  private setPaused(runId: string, paused: boolean, by: string | null): RunRow {
    let event: RunEvent | undefined;
    const run = this.o.store.transaction(() => {
      const r = this.mustGet(runId);
      if (TERMINAL_RUN.has(r.status)) throw new StationError('STN_E_RUN_FINISHED', `run ${runId} already ended ${r.status}`);
      if (r.paused === paused) return r;
      r.paused = paused;
      if (paused) r.status = 'PAUSED';
      else r.status = r.started_at ? statusOfActiveSteps(this.o.store.activeStatuses(r.id)) : 'PENDING';
      event = this.appendEvent(r, paused ? 'run:paused' : 'run:resumed', { by });
      r.updated_at = new Date(this.now()).toISOString();
      this.o.store.updateRun(r);
      return r;
    });
    if (event) this.o.events.emit(event);
    return run;
  }

  /** Cancel: stops new steps, cancels running ones (their processes are killed), compensates if asked. */
  cancel(runId: string, compensate: boolean, by: string | null = null): RunRow {
    const run = this.o.store.transaction(() => {
      const r = this.mustGet(runId);
      if (TERMINAL_RUN.has(r.status)) throw new StationError('STN_E_RUN_FINISHED', `run ${runId} already ended ${r.status}`);
      if (!r.cancel) {
        r.cancel = { compensate };
        r.updated_at = new Date(this.now()).toISOString();
        this.o.store.updateRun(r);
        this.o.store.insertTask(runId, 'cancel', null, { compensate, by }, 0);
      }
      return r;
    });
    this.o.poke?.();
    return run;
  }

  get(runId: string): RunRow {
    return this.mustGet(runId);
  }
}
