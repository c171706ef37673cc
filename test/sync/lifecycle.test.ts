import path from 'node:path';
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStation, type Station } from '../../src/context.js';
import type { Db } from '../../src/store/db.js';
import { syncExitCode, type EnvironmentReport, type SyncOptions, type SyncReport } from '../../src/sync/sync.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { workflowPath, workflowYaml } from '../helpers/workflow.js';

let repo: GitRepo;
let station: Station;

beforeEach(() => {
  repo = createGitRepo();
  repo.write('.gitignore', '.station/\n');
  station = open(repo.dir);
});

afterEach(async () => {
  await station.close();
  repo.cleanup();
});

/** A Station on `dir` with its database at the default place, ignoring any STN_* of the test process. */
function open(dir: string): Station {
  return openStation({ repo: dir, db: path.join(dir, '.station', 'station.db'), logLevel: 'silent' }, {});
}

function envReport(report: SyncReport, name: string): EnvironmentReport {
  const e = report.environments.find((x) => x.name === name);
  if (!e) throw new Error(`no environment ${name} in the report: ${report.environments.map((x) => x.name).join(', ')}`);
  return e;
}

/** Syncs and returns the report of environment `a` (the one most tests use). */
async function syncA(options: SyncOptions = {}): Promise<EnvironmentReport> {
  return envReport(await station.syncer.sync(options), 'a');
}

const HELLO = workflowPath('a', 'hello');
const OTHER = workflowPath('a', 'other');

function def(env: string, id: string) {
  const d = station.definitions.definition(env, id);
  if (!d) throw new Error(`no definition ${env}/${id}`);
  return d;
}

/** Every row of every table, for "nothing was written" checks. */
function dump(db: Db): Record<string, unknown[]> {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
  return Object.fromEntries(tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}"`).all()]));
}

/** hello at v1 and other at v1, committed and synced. */
async function seed(): Promise<string> {
  repo.write(HELLO, workflowYaml('hello'));
  repo.write(OTHER, workflowYaml('other'));
  const sha = repo.commit('seed');
  await station.syncer.sync();
  return sha;
}

