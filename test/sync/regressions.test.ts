import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStation, type Station } from '../../src/context.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { workflowPath, workflowYaml } from '../helpers/workflow.js';

let repo: GitRepo;
let stations: Station[] = [];
const HELLO = workflowPath('a', 'hello');

function open(): Station {
  const s = openStation({ repo: repo.dir, db: path.join(repo.dir, '.station', 'station.db'), logLevel: 'silent' }, {});
  stations.push(s);
  return s;
}

beforeEach(() => {
  repo = createGitRepo();
  repo.write('.gitignore', '.station/\n');
  repo.write(HELLO, workflowYaml('hello'));
  repo.commit('seed');
});

afterEach(async () => {
  for (const s of stations) await s.close();
  stations = [];
  repo.cleanup();
});

describe('sync regressions', () => {
  it('two syncs at once (one process) version a change exactly once', async () => {
    const s = open();
    await s.syncer.sync();
    repo.write(HELLO, workflowYaml('hello', { note: 'second' }));
    const [a, b] = await Promise.all([s.syncer.sync(), s.syncer.sync()]);
    const updated = [a, b].flatMap((r) => r.environments[0]?.updated ?? []);
    const unchanged = [a, b].flatMap((r) => r.environments[0]?.unchanged ?? []);
    expect(updated).toEqual(['hello']);
    expect(unchanged).toEqual(['hello']);
    expect(s.definitions.versions('a', 'hello').map((v) => v.version)).toEqual([1, 2]);
  });

  it('two Station instances on one database (daemon + CLI) syncing at once never collide', async () => {
    const s1 = open();
    const s2 = open();
    await s1.syncer.sync();
    repo.write(HELLO, workflowYaml('hello', { note: 'second' }));
    const results = await Promise.allSettled([s1.syncer.sync(), s2.syncer.sync()]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(s1.definitions.versions('a', 'hello').map((v) => v.version)).toEqual([1, 2]);
  });

  it('a file whose id turns invalid keeps the last good version active and carries the error', async () => {
    const s = open();
    await s.syncer.sync();
    repo.write(HELLO, workflowYaml('hello').replace('id: hello', 'id: Hello World'));
    const r = (await s.syncer.sync()).environments[0];
    expect(r?.invalid.map((i) => [i.id, i.activeVersion])).toEqual([['hello', 1]]);
    expect(r?.disabled).toEqual([]);
    const d = s.definitions.definition('a', 'hello');
    expect(d?.status).toBe('active');
    expect(d?.error).toContain('STN_E_SCHEMA_VALUE');
    expect(s.definitions.definition('a', 'Hello World')).toBeUndefined();
  });

  it('a deleted file that comes back broken stays disabled and says no version is active', async () => {
    const s = open();
    repo.write(workflowPath('a', 'keep'), workflowYaml('keep'));
    await s.syncer.sync();
    repo.remove(HELLO);
    await s.syncer.sync();
    repo.write(HELLO, workflowYaml('hello').replace('action: noop', 'action: nope'));
    const r = (await s.syncer.sync()).environments[0];
    expect(r?.invalid.map((i) => [i.id, i.activeVersion])).toEqual([['hello', null]]);
    expect(s.definitions.definition('a', 'hello')?.status).toBe('disabled');
  });
});
