import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStation, type Station } from '../../src/context.js';
import { openSse } from '../helpers/sse-client.js';
import { GATED_WORKFLOW, startTestDaemon, THREE_STEPS, type TestDaemon } from '../helpers/server-harness.js';
import { workflowPath } from '../helpers/workflow.js';

interface EventJson {
  runId: string;
  seq: number;
  type: string;
  stepId: string | null;
}

const files = { [workflowPath('default', 'gated')]: GATED_WORKFLOW, [workflowPath('default', 'three')]: THREE_STEPS };

async function startRun(base: string, workflowId: string): Promise<string> {
  const r = await fetch(`${base}/api/v1/workflow-runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflowId }) });
  expect(r.status).toBe(201);
  return ((await r.json()) as { id: string }).id;
}

async function allEvents(base: string, runId: string): Promise<EventJson[]> {
  const r = await fetch(`${base}/api/v1/workflow-runs/${runId}/events?limit=500`);
  return ((await r.json()) as { items: EventJson[] }).items;
}

describe('SSE run stream (engine in the daemon)', () => {
  let t: TestDaemon;
  let base: string;
  beforeAll(async () => {
    t = await startTestDaemon({ files });
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('delivers every event in order with id = seq as it is committed, and ends after the terminal event', async () => {
    const runId = await startRun(base, 'gated');
    const stream = await openSse(`${base}/api/v1/workflow-runs/${runId}/stream`);
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    // The run waits at its signal: the stream is open and has delivered everything so far.
    await stream.waitFor(1);
    const waiting = async () => stream.events.some((e) => (JSON.parse(e.data) as EventJson).type === 'step:waiting');
    for (const deadline = Date.now() + 10_000; !(await waiting()); ) {
      if (Date.now() > deadline) throw new Error('no step:waiting event');
      await stream.waitFor(stream.events.length + 1, 10_000);
    }
    const before = stream.events.length;
    await fetch(`${base}/api/v1/workflow-runs/${runId}/signals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'go' }) });
    await stream.ended;
    expect(stream.events.length).toBeGreaterThan(before);

    const sent = stream.events.map((e) => JSON.parse(e.data) as EventJson);
    const logged = await allEvents(base, runId);
    expect(sent).toEqual(logged);
    expect(stream.events.map((e) => e.id)).toEqual(logged.map((e) => String(e.seq)));
    expect(sent.at(-1)?.type).toBe('run:completed');
    expect(sent.filter((e) => e.type === 'step:succeeded')).toHaveLength(3);
  });

  it('resumes after Last-Event-ID, and answers 204 once nothing is left', async () => {
    const runId = await startRun(base, 'three');
    const first = await openSse(`${base}/api/v1/workflow-runs/${runId}/stream`);
    await first.ended;
    const all = first.events.map((e) => Number(e.id));
    expect(all.length).toBeGreaterThan(4);
    const resumed = await openSse(`${base}/api/v1/workflow-runs/${runId}/stream`, { 'last-event-id': String(all[2]) });
    await resumed.ended;
    expect(resumed.events.map((e) => Number(e.id))).toEqual(all.slice(3));
    const query = await openSse(`${base}/api/v1/workflow-runs/${runId}/stream?lastEventId=${all[all.length - 2]}`);
    await query.ended;
    expect(query.events.map((e) => Number(e.id))).toEqual(all.slice(-1));
    const after = await fetch(`${base}/api/v1/workflow-runs/${runId}/stream`, { headers: { 'last-event-id': String(all.at(-1)) } });
    expect(after.status).toBe(204);
  });

  it('answers an unknown run with 404 and a malformed Last-Event-ID with 400, as JSON', async () => {
    const missing = await fetch(`${base}/api/v1/workflow-runs/nope/stream`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('STN_E_NOT_FOUND');
    const runId = await startRun(base, 'three');
    const bad = await fetch(`${base}/api/v1/workflow-runs/${runId}/stream`, { headers: { 'last-event-id': 'abc' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('STN_E_USAGE');
  });
});

describe('SSE run stream (run executed by another process on the same database)', () => {
  let t: TestDaemon;
  let worker: Station;
  let base: string;
  beforeAll(async () => {
    t = await startTestDaemon({ files, engine: false });
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    // A second Station on the same file: its engine's events never reach the daemon's in-process emitter.
    worker = openStation({ repo: t.repo.dir, db: path.join(t.repo.dir, '.station', 'station.db'), logLevel: 'silent' }, {});
    worker.engine({ pollMs: 20 }).start();
  });
  afterAll(async () => {
    await worker?.close();
    await t?.close();
  });

  it('falls back to reading the database and still delivers every event in order, then ends', async () => {
    const runId = await startRun(base, 'gated');
    const stream = await openSse(`${base}/api/v1/workflow-runs/${runId}/stream`);
    await stream.waitFor(3);
    worker.runs.signal(runId, 'go', { from: 'worker' });
    await stream.ended;
    const sent = stream.events.map((e) => JSON.parse(e.data) as EventJson);
    expect(sent).toEqual(await allEvents(base, runId));
    expect(sent.at(-1)?.type).toBe('run:completed');
  });

  it('ends open streams when the server shuts down', async () => {
    const runId = await startRun(base, 'gated');
    const stream = await openSse(`${base}/api/v1/workflow-runs/${runId}/stream`);
    await stream.waitFor(1);
    await t.app.close();
    await stream.ended;
    expect(stream.events.length).toBeGreaterThan(0);
  });
});