describe('version lifecycle', () => {
  it('records v1 of a committed file with its commit, clean', async () => {
    repo.write(HELLO, workflowYaml('hello', { label: '1.4' }));
    const sha = repo.commit('add hello');
    const report = await station.syncer.sync();

    expect(report.commit).toBe(sha);
    expect(report.dryRun).toBe(false);
    const a = envReport(report, 'a');
    expect(a).toMatchObject({ added: ['hello'], updated: [], disabled: [], reenabled: [], unchanged: [], invalid: [] });
    expect(a.versions).toEqual({ hello: 1 });
    expect(syncExitCode(report)).toBe(0);

    expect(def('a', 'hello')).toMatchObject({ status: 'active', active_version: 1, latest_version: 1, path: HELLO, bundle: null, error: null });
    const v1 = station.definitions.version('a', 'hello', 1);
    expect(v1).toMatchObject({ version: 1, label: '1.4', name: 'Workflow hello', git_commit: sha, git_dirty: 0, git_untracked: 0, path: HELLO });
    expect(v1?.raw).toBe(workflowYaml('hello', { label: '1.4' }));
    expect(JSON.parse(v1?.spec ?? '{}')).toMatchObject({ id: 'hello', states: [{ name: 'only', action: 'noop' }] });
    expect(v1?.sync_run_id).toBe(report.syncRunId);
    expect(station.definitions.environment('a')).toMatchObject({ last_synced_commit: sha, last_attempted_commit: sha, last_sync_status: 'ok' });
  });

  it('makes no version for a whitespace- or comment-only edit', async () => {
    await seed();
    const reformatted = `# a comment on top\n\n${workflowYaml('hello').replace('states:', 'states:   # the only state\n')}\n\n`;
    repo.write(HELLO, reformatted);
    repo.commit('cosmetic');

    const a = await syncA();
    expect(a.unchanged).toEqual(['hello', 'other']);
    expect(a.added).toEqual([]);
    expect(a.updated).toEqual([]);
    expect(a.versions).toEqual({});
    expect(station.definitions.versions('a', 'hello')).toHaveLength(1);
    expect(def('a', 'hello')).toMatchObject({ status: 'active', active_version: 1, latest_version: 1 });
  });

  it('makes v2 for a content edit that keeps the version: label, with the new commit', async () => {
    const first = await seed();
    repo.write(HELLO, workflowYaml('hello', { note: 'second' }));
    const second = repo.commit('edit');

    const a = await syncA();
    expect(a.updated).toEqual(['hello']);
    expect(a.unchanged).toEqual(['other']);
    expect(a.versions).toEqual({ hello: 2 });
    expect(def('a', 'hello')).toMatchObject({ status: 'active', active_version: 2, latest_version: 2 });
    const versions = station.definitions.versions('a', 'hello');
    expect(versions.map((v) => [v.version, v.label, v.git_commit])).toEqual([
      [1, '1.0', first],
      [2, '1.0', second],
    ]);
    expect(versions[0]?.content_hash).not.toBe(versions[1]?.content_hash);
  });

  it('keeps v2 active when the file becomes invalid YAML, and carries the error', async () => {
    await seed();
    repo.write(HELLO, workflowYaml('hello', { note: 'second' }));
    repo.commit('v2');
    await station.syncer.sync();

    repo.write(HELLO, workflowYaml('hello', { note: 'third' }).replace('  - name: only', '  - name: [only'));
    repo.commit('broken yaml');
    const report = await station.syncer.sync();
    const a = envReport(report, 'a');

    expect(a.updated).toEqual([]);
    expect(a.invalid).toHaveLength(1);
    const inv = a.invalid[0];
    expect(inv).toMatchObject({ path: HELLO, id: 'hello', activeVersion: 2 });
    expect(inv?.errors[0]).toMatchObject({ code: 'STN_E_YAML_SYNTAX' });
    for (const e of inv?.errors ?? []) {
      expect(e.line).toBeGreaterThanOrEqual(5);
      expect(e.col).toBeGreaterThanOrEqual(1);
    }
    expect(syncExitCode(report)).toBe(1);

    const d = def('a', 'hello');
    expect(d).toMatchObject({ status: 'active', active_version: 2, latest_version: 2 });
    const stored = JSON.parse(d.error ?? '[]') as Array<{ code: string; line: number; col: number }>;
    expect(stored).toEqual(inv?.errors);
    expect(stored.length).toBeGreaterThan(0);
    expect(station.definitions.versions('a', 'hello')).toHaveLength(2);
    const listed = station.definitions.listDefinitions({ environment: 'a' });
    expect(listed.map((r) => [r.workflow_id, r.status, r.active_version, r.error === null])).toEqual([
      ['hello', 'active', 2, false],
      ['other', 'active', 1, true],
    ]);
    expect(station.definitions.environment('a')?.last_sync_status).toBe('invalid');
  });

  it('keeps v2 active when the file breaks the schema, with the line and column of the bad key', async () => {
    await seed();
    repo.write(HELLO, workflowYaml('hello', { note: 'second' }));
    repo.commit('v2');
    await station.syncer.sync();

    // Line 5 of the file is "  - name: only"; the unknown key goes on line 6.
    repo.write(HELLO, workflowYaml('hello').replace('    type: operation', '    colour: blue\n    type: operation'));
    repo.commit('schema error');
    const a = await syncA();

    expect(a.invalid).toEqual([
      {
        path: HELLO,
        id: 'hello',
        activeVersion: 2,
        errors: [expect.objectContaining({ code: 'STN_E_SCHEMA_UNKNOWN_FIELD', line: 6, col: 5 })],
      },
    ]);
    expect(def('a', 'hello')).toMatchObject({ status: 'active', active_version: 2, latest_version: 2 });
    expect(JSON.parse(def('a', 'hello').error ?? '[]')).toEqual([expect.objectContaining({ code: 'STN_E_SCHEMA_UNKNOWN_FIELD', line: 6 })]);
    const row = station.definitions.listDefinitions({ status: 'active' }).find((r) => r.workflow_id === 'hello');
    expect(row?.error).not.toBeNull();
  });

  it('clears the error without a new version when a broken file is fixed back to the active content', async () => {
    await seed();
    repo.write(HELLO, 'id: hello\nversion: "1.0"\nname: [broken\n');
    repo.commit('broken');
    await station.syncer.sync();
    expect(def('a', 'hello').error).not.toBeNull();

    repo.write(HELLO, workflowYaml('hello'));
    repo.commit('fixed');
    const a = await syncA();
    expect(a.unchanged).toEqual(['hello', 'other']);
    expect(a.invalid).toEqual([]);
    expect(def('a', 'hello')).toMatchObject({ status: 'active', active_version: 1, latest_version: 1, error: null, error_at: null });
  });

  it('disables a deleted file and keeps its history; the same content back re-enables it without a version', async () => {
    await seed();
    repo.write(HELLO, workflowYaml('hello', { note: 'second' }));
    repo.commit('v2');
    await station.syncer.sync();

    repo.remove(HELLO);
    repo.commit('delete hello');
    let a = await syncA();
    expect(a.disabled).toEqual(['hello']);
    expect(a.unchanged).toEqual(['other']);
    const disabled = def('a', 'hello');
    expect(disabled).toMatchObject({ status: 'disabled', active_version: 2, latest_version: 2 });
    expect(disabled.disabled_at).not.toBeNull();
    expect(station.definitions.versions('a', 'hello').map((v) => v.version)).toEqual([1, 2]);
    expect(station.definitions.listDefinitions({ status: 'disabled' }).map((r) => r.workflow_id)).toEqual(['hello']);

    // A second sync does not report it again.
    a = await syncA();
    expect(a.disabled).toEqual([]);

    repo.write(HELLO, workflowYaml('hello', { note: 'second' }));
    repo.commit('restore');
    a = await syncA();
    expect(a.reenabled).toEqual(['hello']);
    expect(a.versions).toEqual({});
    expect(def('a', 'hello')).toMatchObject({ status: 'active', active_version: 2, latest_version: 2, disabled_at: null });
    expect(station.definitions.versions('a', 'hello')).toHaveLength(2);
  });

  it('re-enables a deleted file that comes back with different content as a new version', async () => {
    await seed();
    repo.remove(HELLO);
    repo.commit('delete');
    await station.syncer.sync();
    expect(def('a', 'hello').status).toBe('disabled');

    repo.write(HELLO, workflowYaml('hello', { note: 'changed while away' }));
    const sha = repo.commit('restore changed');
    const a = await syncA();
    expect(a.reenabled).toEqual(['hello']);
    expect(a.added).toEqual([]);
    expect(a.versions).toEqual({ hello: 2 });
    expect(def('a', 'hello')).toMatchObject({ status: 'active', active_version: 2, latest_version: 2, disabled_at: null });
    expect(station.definitions.version('a', 'hello', 2)?.git_commit).toBe(sha);
  });

  it('lists a new file that was never valid as invalid, and adds it as v1 once fixed', async () => {
    await seed();
    repo.write(workflowPath('a', 'newbie'), 'id: newbie\nversion: "1.0"\nname: Newbie\nstates: []\n');
    repo.commit('newbie');
    const report = await station.syncer.sync();
    const a = envReport(report, 'a');
    expect(a.invalid).toEqual([{ path: workflowPath('a', 'newbie'), id: 'newbie', activeVersion: null, errors: [expect.objectContaining({ line: 4 })] }]);
    expect(syncExitCode(report)).toBe(1);
    expect(def('a', 'newbie')).toMatchObject({ status: 'invalid', active_version: null, latest_version: 0 });
    expect(station.definitions.listDefinitions({ status: 'invalid' }).map((r) => [r.workflow_id, r.label])).toEqual([['newbie', null]]);
    expect(station.definitions.versions('a', 'newbie')).toEqual([]);

    repo.write(workflowPath('a', 'newbie'), workflowYaml('newbie'));
    repo.commit('fix newbie');
    const fixed = await syncA();
    expect(fixed.added).toEqual(['newbie']);
    expect(fixed.versions).toEqual({ newbie: 1 });
    expect(def('a', 'newbie')).toMatchObject({ status: 'active', active_version: 1, latest_version: 1, error: null });
  });

  it('reports a file too broken to name an id as invalid with id null, creating no definition', async () => {
    await seed();
    repo.write(workflowPath('a', 'garbage'), '{{{ not yaml\n');
    repo.commit('garbage');
    const a = await syncA();
    expect(a.invalid).toEqual([{ path: workflowPath('a', 'garbage'), id: null, activeVersion: null, errors: expect.any(Array) }]);
    const errors = a.invalid[0]?.errors ?? [];
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.code === 'STN_E_YAML_SYNTAX' && e.line === 2 && e.col === 1)).toBe(true);
    expect(a.unchanged).toEqual(['hello', 'other']);
    expect(station.definitions.listDefinitions({ environment: 'a' }).map((d) => d.workflow_id).sort()).toEqual(['hello', 'other']);
  });

  it('disables the old id and adds the new one when a file changes its id', async () => {
    await seed();
    repo.write(HELLO, workflowYaml('hello-renamed'));
    repo.commit('rename id');
    const a = await syncA();
    expect(a.added).toEqual(['hello-renamed']);
    expect(a.disabled).toEqual(['hello']);
    expect(a.unchanged).toEqual(['other']);
    expect(def('a', 'hello')).toMatchObject({ status: 'disabled', active_version: 1 });
    expect(def('a', 'hello-renamed')).toMatchObject({ status: 'active', active_version: 1, path: HELLO });
  });

  it('keeps the definition and its version when a file moves to another path', async () => {
    await seed();
    const moved = 'environments/a/workflows/sub/hello-moved.workflow.yml';
    repo.remove(HELLO);
    repo.write(moved, workflowYaml('hello'));
    repo.commit('move');
    const a = await syncA();
    expect(a.unchanged).toEqual(['hello', 'other']);
    expect(a.disabled).toEqual([]);
    expect(def('a', 'hello')).toMatchObject({ status: 'active', active_version: 1, path: moved });
  });
});

