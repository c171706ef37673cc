import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import type { GitRepo } from '../helpers/git-repo.js';
import { committedRepo } from '../helpers/daemon-probes.js';
import { eventsOf, runsOf, stepsOf } from '../helpers/runs-cli-db.js';
import { StnCli, type WorkerProcess } from '../helpers/runs-cli-procs.js';
import { until } from '../helpers/serve-proc.js';

/**
 * Secrets an engine does not have (docs/reliability.md): an engine lacking a secret a step needs leaves the step to
 * an engine that has it; when no running engine has it, the step fails at once with STN_E_SECRET_MISSING.
 */

const FOO = 'foo-value-9f3k';
const RUNS = 12;

// The step checks that it was given the real value (the test knows it; a workflow would not).
const USES_FOO = `id: uses-foo
version: "1"
name: Uses secret FOO
states:
  - name: first
    type: operation
    action: noop
    next: check
  - name: check
    type: operation
    action: shell.exec
    input:
      command: [sh, -c, 'test "$FOO" = "${FOO}"']
      env: {FOO: "{{ secrets.FOO }}"}
    end: true
`;

let repo: GitRepo | undefined;
const workers: WorkerProcess[] = [];

beforeAll(() => {
  ensureBuilt();
});

afterEach(async () => {
  for (const w of workers.splice(0)) await w.killHard();
  repo?.cleanup();
  repo = undefined;
});

function setup(): { cli: StnCli; without: StnCli; db: string } {
  repo = committedRepo('stn-rel-secrets-', { 'environments/default/workflows/uses-foo.workflow.yaml': USES_FOO });
  const db = path.join(repo.dir, '.station', 'station.db');
  const cli = new StnCli(repo.dir, db, { STN_SECRET_FOO: FOO });
  expect(cli.run(['sync']).status).toBe(0);
  return { cli, without: new StnCli(repo.dir, db), db };
}

async function startRuns(cli: StnCli, n: number): Promise<string[]> {
  const started = await Promise.all(Array.from({ length: n }, () => cli.runAsync(['--json', 'run', '--detach', 'uses-foo'])));
  return started.map((r) => {
    expect(r.status, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { id: string }).id;
  });
}

function ended(db: string, ids: string[]): boolean {
  const runs = runsOf(db).filter((r) => ids.includes(r.id));
  return runs.length === ids.length && runs.every((r) => !['PENDING', 'RUNNING'].includes(r.status));
}

describe('a worker without STN_SECRET_FOO beside one that has it', () => {
  it('every run completes; the worker lacking the secret leaves those steps to the other and says so', async () => {
    const { cli, without, db } = setup();
    const lacking = await without.startWorker(path.join(repo!.dir, 'lacking.log'), ['--concurrency', '4']);
    workers.push(lacking);
    const having = await cli.startWorker(path.join(repo!.dir, 'having.log'), ['--concurrency', '4']);
    workers.push(having);

    const ids = await startRuns(without, RUNS);
    await until(() => (ended(db, ids) ? true : undefined), 60_000, 'every run to end');

    const runs = runsOf(db).filter((r) => ids.includes(r.id));
    expect(runs.map((r) => r.status)).toEqual(Array(RUNS).fill('COMPLETED'));
    for (const id of ids) expect(stepsOf(db, id).find((s) => s.stateName === 'check')?.deliveries).toBe(1);
    // The lacking worker did claim some of them (its noop steps ran) and left the secret step each time.
    const deferred = ids.flatMap((id) => eventsOf(db, id)).filter((e) => e.type === 'step:deferred');
    expect(deferred.length).toBeGreaterThan(0);
    for (const e of deferred) expect(e.data).toMatchObject({ state: 'check', reason: 'secret_missing', secrets: ['FOO'] });
    expect(lacking.log()).toContain('this engine lacks secrets the step needs: left to another engine');
    expect(lacking.log()).not.toContain(FOO);
    expect(lacking.running && having.running).toBe(true);
  }, 120_000);

  it('with no engine having the secret, the step fails at once with STN_E_SECRET_MISSING naming it', async () => {
    const { without, db } = setup();
    const lacking = await without.startWorker(path.join(repo!.dir, 'lacking.log'));
    workers.push(lacking);
    const [id] = await startRuns(without, 1);
    const t0 = Date.now();
    await until(() => (ended(db, [id!]) ? true : undefined), 20_000, 'the run to end');
    expect(Date.now() - t0).toBeLessThan(5_000);
    const run = runsOf(db).find((r) => r.id === id);
    expect(run?.status).toBe('FAILED');
    expect(run?.error).toMatchObject({ code: 'STN_E_SECRET_MISSING', state: 'check' });
    expect((run?.error as { message: string }).message).toMatch(/secret FOO, which no running engine has/);
  }, 60_000);
});
