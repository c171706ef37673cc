import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ResolvedToken, TokenRole } from '../config/config.js';
import { ConfigError, StationError } from '../errors.js';

export type Role = TokenRole;

/**
 * Roles in order of power; each includes the rights of those before it (README "HTTP API"): viewer reads,
 * operator also starts and controls runs and syncs, approver also decides approvals, admin may do everything
 * (today: a sync with allowEmpty).
 */
export const ROLES: readonly Role[] = ['viewer', 'operator', 'approver', 'admin'];
const RANK: Record<Role, number> = { viewer: 0, operator: 1, approver: 2, admin: 3 };

/**
 * What a route requires: a role (bearer token), `public` (health probes) or `hmac` (webhooks: the route verifies a
 * signature over the raw body itself, so it is reachable without a token).
 */
export type Access = Role | 'public' | 'hmac';

/** Who made a request: a configured token, or `local` (every right) when no tokens are configured. */
export interface Principal {
  name: string;
  role: Role;
  /** True when the server runs without tokens (loopback only). */
  anonymous: boolean;
  /** The person holding the token (server.tokens `user` / `email`), for approvals: who a vote counts as. */
  user?: string | undefined;
  email?: string | undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Required access; a route without it is admin-only (fail closed). */
    auth?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export function allows(principal: Principal, needed: Role): boolean {
  return RANK[principal.role] >= RANK[needed];
}

/** `api:<token name>`: how runs, pauses and cancels record who asked. */
export function actorOf(principal: Principal | null): string | null {
  if (!principal) return null;
  return principal.anonymous ? 'api' : `api:${principal.name}`;
}

/** Bearer-token authentication against the SHA-256 hashes of the configured tokens (plain tokens are never kept). */
export class Auth {
  private readonly byHash = new Map<string, Principal>();

  /** Throws STN_E_CONFIG when a token's environment variable is unset, or two entries share a name or token. */
  constructor(tokens: readonly ResolvedToken[]) {
    const names = new Set<string>();
    for (const t of tokens) {
      if (names.has(t.name)) throw new ConfigError(`server.tokens: two tokens are named "${t.name}"`);
      names.add(t.name);
      if (t.sha256 === null) {
        throw new ConfigError(`server.tokens: token "${t.name}" reads environment variable ${t.env ?? '?'}, which is not set`);
      }
      if (this.byHash.has(t.sha256)) throw new ConfigError(`server.tokens: tokens "${t.name}" and "${this.byHash.get(t.sha256)?.name ?? '?'}" are the same token`);
      this.byHash.set(t.sha256, { name: t.name, role: t.role, anonymous: false, user: t.user, email: t.email });
    }
  }

  /** False when no tokens are configured: every request is allowed, and the server binds to loopback only. */
  get enabled(): boolean {
    return this.byHash.size > 0;
  }

  /** The principal of an `Authorization` header; throws STN_E_UNAUTHENTICATED (401). */
  authenticate(header: string | undefined): Principal {
    if (!this.enabled) return { name: 'local', role: 'admin', anonymous: true };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match?.[1]) {
      throw new StationError('STN_E_UNAUTHENTICATED', 'this endpoint needs an "Authorization: Bearer <token>" header');
    }
    // Looking the hash up leaks nothing about a configured token: hashes of wrong guesses say nothing about it.
    const principal = this.byHash.get(createHash('sha256').update(match[1]).digest('hex'));
    if (!principal) throw new StationError('STN_E_UNAUTHENTICATED', 'the bearer token is not one of server.tokens');
    return principal;
  }

  /** Authenticates and checks the role a route declares (`config.auth`); 401 or 403 otherwise. */
  install(app: FastifyInstance): void {
    app.decorateRequest('principal', null);
    app.addHook('onRequest', async (req: FastifyRequest) => {
      const access: Access = req.routeOptions.config.auth ?? 'admin';
      if (access === 'public' || access === 'hmac') return;
      const principal = this.authenticate(req.headers.authorization);
      req.principal = principal;
      if (!allows(principal, access)) {
        throw new StationError('STN_E_FORBIDDEN', `token "${principal.name}" has role ${principal.role}; this needs ${access} or higher`, {
          role: principal.role,
          required: access,
        });
      }
    });
  }

  /** Checks a stronger role inside a handler (e.g. a sync with allowEmpty needs admin). */
  static require(req: FastifyRequest, needed: Role, what: string): void {
    const p = req.principal;
    if (p && !allows(p, needed)) {
      throw new StationError('STN_E_FORBIDDEN', `token "${p.name}" has role ${p.role}; ${what} needs ${needed}`, {
        role: p.role,
        required: needed,
      });
    }
  }
}

/** 127.0.0.0/8, ::1 and localhost: the addresses a server without tokens may bind to. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}
