import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Station } from '../context.js';
import { NotFoundError, UsageError } from '../errors.js';
import { eventJson } from '../cli/run-view.js';
import { TERMINAL_RUN } from '../store/runs.js';
import { RunTail } from './run-tail.js';

/** A comment line this often keeps proxies and load balancers from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;

/** Open streams and `?wait=` requests, so a shutting-down server can end them (they would otherwise hold `close()`). */
export class Streams {
  private readonly open = new Set<() => void>();

  add(end: () => void): () => void {
    this.open.add(end);
    return () => this.open.delete(end);
  }

  get size(): number {
    return this.open.size;
  }

  endAll(): void {
    for (const end of [...this.open]) end();
  }
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
  reply.hijack();
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
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const end = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    forget();
    ref.tail?.close();
    res.end();
  };
  const forget = streams.add(end);
  req.raw.on('close', end);
  ref.tail = new RunTail(station, runId, {
    afterSeq,
    onEvents(rows) {
      let chunk = '';
      for (const row of rows) chunk += `id: ${row.seq}\ndata: ${JSON.stringify(eventJson(row))}\n\n`;
      res.write(chunk);
    },
    onEnd: () => end(),
  });
}
