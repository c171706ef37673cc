import type { StepRow, TaskRow } from '../../store/runs.js';
import type { RunTx } from '../interpreter.js';
import type { HostContext } from './options.js';
import { WORKER_STALE_MS } from './workers.js';

/** How long an engine lacking a step's secrets leaves it to the others before it looks at the step again. */
const SECRET_RECHECK_MS = 10_000;

/**
 * Steps this engine lacks the secrets of. Such a step is left, PENDING, to a running engine that reported having them
 * (its task goes back to the queue and this engine stops claiming it for a while); when no running engine has them,
 * the step fails at once with STN_E_SECRET_MISSING instead of waiting for an engine that may never come. Only names
 * are compared; values never leave their process.
 */
export class SecretDeferral {
  /** Steps left to engines that have their secrets: step id → until when this engine does not claim them (ms). */
  private readonly leftToOthers = new Map<string, number>();

  constructor(private readonly host: HostContext) {}

  /** Inside the step's transaction: fails the step, or leaves it to another engine. */
  lack(rt: RunTx, task: TaskRow, step: StepRow, lacking: string[]): undefined {
    const { o, id } = this.host;
    const holders = o.store
      .workersSince(this.host.now() - WORKER_STALE_MS)
      .filter((w) => w.id !== id && lacking.every((name) => w.secretNames.includes(name)));
    const where = { run_id: rt.run.id, step_id: step.id, state: step.state_name, secrets: lacking, engine: id };
    if (holders.length === 0) {
      o.logger.warn(where, 'no running engine has the secrets this step needs: the step fails');
      rt.beginDelivery(step);
      rt.complete(step, {
        kind: 'error',
        error: {
          code: 'STN_E_SECRET_MISSING',
          message: `state "${step.state_name}" needs the secret${lacking.length > 1 ? 's' : ''} ${lacking.join(', ')}, which no running engine has (set STN_SECRET_${lacking[0] ?? ''} or add it to the secrets file of at least one engine)`,
          retryable: false,
          details: { secrets: lacking, engine: id },
        },
      });
      return undefined;
    }
    rt.keepTask();
    rt.store.releaseLease(task.id, id, task.lease_token); // through the unit: the task row may have a pending rewrite
    const known = this.leftToOthers.has(step.id);
    this.leftToOthers.set(step.id, this.host.now() + SECRET_RECHECK_MS);
    if (!known) {
      o.logger.warn({ ...where, holders: holders.map((w) => w.id) }, 'this engine lacks secrets the step needs: left to another engine');
      rt.event('step:deferred', step.id, { state: step.state_name, path: step.path, reason: 'secret_missing', secrets: lacking, engine: id });
    }
    return undefined;
  }

  /**
   * The steps this engine does not claim now, as the JSON array the claim query takes. An entry expires so the step is
   * looked at again (the engine that had the secret may be gone); one not renewed for a minute is forgotten.
   */
  skipped(): string {
    if (this.leftToOthers.size === 0) return '[]';
    const now = this.host.now();
    const ids: string[] = [];
    for (const [stepId, until] of this.leftToOthers) {
      if (until > now) ids.push(stepId);
      else if (until < now - 60_000) this.leftToOthers.delete(stepId);
    }
    return JSON.stringify(ids);
  }
}
