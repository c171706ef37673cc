import { ERROR_CODES, StationError, UsageError, type ErrorCode } from '../errors.js';

/** Where a remote CLI command goes: `--server URL` or STN_SERVER, with the bearer token from STN_TOKEN. */
export interface RemoteTarget {
  /** Base URL without a trailing slash, e.g. `https://station.example.com`. */
  url: string;
  token: string | undefined;
}

/** The daemon to talk to, or undefined to work on the database directly. */
export function remoteTarget(server: string | undefined, env: NodeJS.ProcessEnv = process.env): RemoteTarget | undefined {
  const raw = server ?? env.STN_SERVER;
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--server / STN_SERVER must be a URL like http://127.0.0.1:7878, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--server / STN_SERVER must be an http:// or https:// URL, got "${raw}"`);
  }
  // Accept the API's own address too (what `stn serve` prints): http://host:port/api/v1.
  const base = `${url.origin}${url.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '')}`;
  return { url: base, token: env.STN_TOKEN || undefined };
}

/** A page of an API list: `nextCursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** The API's cursor for "after this item" (base64url of its JSON key), for lists a client starts mid-way. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** How long a request may take before the CLI gives up (a `?wait=` adds its own time). */
const REQUEST_TIMEOUT_MS = 30_000;

/** A small client of the daemon's HTTP API: JSON in and out, API errors turned back into StationErrors. */
export class RemoteClient {
  constructor(readonly target: RemoteTarget) {}

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json' };
    if (json) h['content-type'] = 'application/json';
    if (this.target.token) h.authorization = `Bearer ${this.target.token}`;
    return h;
  }

  /** `path` starts with `/api/v1/...`; query values that are undefined are left out. */
  url(path: string, query: Record<string, string | number | boolean | undefined> = {}): string {
    const u = new URL(`${this.target.url}${path}`);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  async request<T>(method: string, path: string, opts: { body?: unknown; query?: Record<string, string | number | boolean | undefined>; timeoutMs?: number } = {}): Promise<{ status: number; body: T }> {
    const url = this.url(path, opts.query);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: this.headers(opts.body !== undefined),
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal: AbortSignal.timeout(opts.timeoutMs ?? REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw unreachable(this.target.url, err);
    }
    const text = await res.text();
    let body: unknown = null;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        throw new StationError('STN_E_SERVER', `${method} ${url} answered ${res.status} with a body that is not JSON`);
      }
    }
    if (res.status >= 400) throw apiError(res.status, body, `${method} ${path}`);
    return { status: res.status, body: body as T };
  }

  /**
   * Follows a Server-Sent Events stream until the server ends it; `onEvent` gets each `data:` as parsed JSON.
   * Returns false when the server answered 204 (nothing left to send).
   */
  async stream(path: string, headers: Record<string, string>, onEvent: (data: unknown) => void, signal?: AbortSignal): Promise<boolean> {
    let res: Response;
    try {
      res = await fetch(this.url(path), { headers: { ...this.headers(false), accept: 'text/event-stream', ...headers }, ...(signal ? { signal } : {}) });
    } catch (err) {
      throw unreachable(this.target.url, err);
    }
    if (res.status === 204) return false;
    if (res.status >= 400) throw apiError(res.status, await res.json().catch(() => null), `GET ${path}`);
    if (!res.body) return true;
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
        const data = buffer
          .slice(0, cut)
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n');
        buffer = buffer.slice(cut + 2);
        if (data !== '') onEvent(JSON.parse(data));
      }
    }
    return true;
  }

  /**
   * POSTs `body` and reads an NDJSON answer (`application/x-ndjson`) line by line until the server ends it; `onLine`
   * gets each line parsed. An error answer (4xx, 5xx) before the stream starts rejects as the StationError it was.
   */
  async postLines(path: string, body: unknown, onLine: (data: unknown) => void, signal?: AbortSignal): Promise<void> {
    let res: Response;
    try {
      res = await fetch(this.url(path), {
        method: 'POST',
        headers: { ...this.headers(true), accept: 'application/x-ndjson, application/json' },
        body: JSON.stringify(body),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw unreachable(this.target.url, err);
    }
    if (res.status >= 400) throw apiError(res.status, await res.json().catch(() => null), `POST ${path}`);
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      for (let cut = buffer.indexOf('\n'); cut >= 0; cut = buffer.indexOf('\n')) {
        const line = buffer.slice(0, cut).trim();
        buffer = buffer.slice(cut + 1);
        if (line !== '') onLine(JSON.parse(line));
      }
    }
    if (buffer.trim() !== '') onLine(JSON.parse(buffer));
  }
}

/** An error object a server sent inside a stream (`{code, message}`), as the StationError it was. */
export function remoteError(e: { code?: unknown; message?: unknown } | undefined): StationError {
  return apiError(500, { error: e }, 'the server');
}

function unreachable(url: string, err: unknown): StationError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err as Error).message;
  return new StationError('STN_E_SERVER', `cannot reach the Station server at ${url}: ${why}`, undefined, { cause: err });
}

/** An API error answer as the StationError it was on the server, so exit codes stay what they are locally. */
function apiError(status: number, body: unknown, what: string): StationError {
  const e = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  if (e && typeof e.code === 'string' && typeof e.message === 'string') {
    const details = e.details && typeof e.details === 'object' ? (e.details as Record<string, unknown>) : undefined;
    if (e.code in ERROR_CODES) return new StationError(e.code as ErrorCode, e.message, details);
    return new StationError('STN_E_SERVER', `${what}: ${e.code}: ${e.message}`, details);
  }
  return new StationError('STN_E_SERVER', `${what} answered HTTP ${status}`);
}
