import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBundle } from '../../src/bundles/create.js';
import { installBundle } from '../../src/bundles/install.js';
import { removeBundle } from '../../src/bundles/remove.js';
import { openStation, type Station } from '../../src/context.js';
import type { JsonValue } from '../../src/definitions/types.js';
import { TERMINAL_RUN, type RunRow } from '../../src/store/runs.js';
import type { EnvironmentReport } from '../../src/sync/sync.js';
import { varsWorkflow, writeBundleFolder } from '../helpers/bundle-fixtures.js';
import { createGitRepo, createTempDir, type GitRepo } from '../helpers/git-repo.js';
import { workflowYaml } from '../helpers/workflow.js';

/**
 * The whole journey on real things: a bundle folder → `createBundle` → `installBundle` into a Git checkout →
 * commit → sync into SQLite → runs executed by the engine, reading the bundle's variables.
 */

let repo: GitRepo;
let work: string;
let station: Station;

const SECRET = 'pd-secret-value-0123456789';

beforeEach(() => {
  repo = createGitRepo('stn-bundle-rt-');
  work = createTempDir('stn-bundle-rt-work-');
  repo.write('.gitignore', '.station/\n');
  repo.write('environments/a/environment.yaml', 'vars:\n  team: alpha\n');
  repo.write('environments/a/workflows/own.workflow.yaml', workflowYaml('own'));
  repo.write('environments/b/environment.yaml', 'vars:\n  team: bravo\n');
  repo.write('environments/b/workflows/own-b.workflow.yaml', workflowYaml('own-b'));
  repo.commit('init');
  station = openStation({ repo: repo.dir, db: path.join(repo.dir, '.station', 'station.db'), logLevel: 'silent' }, { STN_SECRET_PD_TOKEN: SECRET });
  station.engine({ pollMs: 10, concurrency: 4 }).start();
});

afterEach(async () => {
  await station.close();
  repo.cleanup();
  fs.rmSync(work, { recursive: true, force: true });
});

function makeArchive(spec: Parameters<typeof writeBundleFolder>[1] = {}, name = 'src'): string {
  return createBundle(writeBundleFolder(path.join(work, name), spec), { output: path.join(work, `${name}.tar.gz`) }).file;
}

async function sync(): Promise<Record<string, EnvironmentReport>> {
  const report = await station.syncer.sync();
  return Object.fromEntries(report.environments.map((e) => [e.name, e]));
}

/** Starts a run and waits (on committed events, with a deadline) until it has ended. */
async function run(workflowId: string, environment: string, input: JsonValue = {}): Promise<RunRow> {
  const id = station.runs.start({ workflowId, environment, input }).run.id;
  const ended = () => {
    const r = station.runStore.run(id);
    return r && TERMINAL_RUN.has(r.status) ? r : undefined;
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`run ${id} did not end within 20 s`));
    }, 20_000);
    const off = station.events.on((e) => {
      if (e.runId === id && ended()) {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
    if (ended()) {
      clearTimeout(timer);
      off();
      resolve();
    }
  });
  return ended() as RunRow;
}

const output = (r: RunRow): unknown => (r.output === null ? null : JSON.parse(r.output));

