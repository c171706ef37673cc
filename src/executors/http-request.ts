import type { Readable } from 'node:stream';
import type { JsonObject, JsonValue } from '../definitions/types.js';
import { EgressRefused } from './egress.js';
import { RedirectRefused, sendFollowing } from './http-client.js';
import { DEFAULT_EXEC_POLICY } from './policy.js';
import { effectiveTimeoutMs, formatSeconds, parseJsonText, stopReasonFromSignal, stoppedResult, type StopReason } from './stopping.js';
import { failed, ok, type ExecContext, type ExecResult, type Executor } from './types.js';

/** The response body kept in the output; the rest is not downloaded. */
export const HTTP_BODY_LIMIT = 1024 * 1024;
/** The part of an unexpected response's body quoted in the failure details. */
const ERROR_BODY_LIMIT = 2 * 1024;
const METHODS_WITHOUT_BODY = new Set(['GET', 'HEAD']);
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

type QueryValue = string | number | boolean;

/** The `http.request` input, as the catalog schema describes it (the engine has validated it already). */
interface HttpInput {
  method?: string;
  url: string;
  headers?: Record<string, string>;
  query?: Record<string, QueryValue | QueryValue[]>;
  json?: JsonValue;
  body?: string;
  timeoutSeconds?: number;
  expectStatus?: number | number[];
}

/**
 * `http.request`: sends `Idempotency-Key` (the same for every delivery of one attempt) and `User-Agent: station` unless
 * the input sets them, keeps at most 1 MiB of the response body, and fails unless the status matches `expectStatus`
 * (default: any 2xx). Within station.yaml's egress policy (http-client.ts, egress.ts): every redirect hop is checked
 * again, and credential headers do not follow a redirect to another origin.
 */
export const httpRequest: Executor = { name: 'http.request', run };

async function run(ctx: ExecContext): Promise<ExecResult> {
  const prepared = prepare(ctx);
  if ('error' in prepared) return failed('STN_E_HTTP_REQUEST', prepared.error, { retryable: false });
  const { method, url, init, label } = prepared;
  if (ctx.signal.aborted) return stoppedResult(stopReasonFromSignal(ctx.signal, label), 'STN_E_HTTP_TIMEOUT');

  const controller = new AbortController();
  let stop: StopReason | undefined;
  const stopWith = (reason: StopReason): void => {
    if (stop !== undefined) return;
    stop = reason;
    controller.abort();
  };
  const onAbort = (): void => stopWith(stopReasonFromSignal(ctx.signal, label));
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const timeoutMs = effectiveTimeoutMs(prepared.timeoutSeconds, ctx.timeoutMs);
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          stopWith({ kind: 'timeout', message: `${label} timed out after ${formatSeconds(timeoutMs)}` });
        }, timeoutMs);

  const startedAt = Date.now();
  const policy = (ctx.policy ?? DEFAULT_EXEC_POLICY).http;
  try {
    const answer = await sendFollowing({
      method,
      url,
      headers: init.headers,
      body: init.body,
      policy,
      signal: controller.signal,
      containsSecret: ctx.containsSecret ?? (() => false),
    });
    const { text, truncated } = await readBody(answer.body, HTTP_BODY_LIMIT);
    ctx.logger.debug({ status: answer.status, duration_ms: Date.now() - startedAt, dropped_headers: answer.dropped }, 'http.request answered');
    return toResult(answer.status, answer.headers, text, truncated, prepared.expectStatus, label);
  } catch (err) {
    if (stop !== undefined) return stoppedResult(stop, 'STN_E_HTTP_TIMEOUT');
    if (err instanceof EgressRefused || err instanceof RedirectRefused) {
      return failed('STN_E_HTTP_EGRESS', `${label} refused: ${err.message}`, { retryable: false });
    }
    return networkFailure(err, label, url);
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

interface Prepared {
  method: string;
  url: URL;
  init: { headers: Record<string, string>; body?: string };
  timeoutSeconds: number | undefined;
  expectStatus: number | number[] | undefined;
  /** `METHOD origin/path` for messages: the query and credentials may hold secrets. */
  label: string;
}

/** The fetch arguments, or why the input cannot become a request (bad input: retrying would not help). */
function prepare(ctx: ExecContext): Prepared | { error: string } {
  const value = ctx.input;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: 'http.request input must be an object' };
  }
  const input = value as unknown as HttpInput;
  if (typeof input.url !== 'string') return { error: 'http.request needs a url' };
  const method = (input.method ?? 'GET').toUpperCase();

  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    return { error: 'http.request url is not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { error: 'http.request url must be http or https' };
  for (const [name, v] of Object.entries(input.query ?? {})) {
    for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(name, String(item));
  }
  const label = `${method} ${url.origin}${url.pathname}`;
  // fetch refuses URLs with credentials (and would quote them in its error): send them as Basic auth, as curl does.
  const credentials = url.username === '' && url.password === '' ? undefined : basicAuth(url);

  const headers: Record<string, string> = {};
  for (const [name, v] of Object.entries(input.headers ?? {})) {
    if (!HEADER_NAME.test(name) || typeof v !== 'string' || /[\r\n\0]/.test(v)) {
      return { error: `${label}: a request header has an invalid name or value` };
    }
    headers[name.toLowerCase()] = v;
  }
  headers['idempotency-key'] ??= ctx.idempotencyKey;
  headers['user-agent'] ??= 'station';
  if (credentials !== undefined) headers.authorization ??= credentials;

  let body: string | undefined;
  if (Object.hasOwn(input, 'json')) {
    body = JSON.stringify(input.json ?? null);
    headers['content-type'] ??= 'application/json';
  } else if (typeof input.body === 'string') {
    body = input.body;
  }
  if (body !== undefined && METHODS_WITHOUT_BODY.has(method)) {
    return { error: `${label}: a ${method} request cannot have a body` };
  }

  return {
    method,
    url,
    init: body === undefined ? { headers } : { headers, body },
    timeoutSeconds: input.timeoutSeconds,
    expectStatus: input.expectStatus,
    label,
  };
}

