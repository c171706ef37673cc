import type { Station } from '../context.js';
import type { WebhookTrigger } from '../definitions/types.js';
import { toStationError } from '../errors.js';
import { TriggerStore } from '../store/triggers.js';
import { triggerInput, webhookVars } from './input.js';
import { findWebhookTrigger } from './registry.js';
import {
  hasSignature,
  SIGNATURE_TOLERANCE_SECONDS,
  STATION_SIGNATURE_HEADER,
  verifySignature,
  verifyTimestamped,
  type RequestHeaders,
} from './signature.js';

export interface WebhookRequest {
  environment: string;
  workflowId: string;
  trigger: string;
  /** The exact bytes received (the server enforces the size limit, 413, before calling). */
  rawBody: Buffer;
  /** Lower-cased names, as Node's IncomingHttpHeaders. */
  headers: RequestHeaders;
  /**
   * The request path and query exactly as received (what X-Station-Signature signs); default
   * `/api/v1/hooks/<env>/<workflowId>/<trigger>`.
   */
  path?: string;
  query: Record<string, string | string[] | undefined>;
}

/** How a delivery ended, for logs and the daemon's `webhook deliveries by outcome` metric. */
export type WebhookOutcome = 'accepted' | 'duplicate' | 'not_found' | 'unauthorized' | 'bad_request' | 'invalid_input' | 'unavailable' | 'error';

export interface WebhookResponse {
  status: 200 | 202 | 400 | 401 | 404 | 409 | 422 | 500;
  /** 202 `{runId}`; 200 `{runId, duplicate: true}`; otherwise `{error: {code, message, details}}`. */
  body: Record<string, unknown>;
  outcome: WebhookOutcome;
}

/** A delivery id longer than this is refused (it is stored, and is a key). */
const MAX_DELIVERY_ID = 200;
/** Deliveries are remembered this long for dedupe; senders redeliver within hours, GitHub's UI within days. */
const DELIVERY_RETENTION_MS = 30 * 24 * 3600 * 1000;
const PRUNE_EVERY = 1000;

/**
 * Webhook triggers (README "Webhooks"): `POST /api/v1/hooks/<env>/<workflowId>/<trigger>` → verify the signature →
 * dedupe the delivery → map the request into run input → start a run, all answered synchronously (SQLite is
 * synchronous). The delivery record and the run commit in one transaction, so a redelivery racing the first one still
 * gets the first run.
 */
export class WebhookHandler {
  private readonly station: Station;
  private readonly env: NodeJS.ProcessEnv;
  private readonly store: TriggerStore;
  private readonly now: () => number;
  private accepted = 0;

  constructor(opts: { station: Station; env?: NodeJS.ProcessEnv; now?: () => number }) {
    this.station = opts.station;
    this.env = opts.env ?? process.env;
    this.store = new TriggerStore(opts.station.db);
    this.now = opts.now ?? Date.now;
  }

  handle(req: WebhookRequest): WebhookResponse {
    const started = performance.now();
    const response = this.answer(req);
    const level = response.status >= 500 ? 'error' : response.status >= 400 ? 'warn' : 'info';
    this.station.logger[level](
      {
        env: req.environment,
        workflow_id: req.workflowId,
        trigger: req.trigger,
        outcome: response.outcome,
        status: response.status,
        run_id: response.body.runId,
        error_type: (response.body.error as { code?: string } | undefined)?.code,
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
      },
      'webhook delivery',
    );
    return response;
  }