describe('git state of a version', () => {
  it('records git_dirty 1 for a file with uncommitted changes, still naming HEAD', async () => {
    const sha = await seed();
    repo.write(HELLO, workflowYaml('hello', { note: 'not committed' }));
    const a = await syncA();
    expect(a.updated).toEqual(['hello']);
    expect(station.definitions.version('a', 'hello', 2)).toMatchObject({ git_commit: sha, git_dirty: 1, git_untracked: 0 });
  });

  it('records git_dirty 1 for a staged change too', async () => {
    await seed();
    repo.write(HELLO, workflowYaml('hello', { note: 'staged' }));
    repo.git('add', HELLO);
    await syncA();
    expect(station.definitions.version('a', 'hello', 2)).toMatchObject({ git_dirty: 1, git_untracked: 0 });
  });

  it('records git_untracked 1 for a new file that is not in Git yet', async () => {
    const sha = await seed();
    repo.write(workflowPath('a', 'fresh'), workflowYaml('fresh'));
    repo.write(workflowPath('c', 'in-new-env'), workflowYaml('in-new-env'));
    const report = await station.syncer.sync();
    expect(envReport(report, 'a').added).toEqual(['fresh']);
    expect(envReport(report, 'c').added).toEqual(['in-new-env']);
    expect(station.definitions.version('a', 'fresh', 1)).toMatchObject({ git_commit: sha, git_dirty: 0, git_untracked: 1 });
    expect(station.definitions.version('c', 'in-new-env', 1)).toMatchObject({ git_commit: sha, git_dirty: 0, git_untracked: 1 });
  });

  it('records commit null and untracked before the first commit', async () => {
    repo.write(HELLO, workflowYaml('hello'));
    const report = await station.syncer.sync();
    expect(report.commit).toBeNull();
    expect(station.definitions.version('a', 'hello', 1)).toMatchObject({ git_commit: null, git_dirty: 0, git_untracked: 1 });
  });

  it('works when the Station repository is a subfolder of the Git checkout', async () => {
    repo.write(`ops/${HELLO}`, workflowYaml('hello'));
    repo.write('ops/.gitignore', '.station/\n');
    const sha = repo.commit('ops');
    repo.write(`ops/${workflowPath('a', 'dirty')}`, workflowYaml('dirty'));
    const sub = open(path.join(repo.dir, 'ops'));
    try {
      const report = await sub.syncer.sync();
      expect(report.commit).toBe(sha);
      expect(envReport(report, 'a').added).toEqual(['dirty', 'hello']);
      expect(sub.definitions.version('a', 'hello', 1)).toMatchObject({ path: HELLO, git_commit: sha, git_dirty: 0, git_untracked: 0 });
      expect(sub.definitions.version('a', 'dirty', 1)).toMatchObject({ git_untracked: 1 });
    } finally {
      await sub.close();
    }
  });

  it('records null git facts outside a Git checkout', async () => {
    const plain = fs.mkdtempSync(path.join(path.dirname(repo.dir), 'stn-plain-'));
    const s = open(plain);
    try {
      fs.mkdirSync(path.join(plain, 'environments', 'a', 'workflows'), { recursive: true });
      fs.writeFileSync(path.join(plain, HELLO), workflowYaml('hello'));
      const report = await s.syncer.sync();
      expect(report.commit).toBeNull();
      expect(s.definitions.version('a', 'hello', 1)).toMatchObject({ git_commit: null, git_dirty: null, git_untracked: null });
    } finally {
      await s.close();
      fs.rmSync(plain, { recursive: true, force: true });
    }
  });
});

