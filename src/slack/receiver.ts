import { createHmac, timingSafeEqual } from 'node:crypto';
import type { App, Receiver, ReceiverEvent } from '@slack/bolt';
import type { Logger } from '../log.js';

/** Slack signs every request; one older than this is refused (a replay: docs/api.md "Slack: `POST /slack/events`"). */
export const SLACK_REPLAY_WINDOW_SECONDS = 5 * 60;
/** Slack gives up on an answer after 3 s: past this, the acknowledgement goes out even if handling goes on. */
const ACK_DEADLINE_MS = 2500;

export type Headers = Record<string, string | string[] | undefined>;

export interface SlackHttpAnswer {
  status: number;
  body: string | Record<string, unknown>;
}

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Verifies `X-Slack-Signature` (`v0=` HMAC-SHA256 of `v0:<timestamp>:<raw body>` with the signing secret, constant-time)
 * and refuses timestamps more than five minutes away from now. Returns the reason for a refusal, or undefined.
 */
export function verifySlackSignature(rawBody: Buffer, headers: Headers, signingSecret: string, nowMs: number): string | undefined {
  const ts = header(headers, 'x-slack-request-timestamp');
  const signature = header(headers, 'x-slack-signature');
  if (!ts || !signature) return 'missing X-Slack-Request-Timestamp or X-Slack-Signature';
  const seconds = Number(ts);
  if (!Number.isInteger(seconds)) return 'X-Slack-Request-Timestamp is not a number';
  if (Math.abs(nowMs / 1000 - seconds) > SLACK_REPLAY_WINDOW_SECONDS) return 'the request timestamp is more than 5 minutes away from now (replay refused)';
  const expected = `v0=${createHmac('sha256', signingSecret).update(`v0:${ts}:`).update(rawBody).digest('hex')}`;
  const a = Buffer.from(signature);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return 'the signature does not match';
  return undefined;
}

/** Parses a Slack request body: interactivity is form-encoded with a JSON `payload`, events are JSON. */
export function parseSlackBody(rawBody: Buffer, contentType: string | undefined): Record<string, unknown> {
  const text = rawBody.toString('utf8');
  if ((contentType ?? '').includes('application/x-www-form-urlencoded')) {
    const form = new URLSearchParams(text);
    const payload = form.get('payload');
    if (payload !== null) return JSON.parse(payload) as Record<string, unknown>;
    return Object.fromEntries(form.entries());
  }
  return JSON.parse(text) as Record<string, unknown>;
}

/** Interaction payloads that always name who acted: without a user id, nobody can be checked or credited. */
const INTERACTIONS = new Set(['block_actions', 'view_submission', 'view_closed', 'block_suggestion', 'shortcut', 'message_action', 'interactive_message']);

/** Why a signed interaction payload cannot be handled (the listeners rely on these fields), or undefined. */
export function interactionShapeError(body: Record<string, unknown>): string | undefined {
  if (typeof body.type !== 'string' || !INTERACTIONS.has(body.type)) return undefined;
  const user = body.user as { id?: unknown } | undefined;
  if (typeof user !== 'object' || user === null || typeof user.id !== 'string' || user.id === '') return `${body.type} without user.id`;
  if (body.type === 'block_actions' && !Array.isArray(body.actions)) return 'block_actions without actions';
  if ((body.type === 'view_submission' || body.type === 'view_closed') && (typeof body.view !== 'object' || body.view === null)) return `${body.type} without view`;
  return undefined;
}

/**
 * A Bolt receiver fed by the daemon's own HTTP server (Fastify) instead of a server of its own: the route hands over
 * the raw body, this verifies it and dispatches it to the Bolt app, and answers with what the listener acknowledged.
 * The answer waits for the listener (so a click is recorded before Slack hears back), at most ~2.5 s.
 */
export class FastifyBoltReceiver implements Receiver {
  private app: App | undefined;

  constructor(
    private readonly o: { signingSecret: string; logger: Logger; now?: () => number },
  ) {}

  init(app: App): void {
    this.app = app;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  async handle(rawBody: Buffer, headers: Headers): Promise<SlackHttpAnswer> {
    const now = (this.o.now ?? Date.now)();
    const refused = verifySlackSignature(rawBody, headers, this.o.signingSecret, now);
    if (refused) {
      this.o.logger.warn({ reason: refused, error_type: 'slack_signature' }, 'Slack request refused');
      return { status: 401, body: { error: { code: 'STN_E_UNAUTHENTICATED', message: `Slack request refused: ${refused}` } } };
    }
    let body: Record<string, unknown>;
    try {
      body = parseSlackBody(rawBody, header(headers, 'content-type'));
    } catch (err) {
      return { status: 400, body: { error: { code: 'STN_E_USAGE', message: `Slack request body is not valid: ${(err as Error).message}` } } };
    }
    const malformed = interactionShapeError(body);
    if (malformed) {
      this.o.logger.warn({ reason: malformed, error_type: 'slack_payload' }, 'Slack request refused');
      return { status: 400, body: { error: { code: 'STN_E_USAGE', message: `Slack request body is not valid: ${malformed}` } } };
    }
    if (body.type === 'url_verification') return { status: 200, body: { challenge: body.challenge } };
    if (body.ssl_check !== undefined) return { status: 200, body: '' };
    if (!this.app) return { status: 503, body: { error: { code: 'STN_E_INTERNAL', message: 'the Slack app is not ready' } } };

    let acked: unknown;
    let ackedAt = false;
    const event: ReceiverEvent = {
      body,
      ack: async (response?: unknown) => {
        if (ackedAt) return;
        ackedAt = true;
        acked = response;
      },
      retryNum: Number(header(headers, 'x-slack-retry-num') ?? '') || undefined,
      retryReason: header(headers, 'x-slack-retry-reason'),
    };
    const processing = this.app.processEvent(event).then(
      () => 'done' as const,
      (err: unknown) => {
        this.o.logger.error({ err, error_type: 'slack_listener' }, 'Slack listener failed');
        return 'failed' as const;
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), ACK_DEADLINE_MS);
    });
    const outcome = await Promise.race([processing, deadline]);
    clearTimeout(timer);
    if (outcome === 'failed' && !ackedAt) return { status: 500, body: '' };
    if (acked === undefined || acked === null || acked === '') return { status: 200, body: '' };
    return { status: 200, body: typeof acked === 'string' ? acked : (acked as Record<string, unknown>) };
  }
}