  private answer(req: WebhookRequest): WebhookResponse {
    let found;
    try {
      found = findWebhookTrigger(this.station, req.environment, req.workflowId, req.trigger);
    } catch (err) {
      return this.failure(err);
    }
    // One answer for unknown, disabled and switched-off triggers and for a missing or wrong signature: a caller
    // without the secret learns nothing about what exists.
    if (!found) return unknownTrigger('not_found');
    const { trigger } = found;

    const checked = this.checkSignature(trigger, req);
    if ('refused' in checked) return checked.refused;

    const deliveryId = deliveryIdOf(trigger, req.headers);
    if (deliveryId !== undefined && deliveryId.length > MAX_DELIVERY_ID) {
      return fail(400, 'bad_request', 'STN_E_USAGE', `the delivery id header is longer than ${MAX_DELIVERY_ID} characters`);
    }
    if (deliveryId === undefined && trigger.requireDeliveryId === true) {
      const header = trigger.dedupeHeader ?? 'X-GitHub-Delivery or Idempotency-Key';
      return fail(400, 'bad_request', 'STN_E_WEBHOOK_DELIVERY_ID', `this trigger requires a delivery id: send the ${header} header`);
    }
    const key = { environment: req.environment, workflowId: req.workflowId, trigger: trigger.name };
    // A timestamped signature is one signed request: replayed with another (or no) delivery id, it is the same delivery.
    const replayKey = checked.digest !== undefined ? `v1:${checked.digest}` : undefined;
    try {
      const vars = webhookVars(req.rawBody, req.headers, req.query);
      const result = this.station.runStore.transaction(() => {
        for (const id of [deliveryId, replayKey]) {
          if (id === undefined) continue;
          const first = this.store.delivery(key, id);
          if (first) return { runId: first.run_id, duplicate: true };
        }
        const input = triggerInput(trigger.input, { ...vars }, trigger.name, vars.body);
        const { run } = this.station.runs.start({
          workflowId: req.workflowId,
          environment: req.environment,
          input,
          trigger: { type: 'webhook', name: trigger.name, ...(deliveryId !== undefined ? { deliveryId } : {}) },
          initiator: `webhook:${trigger.name}`,
        });
        const at = new Date(this.now()).toISOString();
        if (deliveryId !== undefined) this.store.insertDelivery(key, deliveryId, at, run.id);
        if (replayKey !== undefined && replayKey !== deliveryId) this.store.insertDelivery(key, replayKey, at, run.id);
        return { runId: run.id, duplicate: false };
      });
      if (result.duplicate) return { status: 200, body: { runId: result.runId, duplicate: true }, outcome: 'duplicate' };
      this.maybePrune();
      return { status: 202, body: { runId: result.runId }, outcome: 'accepted' };
    } catch (err) {
      return this.failure(err);
    }
  }

  /**
   * Checks the trigger's signature (README "Webhooks"). Returns the matching timestamped digest (the request's replay
   * key), nothing for a body-only signature or an unsigned trigger, or the refusal: the same answer as an unknown
   * trigger for a missing or wrong signature and for a secret the daemon does not have (that one logged as an error),
   * 401 STN_E_WEBHOOK_STALE for a correctly signed request outside the 5-minute window.
   */
  private checkSignature(trigger: WebhookTrigger, req: WebhookRequest): { digest?: string } | { refused: WebhookResponse } {
    if (trigger.secretEnv === undefined) return {};
    const current = this.env[trigger.secretEnv];
    const previous = trigger.previousSecretEnv !== undefined ? this.env[trigger.previousSecretEnv] : undefined;
    const secrets = previous !== undefined && previous !== '' ? [current ?? '', previous] : [current ?? ''];
    const where = { env: req.environment, workflow_id: req.workflowId, trigger: trigger.name };
    if (current === undefined || current === '') {
      // Never accept unsigned requests for a trigger that asks for a signature: the operator must set the variable.
      this.station.logger.error(
        { ...where, secret_env: trigger.secretEnv },
        'webhook secret variable is not set in the daemon environment: refusing every delivery of this trigger',
      );
      return { refused: unknownTrigger('error') };
    }
    const stamped = req.headers[STATION_SIGNATURE_HEADER];
    if (stamped !== undefined) {
      const path = req.path ?? `/api/v1/hooks/${req.environment}/${req.workflowId}/${req.trigger}`;
      const sig = verifyTimestamped(stamped, path, req.rawBody, secrets);
      if (!sig) {
        this.station.logger.warn({ ...where, scheme: 'x-station-signature' }, 'webhook signature does not match (t.path.body with the secret)');
        return { refused: unknownTrigger('unauthorized') };
      }
      const skew = Math.round(this.now() / 1000) - sig.t;
      if (Math.abs(skew) > SIGNATURE_TOLERANCE_SECONDS) {
        return {
          refused: fail(401, 'unauthorized', 'STN_E_WEBHOOK_STALE', `the signature's timestamp is ${skew} s from the server's clock; at most ${SIGNATURE_TOLERANCE_SECONDS} s is accepted`, {
            skewSeconds: skew,
          }),
        };
      }
      return { digest: sig.digest };
    }
    if (trigger.requireTimestamp === true || !hasSignature(req.headers) || !secrets.some((secret) => verifySignature(req.rawBody, req.headers, secret))) {
      this.station.logger.warn(
        { ...where, scheme: trigger.requireTimestamp === true ? 'x-station-signature required' : hasSignature(req.headers) ? 'body' : 'none' },
        'webhook request without a valid signature',
      );
      return { refused: unknownTrigger('unauthorized') };
    }
    return {};
  }

