/**
 * One http.request, redirects included, on node:http/https (not fetch: the connection must go to the address the
 * egress check approved, see egress.ts). Redirects are followed by hand so that every hop is checked again, and
 * headers that carry credentials are dropped once a hop leaves the original origin.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { pipeline, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import { EgressRefused, checkUrl, guardedLookup } from './egress.js';
import type { EgressPolicy } from './policy.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Header names that carry credentials whatever their value (matched without case). */
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key']);
const CREDENTIAL_NAME = /token|key|secret|auth|session|passw|signature|cookie|credential/i;
/** Named like a credential, but not one. */
const NOT_CREDENTIALS = new Set(['idempotency-key']);

export interface HttpCall {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | undefined;
  policy: EgressPolicy;
  signal: AbortSignal;
  /** True when a header value holds a secret Station knows (then it is dropped on cross-origin hops too). */
  containsSecret: (value: string) => boolean;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: Readable;
  /** The URL that answered (after redirects). */
  url: URL;
  /** Headers dropped on a cross-origin redirect (names only). */
  dropped: string[];
}

/** Too many redirects, or a redirect somewhere it may not go. */
export class RedirectRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedirectRefused';
  }
}

/** Sends the request and follows redirects (each hop re-checked); resolves with the final response. */
export async function sendFollowing(call: HttpCall): Promise<HttpAnswer> {
  let { method, url, body } = call;
  let headers = { ...call.headers };
  const origin = url.origin;
  const dropped: string[] = [];
  for (let hop = 0; ; hop++) {
    checkUrl(url, call.policy);
    const res = await sendOnce(method, url, headers, body, call);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (!REDIRECTS.has(status) || location === undefined) {
      return { status, headers: joinHeaders(res), body: decoded(res), url, dropped };
    }
    res.resume(); // a redirect's body is not read
    if (hop >= call.policy.maxRedirects) throw new RedirectRefused(`more than ${call.policy.maxRedirects} redirects (http.maxRedirects)`);
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new RedirectRefused(`a redirect to an invalid URL`);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new RedirectRefused(`a redirect to a ${next.protocol} URL`);
    next.username = '';
    next.password = '';
    if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
      // As browsers and fetch do: the next request is a GET without the body.
      if (method !== 'HEAD') method = 'GET';
      body = undefined;
      headers = withoutHeaders(headers, (name) => name === 'content-type' || name === 'content-length');
    }
    if (next.origin !== origin) {
      headers = withoutHeaders(headers, (name, value) => {
        const drop = isCredentialHeader(name) || call.containsSecret(value);
        if (drop && !dropped.includes(name)) dropped.push(name);
        return drop;
      });
    }
    url = next;
  }
}

/** Whether a header is dropped on cross-origin redirects by its name alone. */
export function isCredentialHeader(name: string): boolean {
  const lower = name.toLowerCase();
  if (NOT_CREDENTIALS.has(lower)) return false;
  return CREDENTIAL_HEADERS.has(lower) || CREDENTIAL_NAME.test(lower);
}

function withoutHeaders(headers: Record<string, string>, drop: (lowerName: string, value: string) => boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (!drop(name.toLowerCase(), value)) out[name] = value;
  return out;
}

function sendOnce(method: string, url: URL, headers: Record<string, string>, body: string | undefined, call: HttpCall): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    const all = body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    const req = lib.request(url, {
      method,
      headers: all,
      // A fresh connection per request: a pooled socket would skip the lookup (and its check) of this hop.
      agent: false,
      lookup: guardedLookup(call.policy) as unknown as LookupFunction,
      signal: call.signal,
    });
    req.once('response', resolve);
    req.once('error', (err) => reject(err instanceof EgressRefused ? err : unwrapLookup(err)));
    req.end(body);
  });
}

/** The lookup error surfaces as the request's error; keep EgressRefused recognizable whatever wraps it. */
function unwrapLookup(err: Error): Error {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof EgressRefused ? cause : err;
}

/** Response headers with lowercase names; a repeated header (set-cookie) is joined with ", ". */
function joinHeaders(res: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, values] of Object.entries(res.headersDistinct)) if (values !== undefined) out[name] = values.join(', ');
  return out;
}

/** The body, decompressed when the server compressed it (only if the input asked with Accept-Encoding). */
function decoded(res: http.IncomingMessage): Readable {
  const encoding = (res.headers['content-encoding'] ?? '').toLowerCase().trim();
  const inflate =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? zlib.createGunzip()
      : encoding === 'deflate'
        ? zlib.createInflate()
        : encoding === 'br'
          ? zlib.createBrotliDecompress()
          : undefined;
  // pipeline, not pipe: an error on either side (a reset connection, bad gzip) ends the reader with that error.
  return inflate === undefined ? res : pipeline(res, inflate, () => undefined);
}
