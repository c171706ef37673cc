import type { Station } from '../context.js';
import type { WebhookTrigger } from '../definitions/types.js';
import { toStationError } from '../errors.js';
import { TriggerStore } from '../store/triggers.js';
import { triggerInput, webhookVars } from './input.js';
import { findWebhookTrigger } from './registry.js';
import { hasSignature, verifySignature, type RequestHeaders } from './signature.js';

export interface WebhookRequest {
  environment: string;
  workflowId: string;
  trigger: string;
  /** The exact bytes received (the server enforces the size limit, 413, before calling). */
  rawBody: Buffer;
  /** Lower-cased names, as Node's IncomingHttpHeaders. */
  headers: RequestHeaders;
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
 * Webhook triggers (DESIGN §6): `POST /api/v1/hooks/<env>/<workflowId>/<trigger>` → verify the signature → dedupe the
 * delivery → map the request into run input → start a run, all answered synchronously (SQLite is synchronous). The
 * delivery record and the run commit in one transaction, so a redelivery racing the first one still gets the first run.
 */
export class WebhookHandler {
  private readonly station: Station;
  private readonly env: NodeJS.ProcessEnv;
  private readonly store: TriggerStore;
  private accepted = 0;

  constructor(opts: { station: Station; env?: NodeJS.ProcessEnv }) {
    this.station = opts.station;
    this.env = opts.env ?? process.env;
    this.store = new TriggerStore(opts.station.db);
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
    if (!found) {
      // One answer for unknown, disabled and switched-off: a caller learns nothing about what exists.
      const message = `no enabled webhook trigger "${req.trigger}" for workflow "${req.workflowId}" in environment "${req.environment}"`;
      return fail(404, 'not_found', 'STN_E_NOT_FOUND', message);
    }
    const { trigger } = found;

    const refused = this.checkSignature(trigger, req);
    if (refused) return refused;

    const deliveryId = deliveryIdOf(trigger, req.headers);
    if (deliveryId !== undefined && deliveryId.length > MAX_DELIVERY_ID) {
      return fail(400, 'bad_request', 'STN_E_USAGE', `the delivery id header is longer than ${MAX_DELIVERY_ID} characters`);
    }
    const key = { environment: req.environment, workflowId: req.workflowId, trigger: trigger.name };
    try {
      const vars = webhookVars(req.rawBody, req.headers, req.query);
      const result = this.station.runStore.transaction(() => {
        if (deliveryId !== undefined) {
          const first = this.store.delivery(key, deliveryId);
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
        if (deliveryId !== undefined) this.store.insertDelivery(key, deliveryId, new Date().toISOString(), run.id);
        return { runId: run.id, duplicate: false };
      });
      if (result.duplicate) return { status: 200, body: { runId: result.runId, duplicate: true }, outcome: 'duplicate' };
      this.maybePrune();
      return { status: 202, body: { runId: result.runId }, outcome: 'accepted' };
    } catch (err) {
      return this.failure(err);
    }
  }

  /** 401 for a missing or wrong signature; 500 when the secret is declared but the daemon does not have it. */
  private checkSignature(trigger: WebhookTrigger, req: WebhookRequest): WebhookResponse | undefined {
    if (trigger.secretEnv === undefined) return undefined;
    const secret = this.env[trigger.secretEnv];
    if (secret === undefined || secret === '') {
      // Never accept unsigned requests for a trigger that asks for a signature: the operator must set the variable.
      this.station.logger.error(
        { env: req.environment, workflow_id: req.workflowId, trigger: trigger.name, secret_env: trigger.secretEnv },
        'webhook secret variable is not set in the daemon environment: refusing every delivery of this trigger',
      );
      return fail(500, 'error', 'STN_E_CONFIG', 'this webhook trigger requires a signature, but its secret is not configured on the server');
    }
    if (!hasSignature(req.headers)) {
      return fail(401, 'unauthorized', 'STN_E_WEBHOOK_SIGNATURE', 'missing signature: send X-Hub-Signature-256: sha256=<hex> or X-Signature: <hex>');
    }
    if (!verifySignature(req.rawBody, req.headers, secret)) {
      return fail(401, 'unauthorized', 'STN_E_WEBHOOK_SIGNATURE', 'the signature does not match the body (HMAC-SHA256 of the raw body with the shared secret)');
    }
    return undefined;
  }

  private failure(err: unknown): WebhookResponse {
    const e = toStationError(err);
    switch (e.code) {
      case 'STN_E_USAGE':
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

/** The delivery id: the trigger's own `dedupeHeader`, or X-GitHub-Delivery, then Idempotency-Key. */
function deliveryIdOf(trigger: WebhookTrigger, headers: RequestHeaders): string | undefined {
  const names = trigger.dedupeHeader !== undefined ? [trigger.dedupeHeader.toLowerCase()] : ['x-github-delivery', 'idempotency-key'];
  for (const name of names) {
    const v = headers[name];
    const value = Array.isArray(v) ? v[0] : v;
    if (value !== undefined && value.trim() !== '') return value.trim();
  }
  return undefined;
}

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
