import { compileSchema } from '../../json-schema.js';
import { schemaIssues } from '../../definitions/schema-check.js';
import { ExpressionError } from '../../expressions/index.js';
import { ACTION_CATALOG } from '../../executors/catalog.js';
import type { ExecutorRegistry } from '../../executors/registry.js';
import type { ExecContext } from '../../executors/types.js';
import type { JournalEntry } from '../../agents/types.js';
import { objectColumn } from '../../store/run-rows.js';
import { TERMINAL_RUN, TERMINAL_STEP, type RunRow, type StepRow, type TaskRow } from '../../store/runs.js';
import { JOURNAL_EVENTS, type RunEventMap } from '../events.js';
import { idempotencyKey } from '../ids.js';
import type { RenderedInput } from '../core/delivery.js';
import type { RunTx } from '../interpreter.js';
import { secretsNeeded } from '../secret-refs.js';
import { stepTimedOut, type Work } from './executions.js';
import type { HostContext } from './options.js';
import type { SecretDeferral } from './secret-deferral.js';

/** How many chained steps one transaction may take, and for how long, before the chain goes back to the queue. */
const CHAIN_MAX_STEPS = 64;
const CHAIN_BUDGET_MS = 4;

/** Inline executors never block, so they share one signal that is never aborted; real work gets its own. */
const NEVER_ABORTED = new AbortController().signal;

/** The beginning of operation steps' deliveries, inside their transaction: inline work is done there, the rest handed out. */
export class Deliveries {
  constructor(
    private readonly host: HostContext,
    private readonly executors: ExecutorRegistry,
    private readonly deferral: SecretDeferral,
  ) {}

  /**
   * Goes on with the run's next step inside the same transaction while it is due now: steps of inline executors (no
   * side effects outside Station) complete here too, so a chain of them shares one commit; the first step with real
   * work is begun (committed RUNNING with its input) and returned to be executed. Bounded, so other runs get a turn.
   */
  continueChain(rt: RunTx, run: RunRow, inlineOnly = false): Work | undefined {
    const deadline = performance.now() + CHAIN_BUDGET_MS;
    for (let n = 0; n < CHAIN_MAX_STEPS && this.host.running && performance.now() < deadline; n++) {
      const next = rt.chained;
      if (!next || next.kind !== 'exec' || run.paused || TERMINAL_RUN.has(run.status)) return undefined;
      rt.continueWith(next);
      const work = this.begin(rt, run, next, inlineOnly);
      if (work) return work;
    }
    return undefined;
  }

  /**
   * Begins an operation step's delivery. `inlineOnly` (no execution slot is free): a step whose action has real work
   * is left to the queue, untouched, for the next free slot.
   */
  begin(rt: RunTx, run: RunRow, task: TaskRow, inlineOnly = false): Work | undefined {
    const { o, id, now } = this.host;
    const step = task.step_id ? rt.stepRow(task.step_id) : undefined;
    if (!step || TERMINAL_STEP.has(step.status) || TERMINAL_RUN.has(run.status) || step.wait !== null) return undefined;
    const op = rt.operationOf(step);
    if (run.paused || (inlineOnly && !this.executors[op.action]?.inline)) {
      // Paused after this task was chained or claimed (it waits for resume), or real work without a slot.
      rt.keepTask();
      rt.store.releaseLease(task.id, id, task.lease_token); // through the unit: the task row may have a pending rewrite
      return undefined;
    }
    const lacking = o.secrets.missing(secretsNeeded(op.input));
    if (lacking.length > 0) return this.deferral.lack(rt, task, step, lacking);
    rt.beginDelivery(step);
    const fail = (code: string, message: string) => {
      rt.complete(step, { kind: 'error', error: { code, message, retryable: false } });
      return undefined;
    };
    let input: RenderedInput;
    try {
      input = rt.renderInput(step);
    } catch (err) {
      if (err instanceof ExpressionError) return fail(err.code, err.message);
      throw err;
    }
    if (step.deliveries === 1) step.input = JSON.stringify(input.stored);
    const spec = (ACTION_CATALOG as Record<string, { inputSchema: object } | undefined>)[op.action];
    if (spec) {
      const validate = compileSchema(spec.inputSchema);
      if (!validate(input.real)) {
        const issues = schemaIssues(input.stored, validate.errors ?? [], `the ${op.action} input`);
        return fail('STN_E_ACTION_INPUT', `state "${step.state_name}": ${issues.map((i) => i.message).join('; ')}`);
      }
    }
    const executor = this.executors[op.action];
    if (!executor) {
      return fail('STN_E_EXECUTOR_MISSING', `action "${op.action}" has no executor in this version of Station (state "${step.state_name}")`);
    }
    const timeoutSeconds = op.timeoutSeconds;
    // A step delivered again after a crash keeps its attempt's deadline: it gets what is left, not a fresh timeout.
    const startedAt = step.attempt_started_ms ?? now();
    const timeoutMs = timeoutSeconds !== undefined ? startedAt + timeoutSeconds * 1000 - now() : undefined;
    if (timeoutMs !== undefined && timeoutMs <= 0 && !executor.inline) {
      rt.complete(step, stepTimedOut(step, timeoutSeconds ?? 0));
      return undefined;
    }
    const ctx: ExecContext = {
      runId: run.id,
      stepId: step.id,
      attempt: step.attempt,
      idempotencyKey: idempotencyKey(run.id, step.id, step.attempt),
      input: input.real,
      signal: NEVER_ABORTED,
      startedAt,
      timeoutMs,
      repo: o.repo,
      now,
      logger: o.logger,
      slack: o.slack,
      policy: o.policy,
      agents: o.agents,
      previous: input.previous,
      addMask: (value) => o.secrets.addRunMask(run.id, value),
      containsSecret: (text) => o.secrets.contains(run.id, text),
    };
    if (executor.inline) {
      // No side effects outside Station: the whole delivery happens in this transaction.
      rt.complete(step, executor.inline(ctx));
      return undefined;
    }
    o.store.updateStep(step); // RUNNING, with its input, committed before the executor starts
    rt.keepTask();
    const journal = executor.journaled ? journalOf(rt, step) : undefined;
    return { task, step, executor, ctx, timeoutMs: ctx.timeoutMs, timeoutSeconds, journal };
  }
}

/** The journal entries earlier deliveries of the step's current attempt committed (agent:turn and agent:tool events). */
function journalOf(rt: RunTx, step: StepRow): JournalEntry[] {
  const entries: JournalEntry[] = [];
  for (const e of rt.store.stepEvents(step.run_id, step.id, JOURNAL_EVENTS)) {
    const { attempt, agent: _agent, ...entry } = objectColumn<RunEventMap['agent:turn'] | RunEventMap['agent:tool']>(e.data);
    if (attempt === step.attempt) entries.push(entry);
  }
  return entries;
}
