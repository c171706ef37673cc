import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStation } from '../../src/context.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { StationError } from '../../src/errors.js';
import { createGitRepo } from '../helpers/git-repo.js';
import { GATED_WORKFLOW, startTestDaemon } from '../helpers/server-harness.js';
import { workflowPath } from '../helpers/workflow.js';

describe('daemon lifecycle', () => {
  it('a shutdown answers pending ?wait= requests at once (the run goes on) and stops within the grace period', async () => {
    const t = await startTestDaemon({ files: { [workflowPath('default', 'gated')]: GATED_WORKFLOW } });
    try {
      const base = await t.app.listen({ host: '127.0.0.1', port: 0 });
      const pending = fetch(`${base}/api/v1/workflow-runs?wait=120`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ workflowId: 'gated' }),
      });
      // The run exists (and waits for its signal) before the shutdown starts.
      for (const deadline = Date.now() + 10_000; t.station.runStore.listRuns({ limit: 1 }).length === 0; ) {
        if (Date.now() > deadline) throw new Error('the run was not created');
        await new Promise((r) => setTimeout(r, 20));
      }
      const started = Date.now();
      const stopping = t.daemon.stop('test');
      const res = await pending;
      expect(res.status).toBe(201);
      const run = (await res.json()) as { id: string; status: string };
      expect(['PENDING', 'RUNNING', 'WAITING_SIGNAL']).toContain(run.status);
      await stopping;
      expect(Date.now() - started).toBeLessThan(5000);
      expect(t.station.runStore.run(run.id)?.status).not.toBe('CANCELLED');
    } finally {
      await t.close();
    }
  });

  it('?wait= over real HTTP waits for the end of the run (the request body being read does not end the wait)', async () => {
    const t = await startTestDaemon({ files: { [workflowPath('default', 'gated')]: GATED_WORKFLOW } });
    try {
      const base = await t.app.listen({ host: '127.0.0.1', port: 0 });
      const started = Date.now();
      const pending = fetch(`${base}/api/v1/workflow-runs?wait=30`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ workflowId: 'gated' }),
      });
      let runId: string | undefined;
      for (const deadline = Date.now() + 10_000; runId === undefined; ) {
        if (Date.now() > deadline) throw new Error('the run was not created');
        runId = t.station.runStore.listRuns({ limit: 1 })[0]?.id;
        if (runId === undefined) await new Promise((r) => setTimeout(r, 20));
      }
      // The run waits for its signal: the request must still be open 500 ms later.
      const early = await Promise.race([pending.then(() => 'answered'), new Promise((r) => setTimeout(() => r('waiting'), 500))]);
      expect(early).toBe('waiting');
      const signal = await t.request('POST', `/api/v1/workflow-runs/${runId}/signals`, { body: { name: 'go' } });
      expect(signal.statusCode, signal.body).toBe(202);
      const res = await pending;
      expect(res.status).toBe(201);
      const run = (await res.json()) as { id: string; status: string };
      expect(run.id).toBe(runId);
      expect(run.status).toBe('COMPLETED');
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    } finally {
      await t.close();
    }
  });

  it('a port that is taken is a configuration error naming the settings', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const repo = createGitRepo('stn-port-');
    const station = openStation({ repo: repo.dir, db: path.join(repo.dir, '.station', 'station.db'), logLevel: 'silent' }, {});
    const daemon = new Daemon(station, { port, watch: false, env: {} });
    try {
      const err = await daemon.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StationError);
      expect((err as StationError).code).toBe('STN_E_CONFIG');
      expect((err as StationError).message).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\).*STN_PORT`));
    } finally {
      await daemon.stop('test');
      await station.close();
      blocker.close();
      repo.cleanup();
    }
  });
});