describe('environments', () => {
  it('keeps environments isolated: syncing one never touches the other, and one id in both is two definitions', async () => {
    repo.write(workflowPath('a', 'shared'), workflowYaml('shared', { note: 'in a' }));
    repo.write(workflowPath('b', 'shared'), workflowYaml('shared', { note: 'in b' }));
    repo.write(workflowPath('b', 'only-b'), workflowYaml('only-b'));
    repo.commit('two envs');

    const onlyA = await station.syncer.sync({ environment: 'a' });
    expect(onlyA.environments.map((e) => e.name)).toEqual(['a']);
    expect(envReport(onlyA, 'a').added).toEqual(['shared']);
    expect(station.definitions.listDefinitions({ environment: 'b' })).toEqual([]);
    expect(station.definitions.environment('b')).toBeUndefined();

    const all = await station.syncer.sync();
    expect(all.environments.map((e) => e.name)).toEqual(['a', 'b']);
    expect(envReport(all, 'a').unchanged).toEqual(['shared']);
    expect(envReport(all, 'b').added).toEqual(['only-b', 'shared']);
    const inA = station.definitions.version('a', 'shared', 1);
    const inB = station.definitions.version('b', 'shared', 1);
    expect(inA?.path).toBe(workflowPath('a', 'shared'));
    expect(inB?.path).toBe(workflowPath('b', 'shared'));
    expect(inA?.content_hash).not.toBe(inB?.content_hash);
    expect(station.definitions.definitionsById('shared').map((d) => d.environment)).toEqual(['a', 'b']);

    // Change and delete in b; a sync of a leaves b exactly as it was.
    repo.write(workflowPath('b', 'shared'), workflowYaml('shared', { note: 'in b, edited' }));
    repo.remove(workflowPath('b', 'only-b'));
    repo.commit('edit b');
    const before = {
      defs: station.definitions.listDefinitions({ environment: 'b' }),
      versions: station.definitions.versions('b', 'shared'),
      env: station.definitions.environment('b'),
    };
    const again = await station.syncer.sync({ environment: 'a' });
    expect(again.environments.map((e) => e.name)).toEqual(['a']);
    expect(station.definitions.listDefinitions({ environment: 'b' })).toEqual(before.defs);
    expect(station.definitions.versions('b', 'shared')).toEqual(before.versions);
    expect(station.definitions.environment('b')).toEqual(before.env);

    const b = envReport(await station.syncer.sync({ environment: 'b' }), 'b');
    expect(b.updated).toEqual(['shared']);
    expect(b.disabled).toEqual(['only-b']);
    expect(station.definitions.versions('a', 'shared')).toHaveLength(1);
  });

  it('refuses an unknown environment', async () => {
    await seed();
    await expect(station.syncer.sync({ environment: 'nosuch' })).rejects.toMatchObject({ code: 'STN_E_NOT_FOUND' });
  });

  it('attributes bundle workflows to the environments that list the bundle, remembering the bundle', async () => {
    repo.write('bundles/kit/template.json', JSON.stringify({ name: 'kit', version: '1.0.0' }));
    repo.write('bundles/kit/workflows/kit-check.workflow.yaml', workflowYaml('kit-check'));
    repo.write('environments/a/environment.yaml', 'vars: {team: a}\nbundles:\n  - name: kit\n    version: "1.0.0"\n');
    repo.write(workflowPath('a', 'own'), workflowYaml('own'));
    repo.write('environments/b/environment.yaml', 'vars: {team: b}\n');
    repo.write(workflowPath('b', 'own'), workflowYaml('own'));
    const sha = repo.commit('bundle');

    const report = await station.syncer.sync();
    expect(envReport(report, 'a').added).toEqual(['kit-check', 'own']);
    expect(envReport(report, 'b').added).toEqual(['own']);
    const kitPath = 'bundles/kit/workflows/kit-check.workflow.yaml';
    expect(def('a', 'kit-check')).toMatchObject({ status: 'active', bundle: 'kit', path: kitPath });
    expect(def('a', 'own').bundle).toBeNull();
    expect(station.definitions.version('a', 'kit-check', 1)).toMatchObject({ bundle: 'kit', path: kitPath, git_commit: sha });
    expect(station.definitions.definition('b', 'kit-check')).toBeUndefined();

    // Dropping the bundle from the list disables its workflows in that environment only.
    repo.write('environments/a/environment.yaml', 'vars: {team: a}\n');
    repo.commit('drop bundle');
    const after = await station.syncer.sync();
    expect(envReport(after, 'a').disabled).toEqual(['kit-check']);
    expect(envReport(after, 'b').disabled).toEqual([]);
  });

  it('does not sync an environment whose environment.yaml lists a missing bundle', async () => {
    await seed();
    repo.write('environments/a/environment.yaml', 'bundles:\n  - name: ghost\n');
    repo.commit('ghost');
    const report = await station.syncer.sync();
    const a = envReport(report, 'a');
    expect(a.error?.code).toBe('STN_E_BUNDLE_MISSING');
    expect(syncExitCode(report)).toBe(1);
    expect(def('a', 'hello').status).toBe('active');
  });
});

