import { afterEach, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { spawnServe, until, type ServeProcess } from '../helpers/daemon-proc.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { workflowPath } from '../helpers/workflow.js';

/**
 * Hostile transform expressions in a real daemon: each run fails with STN_E_TRANSFORM_LIMIT, and the daemon keeps
 * answering HTTP requests while they are evaluated (every evaluation is bounded, on the thread that serves requests).
 */

const HOSTILE: Record<string, string> = {
  'huge-range': '[x for x in range(1000000000)]',
  'string-doubling': 's = "x"\nfor i in range(100):\n    s = s + s\ns',
  'nested-loops': '[a + b + c for a in range(1000) for b in range(1000) for c in range(1000)]',
  'deep-nesting': `${'['.repeat(5000)}1${']'.repeat(5000)}`,
};

function workflow(id: string, expression: string): string {
  const body = expression.split('\n').map((l) => `      ${l}`);
  return [`id: ${id}`, 'version: "1"', `name: ${id}`, 'states:', '  - name: t', '    type: transform', '    expression: |', ...body, '    end: true', ''].join('\n');
}

let repo: GitRepo | undefined;
let daemon: ServeProcess | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  repo?.cleanup();
});

describe('hostile transforms in a daemon', () => {
  it('fail with STN_E_TRANSFORM_LIMIT while the daemon stays responsive', async () => {
    ensureBuilt();
    repo = createGitRepo('stn-transform-limits-');
    repo.write('.gitignore', '.station/\n');
    for (const [id, expr] of Object.entries(HOSTILE)) repo.write(workflowPath('default', id), workflow(id, expr));
    repo.commit('hostile transforms');
    // The deepest one is refused at sync (its nesting is over the parser's bound): it never runs.
    daemon = await spawnServe(repo.dir, ['--no-watch']);
    const d = daemon;
    const page = (await (await fetch(`${d.url}/api/v1/workflows`)).json()) as { items: Array<{ id: string; status: string }> };
    const workflows = page.items;
    expect(workflows.find((w) => w.id === 'deep-nesting')?.status).toBe('invalid');
    const runnable = Object.keys(HOSTILE).filter((id) => workflows.some((w) => w.id === id && w.status === 'active'));
    expect(runnable).toEqual(expect.arrayContaining(['huge-range', 'string-doubling', 'nested-loops']));

    // A health probe every 10 ms for as long as the runs take: the slowest answer is what a load balancer would see.
    let probing = true;
    let slowest = 0;
    let probes = 0;
    const prober = (async () => {
      while (probing) {
        const t = performance.now();
        const res = await fetch(`${d.url}/healthz`);
        await res.arrayBuffer();
        slowest = Math.max(slowest, performance.now() - t);
        probes++;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    const ids: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (const id of runnable) {
        const res = await fetch(`${d.url}/api/v1/workflow-runs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ workflowId: id }),
        });
        ids.push(((await res.json()) as { id: string }).id);
      }
    }
    const ended = [];
    for (const id of ids) {
      ended.push(
        await until(
          `run ${id} ended`,
          async () => {
            const r = (await (await fetch(`${d.url}/api/v1/workflow-runs/${id}`)).json()) as { status: string; error: { code: string } | null };
            return ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT'].includes(r.status) ? r : undefined;
          },
          30_000,
        ),
      );
    }
    probing = false;
    await prober;

    for (const r of ended) expect(r).toMatchObject({ status: 'FAILED', error: { code: 'STN_E_TRANSFORM_LIMIT' } });
    expect(probes).toBeGreaterThan(3);
    // Each evaluation stops within about 100 ms; a probe may wait behind one or two of them, never behind all.
    expect(slowest).toBeLessThan(1_000);
  });
});
