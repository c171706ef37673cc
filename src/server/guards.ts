import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ResolvedConfig } from '../config/config.js';
import type { ErrorCode } from '../errors.js';
import { isLoopback, type Auth, type Principal } from './auth.js';
import { errorBody } from './errors.js';
import { clientKey, LogThrottle, TokenBuckets } from './rate-limit.js';

/** Wrong tokens remembered per client, so a client retrying one stale token counts once. */
const RECENT_FAILURES = 8;

declare module 'fastify' {
  interface FastifyInstance {
    /** Per-client request guards (src/server/guards.ts); /readyz uses them to read an optional token. */
    guards: RequestGuards;
  }
}

/** The name part of a Host header: `[::1]:7878` → `[::1]`, `localhost:7878` → `localhost`. */
export function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  return colon >= 0 && colon === host.lastIndexOf(':') ? host.slice(0, colon) : host;
}

/**
 * Checks every request makes before authentication (docs/security.md "Server limits, rate limits and the Host/Origin
 * check"), all per client address (`req.ip`: the socket's, or X-Forwarded-For from a trusted proxy):
 * - without API tokens: the Host must be a loopback name and there must be no Origin header (DNS rebinding, CSRF);
 * - at most server.limits.maxBodiesPerClient bodies being received at once;
 * - after server.rateLimits.authFailures distinct wrong tokens, requests that need a token get 429 until the bucket
 *   refills (whatever token they carry: a right guess must not be told apart from a wrong one);
 * - the signed routes (webhooks, Slack) at most server.rateLimits.webhooks.
 * Refusals and authentication failures are logged with the client address, at most once a minute per client and kind.
 */
export class RequestGuards {
  private readonly authFailures: TokenBuckets;
  private readonly webhooks: TokenBuckets;
  private readonly recentFailures = new Map<string, string[]>();
  private readonly bodies = new Map<string, number>();
  private readonly logThrottle = new LogThrottle();
  private readonly maxBodies: number;

  constructor(
    private readonly auth: Auth,
    config: ResolvedConfig,
  ) {
    this.authFailures = new TokenBuckets(config.server.rateLimits.authFailures);
    this.webhooks = new TokenBuckets(config.server.rateLimits.webhooks);
    this.maxBodies = config.server.limits.maxBodiesPerClient;
  }

  /** Registers the hooks; call before Auth.install so they run first. */
  install(app: FastifyInstance): void {
    app.decorate('guards', this as RequestGuards);
    app.addHook('onRequest', async (req, reply) => {
      const access = req.routeOptions.config.auth ?? 'admin';
      const key = clientKey(req.ip);
      if (!this.auth.enabled && access !== 'hmac') {
        const refused = this.sameSite(req);
        if (refused) return this.refuse(req, reply, 403, refused.code, refused.message, refused.details);
      }
      if (!this.admitBody(req, key)) {
        return this.refuse(req, reply, 429, 'STN_E_CLIENT_LIMIT', `this client already sends ${this.maxBodies} request bodies at once (server.limits.maxBodiesPerClient)`, { limit: this.maxBodies }, 1);
      }
      if (access === 'hmac') {
        if (!this.webhooks.take(key)) {
          return this.refuse(req, reply, 429, 'STN_E_RATE_LIMITED', 'too many webhook requests from this client (server.rateLimits.webhooks)', null, this.webhooks.retryAfterSeconds(key));
        }
      } else if (access !== 'public' && this.auth.enabled && !this.authFailures.has(key)) {
        return this.refuse(req, reply, 429, 'STN_E_RATE_LIMITED', 'too many failed token authentications from this client (server.rateLimits.authFailures)', null, this.authFailures.retryAfterSeconds(key));
      }
      return undefined;
    });
    app.addHook('onError', async (req, _reply, err: { code?: unknown }) => {
      if (err.code === 'STN_E_UNAUTHENTICATED') this.noteFailure(req);
      else if (err.code === 'STN_E_FORBIDDEN' && req.principal) this.log(req, 'forbidden', `${req.principal.name}`, { token: req.principal.name }, 'a token was refused: its role is too weak');
    });
  }