describe('duplicates and the empty-sync guard', () => {
  it('lets the first file by path keep a duplicated id and reports the second as invalid', async () => {
    const first = workflowPath('a', 'a-first');
    const second = workflowPath('a', 'b-second');
    repo.write(second, workflowYaml('dup', { note: 'second' }));
    repo.write(first, workflowYaml('dup', { note: 'first' }));
    repo.commit('dup');

    const report = await station.syncer.sync();
    const a = envReport(report, 'a');
    expect(a.added).toEqual(['dup']);
    expect(a.invalid).toEqual([
      { path: second, id: 'dup', activeVersion: null, errors: [expect.objectContaining({ code: 'STN_E_DUPLICATE_ID', line: 1, col: 1 })] },
    ]);
    expect(a.invalid[0]?.errors[0]?.message).toContain(first);
    expect(a.warnings).toEqual([{ path: first, id: 'dup', warnings: [expect.objectContaining({ code: 'STN_E_DUPLICATE_ID' })] }]);
    expect(syncExitCode(report)).toBe(1);
    expect(def('a', 'dup')).toMatchObject({ status: 'active', path: first, error: null });
    expect(JSON.parse(station.definitions.version('a', 'dup', 1)?.spec ?? '{}')).toMatchObject({ states: [{ input: { note: 'first' } }] });

    // Still reported, with no new version, on the next sync.
    const again = await syncA();
    expect(again.unchanged).toEqual(['dup']);
    expect(again.invalid.map((i) => [i.path, i.errors[0]?.code])).toEqual([[second, 'STN_E_DUPLICATE_ID']]);
  });

  it('refuses to disable every definition of an environment unless allowEmpty', async () => {
    await seed();
    repo.write(workflowPath('b', 'keep'), workflowYaml('keep'));
    repo.commit('b');
    await station.syncer.sync();
    const before = dump(station.db);

    repo.remove('environments/a/workflows');
    const sha = repo.commit('empty a');
    const refused = await station.syncer.sync();
    const a = envReport(refused, 'a');
    expect(a.error).toMatchObject({ code: 'STN_E_SYNC_EMPTY', details: { wouldDisable: ['hello', 'other'] } });
    expect(a.disabled).toEqual([]);
    expect(envReport(refused, 'b').error).toBeUndefined();
    expect(syncExitCode(refused)).toBe(2);
    expect(def('a', 'hello').status).toBe('active');
    expect(def('a', 'other').status).toBe('active');
    const filesOfA = (d: Record<string, unknown[]>) => d.workflow_files?.filter((f) => (f as { environment: string }).environment === 'a');
    expect(filesOfA(dump(station.db))).toEqual(filesOfA(before));
    expect(station.definitions.environment('a')).toMatchObject({ last_sync_status: 'refused', last_attempted_commit: sha });
    expect(station.definitions.environment('a')?.last_synced_commit).not.toBe(sha);
    expect(station.definitions.syncRuns(1)[0]).toMatchObject({ status: 'refused' });

    const allowed = await station.syncer.sync({ allowEmpty: true });
    expect(envReport(allowed, 'a').disabled).toEqual(['hello', 'other']);
    expect(syncExitCode(allowed)).toBe(0);
    expect(def('a', 'hello').status).toBe('disabled');
    expect(def('a', 'other').status).toBe('disabled');
    expect(station.definitions.environment('a')).toMatchObject({ last_synced_commit: sha, last_sync_status: 'ok' });
  });

  it('applies the guard when the whole environment folder is gone', async () => {
    await seed();
    repo.remove('environments/a');
    repo.commit('no a');
    const refused = await station.syncer.sync();
    expect(envReport(refused, 'a').error?.code).toBe('STN_E_SYNC_EMPTY');
    expect(syncExitCode(refused)).toBe(2);
    const allowed = await station.syncer.sync({ environment: 'a', allowEmpty: true });
    expect(envReport(allowed, 'a').disabled).toEqual(['hello', 'other']);
  });
});

