import type { FastifyReply, FastifyRequest } from 'fastify';
import { RunTail } from '../client/run-tail.js';
import type { Station } from '../context.js';
import { DEFAULTS } from '../config/defaults.js';
import { NotFoundError, StationError, UsageError } from '../errors.js';
import { TERMINAL_RUN } from '../store/runs.js';
import { eventJson } from '../views/runs.js';
import { clientKey } from './rate-limit.js';

/** A comment line this often keeps proxies and load balancers from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;
/** A stream whose client has not read this much is ended (a client that stops reading must not grow our memory). */
const MAX_BACKLOG_BYTES = 1024 * 1024;

interface OpenStream {
  key: string;
  end(): void;
  beat(): void;
}

/**
 * Open streams and `?wait=` requests, so a shutting-down server can end them (they would otherwise hold `close()`).
 * Event streams are capped (server.limits.maxStreams in all, maxStreamsPerClient per token or client address) and
 * share one heartbeat timer.
 */
export class Streams {
  private readonly open = new Set<() => void>();
  private readonly streams = new Set<OpenStream>();
  private readonly perKey = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly limits: { maxStreams: number; maxStreamsPerClient: number };

  constructor(limits: { maxStreams: number; maxStreamsPerClient: number } = DEFAULTS.server.limits) {
    this.limits = { maxStreams: limits.maxStreams, maxStreamsPerClient: limits.maxStreamsPerClient };
  }

  add(end: () => void): () => void {
    this.open.add(end);
    return () => this.open.delete(end);
  }

  /** Throws STN_E_SERVER_BUSY (503) or STN_E_CLIENT_LIMIT (429) when a new stream of `key` would pass a cap. */
  admit(key: string): void {
    if ((this.perKey.get(key) ?? 0) >= this.limits.maxStreamsPerClient) {
      throw new StationError('STN_E_CLIENT_LIMIT', `this client already has ${this.limits.maxStreamsPerClient} event streams open (server.limits.maxStreamsPerClient)`, {
        limit: this.limits.maxStreamsPerClient,
        retryAfterSeconds: 5,
      });
    }
    if (this.streams.size >= this.limits.maxStreams) {
      throw new StationError('STN_E_SERVER_BUSY', `the server already has ${this.limits.maxStreams} event streams open (server.limits.maxStreams); try again later`, {
        limit: this.limits.maxStreams,
        retryAfterSeconds: 5,
      });
    }
  }

  /** Registers an admitted stream; returns the function that forgets it. */
  openStream(stream: OpenStream): () => void {
    this.streams.add(stream);
    this.perKey.set(stream.key, (this.perKey.get(stream.key) ?? 0) + 1);
    const forgetEnd = this.add(stream.end);
    if (!this.heartbeat) {
      this.heartbeat = setInterval(() => {
        for (const s of [...this.streams]) s.beat();
      }, HEARTBEAT_MS);
      this.heartbeat.unref();
    }
    return () => {
      forgetEnd();
      if (!this.streams.delete(stream)) return;
      const left = (this.perKey.get(stream.key) ?? 1) - 1;
      if (left > 0) this.perKey.set(stream.key, left);
      else this.perKey.delete(stream.key);
      if (this.streams.size === 0) {
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
      }
    };
  }

  get size(): number {
    return this.open.size;
  }

  /** Open event streams. */
  get streamCount(): number {
    return this.streams.size;
  }

  endAll(): void {
    for (const end of [...this.open]) end();
  }
}

/** Whom a stream counts against: the token, or the client address on a daemon without tokens. */
function streamKey(req: FastifyRequest): string {
  const p = req.principal;
  return p && !p.anonymous ? `token:${p.name}` : `client:${clientKey(req.ip)}`;
}

/** The sequence number to resume after: `Last-Event-ID` (what EventSource sends on reconnect), else `?lastEventId=`. */
export function resumeSeq(req: FastifyRequest, queryValue: string | undefined): number {
  const raw = req.headers['last-event-id'] ?? queryValue;
  if (raw === undefined || raw === '') return 0;
  const text = Array.isArray(raw) ? raw[0] ?? '' : raw;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`Last-Event-ID must be an event sequence number, got "${text}"`);
  return n;
}

/**
 * `GET /workflow-runs/{id}/stream`: Server-Sent Events, one per run event, `id:` = the event's sequence number and
 * `data:` = the event as JSON (the shape of `GET /workflow-runs/{id}/events` items). Events are pushed as they are
 * committed; the stream ends after the run's terminal event. A reconnect after the end gets 204, which tells
 * EventSource to stop reconnecting.
 */
export function streamRun(station: Station, streams: Streams, req: FastifyRequest, reply: FastifyReply, runId: string, afterSeq: number): void {
  const run = station.runStore.run(runId);
  if (!run) throw new NotFoundError(`no run "${runId}"`);
  if (TERMINAL_RUN.has(run.status) && station.runStore.events(runId, afterSeq, 1).length === 0) {
    void reply.code(204).send();
    return;
  }
  const key = streamKey(req);
  streams.admit(key);
  reply.hijack();
  // The heartbeat keeps the stream alive; server.limits.idleTimeoutSeconds is for connections nobody writes to.
  if (typeof req.raw.socket.setTimeout === 'function') req.raw.socket.setTimeout(0);
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  let closed = false;
  // The tail may end inside its own constructor (terminal event already committed), before it is assigned.
  const ref: { tail?: RunTail } = {};
  const end = () => {
    if (closed) return;
    closed = true;
    forget();
    ref.tail?.close();
    res.end();
  };
  const write = (chunk: string) => {
    if (closed) return;
    if (res.writableLength > MAX_BACKLOG_BYTES) {
      req.log.warn({ client: req.ip, run_id: runId, backlog_bytes: res.writableLength }, 'event stream ended: the client does not read it');
      end();
      return;
    }
    res.write(chunk);
  };
  const forget = streams.openStream({ key, end, beat: () => write(': keep-alive\n\n') });
  req.raw.on('close', end);
  ref.tail = new RunTail(station, runId, {
    afterSeq,
    onEvents(rows) {
      let chunk = '';
      for (const row of rows) chunk += `id: ${row.seq}\ndata: ${JSON.stringify(eventJson(row))}\n\n`;
      write(chunk);
    },
    onEnd: () => end(),
  });
}
