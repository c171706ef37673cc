import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake Slack Web API on 127.0.0.1 speaking the real protocol (POST /api/<method>, form- or JSON-encoded arguments,
 * `{ok: ...}` answers), so Station's production Slack client (Bolt's WebClient) runs unchanged against it. It records
 * every call; tests look at what was posted, updated, shown ephemerally, and opened.
 */
export interface SlackCall {
  method: string;
  args: Record<string, unknown>;
  /** The bearer token the call carried (to check the right token is used, never to print). */
  token: string | undefined;
}

export interface FakeSlackUser {
  id: string;
  name: string;
  email?: string;
}

export class FakeSlack {
  readonly calls: SlackCall[] = [];
  /** While true every call answers HTTP 503 (Slack is down). */
  down = false;
  /** Users for users.lookupByEmail and users.info. */
  users: FakeSlackUser[] = [];
  /** User groups: id → {handle, members}. */
  groups: Record<string, { handle: string; users: string[] }> = {};
  /** Channels that do not exist: posts there answer channel_not_found. */
  missingChannels = new Set<string>();
  /** Calls refused while `down` (HTTP 503) or by a scripted failure, by method. */
  readonly refused: string[] = [];
  /**
   * Scripted failures, used up in order: the next call of `method` answers HTTP `status` (429 carries `Retry-After:
   * retryAfterSeconds`, as Slack's rate limiting does).
   */
  failures: Array<{ method: string; status: number; retryAfterSeconds?: number }> = [];
  /**
   * Platform errors by method, answered (HTTP 200, `{ok: false, error}`) to every call of that method while set, as
   * Slack answers a revoked or wrong token with `invalid_auth`. The calls are recorded.
   */
  platformErrors: Record<string, string> = {};
  /** Milliseconds to hold each reply of a method after recording the call (a slow Slack; the call is in flight meanwhile). */
  replyDelayMs: Record<string, number> = {};
  /** The WebSocket URL apps.connections.open hands out (Socket Mode). */
  socketUrl: string | undefined;
  private server: http.Server | undefined;
  private seq = 0;
  private waiters: Array<() => void> = [];

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.answer(req, Buffer.concat(chunks).toString('utf8'), res));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return this.url;
  }

  /** The Web API base (slack.apiUrl), with its trailing slash. */
  get url(): string {
    const a = this.server?.address() as AddressInfo;
    return `http://127.0.0.1:${a.port}/api/`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }

  /** The recorded calls of one method, in order. */
  of(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Waits until a recorded call matches (tests await Slack traffic instead of sleeping). */
  async waitFor(method: string, match: (c: SlackCall) => boolean = () => true, timeoutMs = 15_000): Promise<SlackCall> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.of(method).find(match);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(`no ${method} call matched within ${timeoutMs} ms; calls: ${this.calls.map((c) => c.method).join(', ')}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  private answer(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0] ?? '';
    const args = parseArgs(body, req.headers['content-type']);
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : typeof args.token === 'string' ? args.token : undefined;
    if (this.down) {
      this.refused.push(method);
      res.writeHead(503, { 'content-type': 'text/plain' }).end('Service Unavailable');
      return;
    }
    const failure = this.failures.findIndex((f) => f.method === method);
    if (failure >= 0) {
      const f = this.failures.splice(failure, 1)[0] as { status: number; retryAfterSeconds?: number };
      this.refused.push(method);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (f.retryAfterSeconds !== undefined) headers['retry-after'] = String(f.retryAfterSeconds);
      res.writeHead(f.status, headers).end(JSON.stringify({ ok: false, error: f.status === 429 ? 'ratelimited' : 'fatal_error' }));
      for (const w of this.waiters.splice(0)) w();
      return;
    }
    this.calls.push({ method, args, token });
    const scripted = this.platformErrors[method];
    const reply = scripted !== undefined ? { ok: false, error: scripted } : this.reply(method, args);
    const send = (): void => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    };
    const delay = this.replyDelayMs[method];
    if (delay === undefined) send();
    else setTimeout(send, delay);
    for (const w of this.waiters.splice(0)) w();
  }

  private nextTs(): string {
    this.seq += 1;
    return `1700000000.${String(this.seq).padStart(6, '0')}`;
  }

  private reply(method: string, args: Record<string, unknown>): Record<string, unknown> {
    switch (method) {
      case 'auth.test':
        return { ok: true, user_id: 'UBOT', bot_id: 'BBOT', team_id: 'T1', user: 'station' };
      case 'chat.postMessage': {
        if (this.missingChannels.has(String(args.channel))) return { ok: false, error: 'channel_not_found' };
        const ts = this.nextTs();
        // Like Slack: a post to a channel name (#ops) answers with the channel's id.
        return { ok: true, channel: channelId(String(args.channel)), ts, message: { text: args.text, ts } };
      }
      case 'chat.update':
        // Like Slack: chat.update needs the channel id, a name is not found.
        if (String(args.channel).startsWith('#')) return { ok: false, error: 'channel_not_found' };
        return { ok: true, channel: args.channel, ts: args.ts, text: args.text };
      case 'chat.postEphemeral':
        return { ok: true, message_ts: this.nextTs() };
      case 'views.open':
        return { ok: true, view: { id: `V${this.seq}` } };
      case 'users.lookupByEmail': {
        const u = this.users.find((x) => x.email?.toLowerCase() === String(args.email).toLowerCase());
        return u ? { ok: true, user: { id: u.id, name: u.name, profile: { email: u.email } } } : { ok: false, error: 'users_not_found' };
      }
      case 'users.info': {
        const u = this.users.find((x) => x.id === args.user);
        return u ? { ok: true, user: { id: u.id, name: u.name, profile: { email: u.email } } } : { ok: false, error: 'user_not_found' };
      }
      case 'usergroups.users.list': {
        const g = this.groups[String(args.usergroup)];
        return g ? { ok: true, users: g.users } : { ok: false, error: 'no_such_subteam' };
      }
      case 'usergroups.list':
        return { ok: true, usergroups: Object.entries(this.groups).map(([id, g]) => ({ id, handle: g.handle, name: g.handle })) };
      case 'apps.connections.open':
        return this.socketUrl ? { ok: true, url: this.socketUrl } : { ok: false, error: 'invalid_auth' };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }
}

/** The id the fake gives a channel name: `#ops` → `COPS`; ids stay as they are. */
export function channelId(channel: string): string {
  return channel.startsWith('#') ? `C${channel.slice(1).toUpperCase().replace(/[^A-Z0-9]/g, '')}` : channel;
}

/** Form-encoded (the WebClient's default; nested values are JSON strings) or JSON arguments. */
function parseArgs(body: string, contentType: string | undefined): Record<string, unknown> {
  if (body === '') return {};
  if ((contentType ?? '').includes('application/json')) return JSON.parse(body) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(body)) {
    if ((k === 'blocks' || k === 'view' || k === 'attachments') && v.startsWith('[') || (k === 'view' && v.startsWith('{'))) {
      out[k] = JSON.parse(v) as unknown;
    } else {
      out[k] = v;
    }
  }
  return out;
}

/** Headers Slack would send with `body`, signed with `secret` at `timestampSeconds`. */
export function slackSignature(secret: string, body: string, timestampSeconds: number): Record<string, string> {
  const sig = `v0=${createHmac('sha256', secret).update(`v0:${timestampSeconds}:${body}`).digest('hex')}`;
  return { 'x-slack-request-timestamp': String(timestampSeconds), 'x-slack-signature': sig };
}

/** The fields every interaction payload of the test workspace carries about who acted, and for which app. */
function fromUser(user: { id: string; name: string }) {
  return {
    team: { id: 'T1', domain: 'example' },
    user: { id: user.id, username: user.name, name: user.name, team_id: 'T1' },
    api_app_id: 'A1',
    token: 'legacy-verification-token',
  };
}

/** A block_actions payload as Slack sends it when someone clicks a button of an approval message. */
export function buttonClick(opts: {
  actionId: string;
  approvalId: string;
  user: { id: string; name: string };
  channel: string;
  messageTs?: string;
  /** The run's thread, when the clicked message is a reply in it (as approval requests are). */
  threadTs?: string;
}) {
  const thread = opts.threadTs !== undefined ? { thread_ts: opts.threadTs } : {};
  return {
    type: 'block_actions',
    ...fromUser(opts.user),
    trigger_id: `trigger-${Math.random().toString(36).slice(2)}`,
    channel: { id: opts.channel, name: 'ops' },
    container: { type: 'message', message_ts: opts.messageTs ?? '1700000000.000001', channel_id: opts.channel, is_ephemeral: false, ...thread },
    message: { ts: opts.messageTs ?? '1700000000.000001', text: 'approval', ...thread },
    response_url: 'http://127.0.0.1:9/response',
    actions: [{ type: 'button', action_id: opts.actionId, block_id: `approval:${opts.approvalId}`, value: opts.approvalId, action_ts: '1700000001.000001' }],
  };
}

/** A view_submission payload of the Reject dialog. */
export function rejectSubmission(opts: { approvalId: string; channel: string; user: { id: string; name: string }; reason?: string }) {
  return {
    type: 'view_submission',
    ...fromUser(opts.user),
    trigger_id: 'trigger-submit',
    view: {
      id: 'V1',
      type: 'modal',
      callback_id: 'stn_reject_modal',
      private_metadata: JSON.stringify({ approvalId: opts.approvalId, channel: opts.channel }),
      state: { values: { reason: { reason: { type: 'plain_text_input', value: opts.reason ?? null } } } },
    },
  };
}

/** The form body Slack POSTs for an interaction. */
export function interactionBody(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}
