import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, STN } from '../helpers/cli.js';
import { spawnServe, until, type ServeProcess } from '../helpers/daemon-proc.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { defaultDb, readStore } from '../helpers/station-db.js';
import { workflowPath, workflowYaml } from '../helpers/workflow.js';

let repo: GitRepo | undefined;
let daemon: ServeProcess | undefined;

beforeAll(() => ensureBuilt());
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
  repo?.cleanup();
  repo = undefined;
});

describe('interrupted syncs', () => {
  it('a sync_runs row left running by a SIGKILL mid-sync is marked interrupted at the next start', async () => {
    repo = createGitRepo('stn-rel-interrupt-');
    repo.write('.gitignore', '.station/\n');
    // Enough files that the first (cold) sync takes a while: it is killed in the middle.
    for (let i = 0; i < 2000; i++) repo.write(workflowPath('default', `wf-${i}`), workflowYaml(`wf-${i}`));
    repo.commit('many');
    const db = defaultDb(repo.dir);

    const child = spawn(process.execPath, [STN, '--repo', repo.dir, 'sync', '--json'], { stdio: 'ignore', env: { ...process.env, STN_SYNC_WORKERS: '0' } });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    const running = await until(
      'the sync run to start',
      async () => {
        if (!fs.existsSync(db)) return undefined;
        try {
          return readStore(db, (s) => s.syncRuns(1).find((r) => r.status === 'running'));
        } catch {
          return undefined; // the database is being created
        }
      },
      20_000,
      5,
    );
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(readStore(db, (s) => s.syncRuns(5).find((r) => r.id === running.id))).toMatchObject({ status: 'running', finished_at: null });

    daemon = await spawnServe(repo.dir, [], { STN_LOG_LEVEL: 'info' });
    const row = await until('the row to be marked', async () => {
      const r = readStore(db, (s) => s.syncRuns(10).find((x) => x.id === running.id));
      return r?.status === 'running' ? undefined : r;
    });
    expect(row).toMatchObject({ status: 'interrupted', error: expect.stringMatching(/^STN_E_SYNC_INTERRUPTED: its process \(pid \d+ on .+\) ended during the sync/) });
    expect(row?.finished_at).not.toBeNull();
    expect(daemon.logs().some((l) => l.error_type === 'STN_E_SYNC_INTERRUPTED' && JSON.stringify(l.sync_run_ids) === JSON.stringify([running.id]))).toBe(true);
    // The daemon's own first sync then syncs everything, and no row is left running.
    await until('the first sync of the daemon', async () => (readStore(db, (s) => s.syncRuns(1)[0]?.status) === 'ok' ? true : undefined), 30_000, 100);
    const status = (await (await fetch(`${daemon.url}/api/v1/sync/status`)).json()) as { syncs: Array<{ id: number; status: string }> };
    expect(status.syncs.find((s) => s.id === running.id)?.status).toBe('interrupted');
    expect(status.syncs.filter((s) => s.status === 'running')).toEqual([]);
    expect(readStore(db, (s) => s.listDefinitions({ environment: 'default', status: 'active' }).length)).toBe(2000);
  }, 90_000);
});
