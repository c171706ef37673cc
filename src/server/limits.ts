import fs from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyHttpOptions } from 'fastify';
import type { ResolvedConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import { errorBody } from './errors.js';
import { clientKey, LogThrottle } from './rate-limit.js';

/** How often Node checks open connections for the header and request timeouts (the granularity of both). */
const TIMEOUT_CHECK_MS = 1_000;

/** Open files the daemon needs besides its sockets (SQLite, Git, the watcher, step processes' pipes). */
const FILES_FOR_THE_REST = 256;

/** The soft limit on open files of this process (Linux; undefined elsewhere or when unlimited). */
function openFileLimit(): number | undefined {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.split(/\s{2,}/)[1]);
    return Number.isFinite(soft) ? soft : undefined;
  } catch {
    return undefined;
  }
}

/** One raw HTTP answer that closes the connection (for refusals before Fastify sees a request). */
function rawAnswer(status: number, code: string, message: string, extra = ''): string {
  const body = JSON.stringify(errorBody(code, message));
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`;
}

/**
 * The Fastify options behind server.limits: header and request timeouts (slow-loris), the idle timeout of a connection
 * (a client that stops reading), the keep-alive timeout, the client address (trustProxy), and 408s and malformed
 * requests answered in the API's error shape.
 */
export function serverOptions(config: ResolvedConfig, logger: Logger): FastifyHttpOptions<http.Server> {
  const l = config.server.limits;
  const throttle = new LogThrottle();
  return {
    trustProxy: config.server.trustProxy === false ? false : config.server.trustProxy === true ? true : [...config.server.trustProxy],
    requestTimeout: l.requestTimeoutSeconds * 1000,
    connectionTimeout: l.idleTimeoutSeconds * 1000,
    keepAliveTimeout: l.keepAliveTimeoutSeconds * 1000,
    http: {
      headersTimeout: l.headersTimeoutSeconds * 1000,
      requestTimeout: l.requestTimeoutSeconds * 1000,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    },
    clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket) {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      if (timeout) {
        const pass = throttle.pass(clientKey(socket.remoteAddress));
        if (pass) logger.warn({ client: socket.remoteAddress, code: 'STN_E_REQUEST_TIMEOUT', ...(pass.suppressed ? { suppressed: pass.suppressed } : {}) }, 'connection closed: the request did not arrive in time');
      }
      const answered = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
      if (socket.writable && !answered) {
        socket.write(
          timeout
            ? rawAnswer(408, 'STN_E_REQUEST_TIMEOUT', `the request did not arrive within server.limits (headers ${l.headersTimeoutSeconds} s, whole request ${l.requestTimeoutSeconds} s)`)
            : err.code === 'HPE_HEADER_OVERFLOW'
              ? rawAnswer(431, 'STN_E_USAGE', 'the request headers are too large')
              : rawAnswer(400, 'STN_E_USAGE', 'malformed HTTP request'),
        );
      }
      socket.destroy();
    },
  };
}

/**
 * The connection caps: server.limits.maxConnections in all (Node closes further ones at once) and
 * maxConnectionsPerClient per client address (answered 429 and closed). They keep one client, or a flood of idle
 * connections, from using up the daemon's file descriptors (which steps, SQLite and Git need too).
 */
export function limitConnections(server: http.Server, config: ResolvedConfig, logger: Logger): void {
  const l = config.server.limits;
  server.maxConnections = l.maxConnections;
  const files = openFileLimit();
  if (files !== undefined && l.maxConnections + FILES_FOR_THE_REST > files) {
    logger.warn(
      { max_connections: l.maxConnections, open_file_limit: files },
      `server.limits.maxConnections leaves fewer than ${FILES_FOR_THE_REST} of the process's open files to SQLite, Git and steps: lower it or raise the limit (ulimit -n)`,
    );
  }
  const open = new Map<string, number>();
  const throttle = new LogThrottle();
  const refusal = rawAnswer(429, 'STN_E_CLIENT_LIMIT', `this client already has ${l.maxConnectionsPerClient} connections open (server.limits.maxConnectionsPerClient)`, 'Retry-After: 1\r\n');
  server.prependListener('connection', (socket: Socket) => {
    const key = clientKey(socket.remoteAddress);
    const n = open.get(key) ?? 0;
    if (n >= l.maxConnectionsPerClient) {
      const pass = throttle.pass(key);
      if (pass) logger.warn({ client: socket.remoteAddress, code: 'STN_E_CLIENT_LIMIT', limit: l.maxConnectionsPerClient, ...(pass.suppressed ? { suppressed: pass.suppressed } : {}) }, 'connection refused: too many from this client');
      socket.on('error', () => undefined);
      socket.write(refusal, () => socket.destroy());
      return;
    }
    open.set(key, n + 1);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left > 0) open.set(key, left);
      else open.delete(key);
    });
  });
}
