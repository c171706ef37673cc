import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStation, type Station } from '../../src/context.js';
import type { EnvironmentReport, SyncOptions } from '../../src/sync/sync.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { workflowPath, workflowYaml } from '../helpers/workflow.js';

let repo: GitRepo;
let station: Station;
let followUps: string[];
let followed: Promise<string>;
let onFollowUp: (env: string) => void;

beforeEach(async () => {
  repo = createGitRepo();
  repo.write('.gitignore', '.station/\n');
  for (const id of ['one', 'two', 'three']) repo.write(workflowPath('a', id), workflowYaml(id));
  repo.commit('seed');
  station = openStation({ repo: repo.dir, db: path.join(repo.dir, '.station', 'station.db'), logLevel: 'silent' }, {});
  await station.syncer.sync();
  followUps = [];
  followed = new Promise((resolve) => (onFollowUp = resolve));
  station.syncer.holdDeletions(1000, (env) => {
    followUps.push(env);
    onFollowUp(env);
  });
});

afterEach(async () => {
  station.syncer.stopHolding();
  await station.close();
  repo.cleanup();
});

async function syncA(options: SyncOptions): Promise<EnvironmentReport> {
  const r = (await station.syncer.sync(options)).environments.find((e) => e.name === 'a');
  if (!r) throw new Error('no report for a');
  return r;
}

const status = (id: string) => station.definitions.definition('a', id)?.status;

describe('held deletions (the daemon judges an environment over a window)', () => {
  it('a watcher sync holds a deletion; the follow-up sync after the window disables it', async () => {
    repo.remove(workflowPath('a', 'one'));
    const held = await syncA({ source: 'watch', changedPaths: [workflowPath('a', 'one')] });
    expect(held.disabled).toEqual([]);
    expect(held.held?.ids).toEqual(['one']);
    expect(status('one')).toBe('active');
    expect(await followed).toBe('a');
    const judged = await syncA({ source: 'watch', environment: 'a' });
    expect(judged.disabled).toEqual(['one']);
    expect(judged.held).toBeUndefined();
    expect(status('one')).toBe('disabled');
  });

  it('deletions spread over several batches are judged together: all of them is refused as one', async () => {
    for (const id of ['one', 'two', 'three']) {
      repo.remove(workflowPath('a', id));
      const r = await syncA({ source: 'watch', changedPaths: [workflowPath('a', id)] });
      expect(r.disabled).toEqual([]);
      expect(r.error).toBeUndefined();
    }
    await followed;
    expect(followUps[0]).toBe('a');
    const judged = await syncA({ source: 'watch', environment: 'a' });
    expect(judged.error?.code).toBe('STN_E_SYNC_EMPTY');
    expect(['one', 'two', 'three'].map(status)).toEqual(['active', 'active', 'active']);
    expect(station.definitions.environment('a')?.last_sync_status).toBe('refused');
  });

  it('explicit syncs (stn sync, the API) judge what is on disk at once; a file that comes back ends the hold', async () => {
    repo.remove(workflowPath('a', 'one'));
    expect((await syncA({ source: 'watch' })).held?.ids).toEqual(['one']);
    repo.write(workflowPath('a', 'one'), workflowYaml('one'));
    const back = await syncA({ source: 'watch' });
    expect(back.held).toBeUndefined();
    expect(back.unchanged).toEqual(['one', 'three', 'two']);
    repo.remove(workflowPath('a', 'two'));
    expect((await syncA({ source: 'cli' })).disabled).toEqual(['two']);
  });
});

describe('duplicate ids', () => {
  it('the file that holds the id keeps it, even when the newcomer sorts first', async () => {
    const newcomer = workflowPath('a', '0-copy');
    repo.write(newcomer, workflowYaml('two', { note: 'copy' }));
    const r = await syncA({ source: 'cli' });
    expect(r.unchanged).toContain('two');
    expect(r.invalid).toEqual([{ path: newcomer, id: 'two', activeVersion: null, errors: [expect.objectContaining({ code: 'STN_E_DUPLICATE_ID' })] }]);
    expect(r.invalid[0]?.errors[0]?.message).toMatch(/which keeps it \(it already holds the id\)/);
    expect(station.definitions.definition('a', 'two')).toMatchObject({ path: workflowPath('a', 'two'), active_version: 1 });
  });
});