describe('dry run, sync runs, incremental sync', () => {
  it('writes nothing on a dry run, but reports the plan', async () => {
    await seed();
    repo.write(HELLO, workflowYaml('hello', { note: 'second' }));
    repo.remove(OTHER);
    repo.write(workflowPath('a', 'new'), workflowYaml('new'));
    repo.write(workflowPath('a', 'broken'), 'id: broken\nversion: "1.0"\nname: Broken\nstates: []\n');
    repo.write(workflowPath('b', 'elsewhere'), workflowYaml('elsewhere'));
    const before = dump(station.db);

    const report = await station.syncer.sync({ dryRun: true });
    expect(report).toMatchObject({ dryRun: true, syncRunId: null });
    expect(envReport(report, 'a')).toMatchObject({ added: ['new'], updated: ['hello'], disabled: ['other'], invalid: [{ id: 'broken' }] });
    expect(envReport(report, 'b').added).toEqual(['elsewhere']);
    expect(dump(station.db)).toEqual(before);
  });

  it('writes nothing on a dry run of an empty database, nor on a refused dry run', async () => {
    repo.write(HELLO, workflowYaml('hello'));
    repo.commit('one');
    const empty = dump(station.db);
    expect(envReport(await station.syncer.sync({ dryRun: true }), 'a').added).toEqual(['hello']);
    expect(dump(station.db)).toEqual(empty);

    await station.syncer.sync();
    repo.remove(HELLO);
    const before = dump(station.db);
    const refused = await station.syncer.sync({ dryRun: true });
    expect(envReport(refused, 'a').error?.code).toBe('STN_E_SYNC_EMPTY');
    expect(syncExitCode(refused)).toBe(2);
    expect(dump(station.db)).toEqual(before);
  });

  it('records a sync_runs row with a summary for every sync', async () => {
    const sha = await seed();
    let runs = station.definitions.syncRuns(10);
    expect(runs).toHaveLength(1);
    const first = runs[0];
    expect(first).toMatchObject({ source: 'cli', git_commit: sha, dry_run: 0, status: 'ok', error: null });
    expect(first?.finished_at).not.toBeNull();
    expect(JSON.parse(first?.environments ?? '[]')).toEqual(['a']);
    expect(JSON.parse(first?.summary ?? '{}')).toMatchObject({
      totals: { added: 2, updated: 0, disabled: 0, reenabled: 0, unchanged: 0, invalid: 0 },
      environments: [{ name: 'a', added: ['hello', 'other'] }],
    });
    expect(station.definitions.version('a', 'hello', 1)?.sync_run_id).toBe(first?.id);

    repo.write(HELLO, 'id: hello\nversion: 1\n');
    await station.syncer.sync({ source: 'watch' });
    runs = station.definitions.syncRuns(10);
    expect(runs).toHaveLength(2);
    expect(runs[0]).toMatchObject({ source: 'watch', status: 'invalid' });
    expect(JSON.parse(runs[0]?.summary ?? '{}')).toMatchObject({
      totals: { invalid: 1, unchanged: 1 },
      environments: [{ name: 'a', invalid: [{ path: HELLO, id: 'hello' }] }],
    });

    await station.syncer.sync({ dryRun: true });
    expect(station.definitions.syncRuns(10)).toHaveLength(2);
  });

  it('re-reads only the changedPaths on an incremental sync; a full sync picks up the rest', async () => {
    await seed();
    repo.write(HELLO, workflowYaml('hello', { note: 'second' }));
    repo.write(OTHER, workflowYaml('other', { note: 'second' }));
    repo.commit('both');

    const partial = await syncA({ changedPaths: [HELLO] });
    expect(partial.updated).toEqual(['hello']);
    expect(partial.unchanged).toEqual(['other']);
    expect(def('a', 'other').active_version).toBe(1);

    const full = await syncA();
    expect(full.updated).toEqual(['other']);
    expect(full.unchanged).toEqual(['hello']);
    expect(def('a', 'other').active_version).toBe(2);
  });

  it('hands a duplicated id to the second file when the first goes, even when only the first is a changed path', async () => {
    const first = workflowPath('a', 'a-first');
    const second = workflowPath('a', 'b-second');
    repo.write(first, workflowYaml('dup', { note: 'first' }));
    repo.write(second, workflowYaml('dup', { note: 'second' }));
    repo.write(OTHER, workflowYaml('other'));
    repo.commit('dup');
    await station.syncer.sync();

    repo.remove(first);
    repo.commit('drop first');
    const a = await syncA({ changedPaths: [first] });
    expect(a.updated).toEqual(['dup']);
    expect(a.invalid).toEqual([]);
    expect(def('a', 'dup')).toMatchObject({ status: 'active', active_version: 2, path: second });
    expect(JSON.parse(station.definitions.version('a', 'dup', 2)?.spec ?? '{}')).toMatchObject({ states: [{ input: { note: 'second' } }] });
  });

  it('skips environments that no changed path concerns', async () => {
    await seed();
    repo.write(workflowPath('b', 'bee'), workflowYaml('bee'));
    await station.syncer.sync();
    repo.write(workflowPath('b', 'bee'), workflowYaml('bee', { note: 'second' }));
    repo.write(HELLO, workflowYaml('hello', { note: 'second' }));

    const report = await station.syncer.sync({ changedPaths: [workflowPath('b', 'bee')] });
    expect(report.environments.map((e) => e.name)).toEqual(['b']);
    expect(envReport(report, 'b').updated).toEqual(['bee']);
    expect(def('a', 'hello').active_version).toBe(1);
  });
});