/** `Basic …` from the URL's user and password, which are then removed from the URL. */
function basicAuth(url: URL): string {
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

function toResult(
  status: number,
  headers: Record<string, string>,
  body: string,
  truncated: boolean,
  expectStatus: number | number[] | undefined,
  label: string,
): ExecResult {
  if (!statusMatches(status, expectStatus)) {
    // 5xx, 429 (too many requests) and 408 (request timeout) may pass; any other answer will be the same next time.
    const retryable = status >= 500 || status === 429 || status === 408;
    return failed('STN_E_HTTP_STATUS', `${label} answered ${status}, expected ${describeExpected(expectStatus)}`, {
      retryable,
      details: { status, body: body.slice(0, ERROR_BODY_LIMIT) },
    });
  }
  const output: JsonObject = { status, headers, body, truncated };
  const json = truncated ? undefined : parseJsonText(body);
  if (json !== undefined) output.json = json;
  return ok(output);
}

/** Reads at most `limit` bytes of the body as UTF-8, and stops the rest of the download. */
async function readBody(body: Readable, limit: number): Promise<{ text: string; truncated: boolean }> {
  // stream: true holds back a character cut at the limit instead of turning it into U+FFFD.
  const decoder = new TextDecoder('utf-8');
  let text = '';
  let size = 0;
  for await (const chunk of body) {
    const value = chunk as Buffer;
    const room = limit - size;
    if (value.byteLength > room) {
      text += decoder.decode(value.subarray(0, room), { stream: true });
      body.destroy();
      return { text, truncated: true };
    }
    size += value.byteLength;
    text += decoder.decode(value, { stream: true });
  }
  return { text: text + decoder.decode(), truncated: false };
}

function networkFailure(err: unknown, label: string, url: URL): ExecResult {
  // node:http rejects with the system error (ECONNREFUSED, ENOTFOUND, …); some wrap it in `cause`.
  const direct = err instanceof Error ? (err as NodeJS.ErrnoException) : undefined;
  const cause = direct?.cause instanceof Error ? (direct.cause as NodeJS.ErrnoException) : direct;
  const code = cause?.code;
  const reason = cause?.message || code || (err instanceof Error ? err.message : String(err));
  // Some fetch errors quote the whole URL, whose query may hold a token.
  const safe = reason.split(url.href).join(`${url.origin}${url.pathname}`);
  return failed('STN_E_HTTP_REQUEST', `${label} failed: ${safe}`, {
    retryable: true,
    ...(code === undefined ? {} : { details: { errno: code } }),
  });
}

function statusMatches(status: number, expected: number | number[] | undefined): boolean {
  if (expected === undefined) return status >= 200 && status <= 299;
  return Array.isArray(expected) ? expected.includes(status) : status === expected;
}

function describeExpected(expected: number | number[] | undefined): string {
  if (expected === undefined) return '2xx';
  if (!Array.isArray(expected)) return String(expected);
  if (expected.length === 1) return String(expected[0]);
  return `${expected.slice(0, -1).join(', ')} or ${String(expected.at(-1))}`;
}