describe('bundle round trip', () => {
  it('create → install → sync → run: the bundle workflow reads entry vars, defaults and environment vars', async () => {
    const file = makeArchive();
    const installed = await installBundle({ repo: repo.dir, env: 'a', source: file, vars: ['threshold=7'] });
    expect(installed.action).toBe('installed');
    const sha = repo.commit('install kit');

    const report = await sync();
    expect(report.a?.added).toEqual(['kit-show', 'own']);
    expect(station.definitions.definition('a', 'kit-show')).toMatchObject({
      status: 'active',
      bundle: 'kit',
      path: 'bundles/kit/workflows/kit-show.workflow.yaml',
    });
    expect(station.definitions.version('a', 'kit-show', 1)).toMatchObject({ bundle: 'kit', git_commit: sha });
    // Environment b does not install kit.
    expect(station.definitions.definition('b', 'kit-show')).toBeUndefined();

    const r = await run('kit-show', 'a');
    expect(r.status).toBe('COMPLETED');
    // threshold from the entry, greeting from template.json's default, team from the environment's vars.
    expect(output(r)).toEqual({ greeting: 'hello', threshold: 7, team: 'alpha' });
  });

  it('two environments install the same bundle with different values and get different results', async () => {
    const file = makeArchive();
    await installBundle({ repo: repo.dir, env: 'a', source: file, vars: ['threshold=7', 'greeting=hallo'] });
    const second = await installBundle({ repo: repo.dir, env: 'b', source: file, vars: ['threshold=99'] });
    expect(second).toMatchObject({ action: 'installed', folderWritten: false });
    repo.commit('install kit twice');
    const report = await sync();
    expect(report.a?.added).toContain('kit-show');
    expect(report.b?.added).toContain('kit-show');

    const [ra, rb] = [await run('kit-show', 'a'), await run('kit-show', 'b')];
    expect(output(ra)).toEqual({ greeting: 'hallo', threshold: 7, team: 'alpha' });
    expect(output(rb)).toEqual({ greeting: 'hello', threshold: 99, team: 'bravo' });
  });

  it('a secret variable names the secret; the run gets its value, the database only ***', async () => {
    const workflow = `id: kit-secret
version: "1"
name: kit-secret
states:
  - name: call
    type: operation
    action: shell.exec
    input:
      command: [sh, -c, 'printf "%s" "$TOKEN" | wc -c']
      env:
        TOKEN: "{{ secrets[vars.token] }}"
    end: true
output: "{{ steps.call.stdout.trim() }}"
`;
    const file = makeArchive({
      variables: { token: { type: 'string', secret: true, required: true, description: 'PagerDuty API token' } },
      workflows: { 'kit-secret.workflow.yaml': workflow },
    });
    await installBundle({ repo: repo.dir, env: 'a', source: file, vars: ['token=PD_TOKEN'] });
    expect(repo.read('environments/a/environment.yaml')).toContain('token: PD_TOKEN');
    expect(repo.read('environments/a/environment.yaml')).not.toContain(SECRET);
    repo.commit('install');
    await sync();
    const r = await run('kit-secret', 'a');
    expect(r.status).toBe('COMPLETED');
    expect(output(r)).toBe(String(SECRET.length));
    const stored = JSON.stringify([station.runStore.run(r.id), station.runStore.steps(r.id), station.runStore.events(r.id)]);
    expect(stored).not.toContain(SECRET);
    expect(stored).toContain('***');
  });

  it('upgrade: new workflows are added, changed ones versioned, dropped ones disabled at the next sync', async () => {
    await installBundle({
      repo: repo.dir,
      env: 'a',
      source: makeArchive({ workflows: { 'kit-show.workflow.yaml': varsWorkflow('kit-show'), 'kit-old.workflow.yaml': workflowYaml('kit-old') } }, 'v1'),
      vars: ['threshold=1'],
    });
    repo.commit('v1');
    expect((await sync()).a?.added).toEqual(['kit-old', 'kit-show', 'own']);
    expect(output(await run('kit-show', 'a'))).toEqual({ greeting: 'hello', threshold: 1, team: 'alpha' });

    const v2 = makeArchive(
      {
        version: '2.0.0',
        variables: { greeting: { type: 'string', default: 'hello' }, threshold: { type: 'integer', required: true }, suffix: { type: 'string', default: '!' } },
        workflows: {
          'kit-show.workflow.yaml': varsWorkflow('kit-show').replace('"{{ vars.greeting }}"', '"{{ vars.greeting + vars.suffix }}"'),
          'kit-new.workflow.yaml': workflowYaml('kit-new'),
        },
      },
      'v2',
    );
    const r = await installBundle({ repo: repo.dir, env: 'a', source: v2, upgrade: true });
    expect(r.changes).toMatchObject({ from: '1.0.0', to: '2.0.0', added: ['kit-new'], removed: ['kit-old'], changed: ['kit-show'] });
    repo.commit('v2');
    const report = (await sync()).a;
    expect(report).toMatchObject({ added: ['kit-new'], updated: ['kit-show'], disabled: ['kit-old'] });
    expect(station.definitions.definition('a', 'kit-show')?.active_version).toBe(2);
    expect(output(await run('kit-show', 'a'))).toEqual({ greeting: 'hello!', threshold: 1, team: 'alpha' });
  });

  it('remove: the entry goes, the folder goes with its last environment, and sync disables the workflows', async () => {
    const file = makeArchive();
    await installBundle({ repo: repo.dir, env: 'a', source: file, vars: ['threshold=1'] });
    await installBundle({ repo: repo.dir, env: 'b', source: file, vars: ['threshold=2'] });
    repo.commit('install');
    await sync();
    const done = await run('kit-show', 'a');

    const first = removeBundle({ repo: repo.dir, env: 'a', name: 'kit' });
    expect(first).toMatchObject({ folderDeleted: false, stillUsedBy: ['b'], workflows: ['kit-show'] });
    expect(repo.read('environments/a/environment.yaml')).toBe('vars:\n  team: alpha\n');
    repo.commit('remove from a');
    let report = await sync();
    expect(report.a?.disabled).toEqual(['kit-show']);
    expect(report.b?.disabled).toEqual([]);
    expect(station.definitions.definition('a', 'kit-show')?.status).toBe('disabled');
    expect(station.definitions.definition('b', 'kit-show')?.status).toBe('active');
    // History is kept: the earlier run is still there.
    expect(station.runStore.run(done.id)?.status).toBe('COMPLETED');

    const last = removeBundle({ repo: repo.dir, env: 'b', name: 'kit' });
    expect(last).toMatchObject({ folderDeleted: true, stillUsedBy: [] });
    expect(fs.existsSync(path.join(repo.dir, 'bundles', 'kit'))).toBe(false);
    repo.commit('remove from b');
    report = await sync();
    expect(report.b?.disabled).toEqual(['kit-show']);
    expect(station.definitions.definition('b', 'own-b')?.status).toBe('active');
  });

  it('remove drops every entry of the bundle when environment.yaml lists it twice', async () => {
    await installBundle({ repo: repo.dir, env: 'a', source: makeArchive(), vars: ['threshold=1'] });
    repo.write('environments/a/environment.yaml', `${repo.read('environments/a/environment.yaml')}  - name: kit\n`);
    expect(removeBundle({ repo: repo.dir, env: 'a', name: 'kit' })).toMatchObject({ folderDeleted: true });
    expect(repo.read('environments/a/environment.yaml')).toBe('vars:\n  team: alpha\n');
  });

  it('remove refuses a bundle the environment does not list, changing nothing', () => {
    expect(() => removeBundle({ repo: repo.dir, env: 'a', name: 'kit' })).toThrow(/environment a does not list bundle "kit"/);
    expect(repo.git('status', '--porcelain')).toBe('');
  });
});