  /**
   * The principal of an optional bearer token on a public route (/readyz shows details to token holders). A wrong
   * token counts as a failure like anywhere else, and a client over its failure budget is treated as anonymous.
   */
  optionalPrincipal(req: FastifyRequest): Principal | null {
    if (!this.auth.enabled || !req.headers.authorization || !this.authFailures.has(clientKey(req.ip))) return null;
    try {
      return this.auth.authenticate(req.headers.authorization);
    } catch {
      this.noteFailure(req);
      return null;
    }
  }

  /** DNS rebinding: a page of evil.example resolving to 127.0.0.1 sends `Host: evil.example`; any page sends `Origin`. */
  private sameSite(req: FastifyRequest): { code: ErrorCode; message: string; details: Record<string, unknown> } | undefined {
    const host = req.headers.host;
    if (host !== undefined && !isLoopback(hostName(host))) {
      return {
        code: 'STN_E_HOST_REFUSED',
        message: `Host "${host.slice(0, 200)}" is not a loopback name: a daemon without API tokens only answers localhost, 127.0.0.1 and [::1]`,
        details: { host: host.slice(0, 200) },
      };
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      return {
        code: 'STN_E_ORIGIN_REFUSED',
        message: 'requests from web pages (an Origin header) are refused by a daemon without API tokens',
        details: { origin: origin.slice(0, 200) },
      };
    }
    return undefined;
  }

  /** Counts a body being received (not yet complete) against the client's cap; released when it ends or fails. */
  private admitBody(req: FastifyRequest, key: string): boolean {
    const raw = req.raw;
    const hasBody = raw.headers['transfer-encoding'] !== undefined || Number(raw.headers['content-length'] ?? 0) > 0;
    if (!hasBody || raw.complete) return true;
    const n = this.bodies.get(key) ?? 0;
    if (n >= this.maxBodies) return false;
    this.bodies.set(key, n + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (this.bodies.get(key) ?? 1) - 1;
      if (left > 0) this.bodies.set(key, left);
      else this.bodies.delete(key);
    };
    raw.once('end', release);
    raw.once('close', release);
    raw.once('error', release);
    return true;
  }

  /** A wrong or missing token: logged (never the token; a fingerprint of it); distinct wrong tokens use the budget. */
  private noteFailure(req: FastifyRequest): void {
    const header = req.headers.authorization;
    const key = clientKey(req.ip);
    if (!header) {
      this.log(req, 'unauthenticated', 'missing', { credential: 'missing' }, 'a request needing a token came without one');
      return;
    }
    const fingerprint = createHash('sha256').update(header).digest('hex').slice(0, 12);
    const recent = this.recentFailures.get(key) ?? [];
    if (!recent.includes(fingerprint)) {
      this.authFailures.take(key);
      recent.push(fingerprint);
      if (recent.length > RECENT_FAILURES) recent.shift();
      if (this.recentFailures.size >= 10_000) this.recentFailures.clear();
      this.recentFailures.set(key, recent);
    }
    this.log(req, 'unauthenticated', fingerprint, { credential: /^Bearer\s+\S+\s*$/i.test(header) ? 'unknown token' : 'malformed header', token_fingerprint: fingerprint }, 'authentication failed');
  }

  private refuse(
    req: FastifyRequest,
    reply: FastifyReply,
    status: number,
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> | null,
    retryAfterSeconds?: number,
  ): FastifyReply {
    this.log(req, code, '', { code, status }, 'request refused');
    if (retryAfterSeconds !== undefined) void reply.header('retry-after', String(retryAfterSeconds));
    // The body (if any) is not read: close the connection instead of draining it.
    if (req.raw.complete === false) void reply.header('connection', 'close');
    return reply.code(status).send(errorBody(code, message, details));
  }

  private log(req: FastifyRequest, kind: string, detail: string, fields: Record<string, unknown>, msg: string): void {
    const pass = this.logThrottle.pass(`${kind}|${clientKey(req.ip)}|${detail}`);
    if (!pass) return;
    req.log.warn({ client: req.ip, method: req.method, url: req.url.slice(0, 200), ...fields, ...(pass.suppressed ? { suppressed: pass.suppressed } : {}) }, msg);
  }
}