  private failure(err: unknown): WebhookResponse {
    const e = toStationError(err);
    switch (e.code) {
      case 'STN_E_USAGE':
      case 'STN_E_BODY_TOO_DEEP':
        return fail(400, 'bad_request', e.code, e.message, e.details);
      case 'STN_E_NOT_FOUND':
        return fail(404, 'not_found', e.code, e.message, e.details);
      case 'STN_E_INPUT_INVALID':
      case 'STN_E_EXPR_SYNTAX':
      case 'STN_E_EXPR_EVAL':
      case 'STN_E_EXPR_MISSING_KEY':
      case 'STN_E_EXPR_BUDGET':
        return fail(422, 'invalid_input', e.code, e.message, e.details);
      case 'STN_E_WORKFLOW_UNAVAILABLE':
        return fail(409, 'unavailable', e.code, e.message, e.details);
      default:
        this.station.logger.error({ err: e.cause ?? e, error_type: e.code }, 'webhook delivery failed');
        return fail(500, 'error', e.code, 'internal error while starting the run (see the daemon log)');
    }
  }

  private maybePrune(): void {
    if (++this.accepted % PRUNE_EVERY !== 0) return;
    try {
      this.store.pruneDeliveries(new Date(Date.now() - DELIVERY_RETENTION_MS).toISOString());
    } catch (err) {
      this.station.logger.warn({ err }, 'pruning old webhook deliveries failed');
    }
  }
}

/**
 * The delivery id: the trigger's own `dedupeHeader`, or X-GitHub-Delivery, then Idempotency-Key. Taken exactly as sent
 * (Node already drops the spaces around a header value): `ABC` and `abc` are two deliveries.
 */
function deliveryIdOf(trigger: WebhookTrigger, headers: RequestHeaders): string | undefined {
  const names = trigger.dedupeHeader !== undefined ? [trigger.dedupeHeader.toLowerCase()] : ['x-github-delivery', 'idempotency-key'];
  for (const name of names) {
    const v = headers[name];
    const value = Array.isArray(v) ? v[0] : v;
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/**
 * The one answer for "no such trigger" and "not signed by its secret" (404 STN_E_NOT_FOUND, the same body): telling
 * them apart would let anyone probe which workflows and triggers exist. The log and the metric keep the real outcome.
 */
function unknownTrigger(outcome: WebhookOutcome): WebhookResponse {
  return fail(404, outcome, 'STN_E_NOT_FOUND', UNKNOWN_TRIGGER);
}

const UNKNOWN_TRIGGER =
  'no enabled webhook trigger at this URL accepts this request: check the environment, workflow and trigger names, and the signature when the trigger has a secret';

function fail(
  status: WebhookResponse['status'],
  outcome: WebhookOutcome,
  code: string,
  message: string,
  details?: Record<string, unknown>,
): WebhookResponse {
  // The API's one error shape (src/server/errors.ts): details is null when there are none.
  return { status, outcome, body: { error: { code, message, details: details ?? null } } };
}
