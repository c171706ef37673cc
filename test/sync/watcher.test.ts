import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SyncReport } from '../../src/sync/report.js';
import { RepoWatcher } from '../../src/sync/watcher.js';
import { EngineHarness } from '../helpers/engine-harness.js';
import { workflowYaml } from '../helpers/workflow.js';

let h: EngineHarness;
let watcher: RepoWatcher | undefined;
let reports: SyncReport[];
let errors: unknown[];
let waiters: Array<{ pred: (r: SyncReport) => boolean; resolve: (r: SyncReport) => void }>;

beforeEach(async () => {
  h = EngineHarness.create({ startEngine: false });
  h.writeFile('environments/default/workflows/base.workflow.yaml', workflowYaml('base'));
  await h.sync();
  reports = [];
  errors = [];
  waiters = [];
});

afterEach(async () => {
  await watcher?.stop();
  watcher = undefined;
  await h.close();
});

async function startWatcher(debounceMs?: number): Promise<RepoWatcher> {
  watcher = new RepoWatcher({
    station: h.station,
    ...(debounceMs !== undefined ? { debounceMs } : {}),
    onSynced: (r) => {
      reports.push(r);
      for (const w of [...waiters]) {
        if (w.pred(r)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(r);
        }
      }
    },
    onError: (e) => errors.push(e),
  });
  await watcher.start();
  return watcher;
}

/** The next sync report matching the predicate (or one already seen). */
function nextReport(pred: (r: SyncReport) => boolean, timeoutMs = 5000): Promise<SyncReport> {
  const seen = reports.find(pred);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no matching sync within ${timeoutMs} ms; saw ${JSON.stringify(reports.map((r) => r.environments))}`)), timeoutMs);
    waiters.push({ pred, resolve: (r) => (clearTimeout(timer), resolve(r)) });
  });
}

const has = (list: 'added' | 'updated' | 'disabled' | 'reenabled', id: string, env = 'default') => (r: SyncReport) =>
  r.environments.some((e) => e.name === env && e[list].includes(id));

describe('RepoWatcher', () => {
  it('a new workflow file is synced as a new version within 1 s', async () => {
    await startWatcher();
    const t0 = Date.now();
    h.writeFile('environments/default/workflows/fresh.workflow.yaml', workflowYaml('fresh'));
    await nextReport(has('added', 'fresh'));
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(1000);
    expect(h.station.definitions.definition('default', 'fresh')).toMatchObject({ status: 'active', active_version: 1 });
  });

  it('an edited file gets a new version; a deleted one is disabled', async () => {
    await startWatcher();
    h.writeFile('environments/default/workflows/two.workflow.yaml', workflowYaml('two'));
    await nextReport(has('added', 'two'));
    h.writeFile('environments/default/workflows/base.workflow.yaml', workflowYaml('base', { note: 'second' }));
    const r = await nextReport(has('updated', 'base'));
    expect(r.environments[0]?.versions).toEqual({ base: 2 });
    fs.rmSync(path.join(h.dir, 'environments/default/workflows/two.workflow.yaml'));
    await nextReport(has('disabled', 'two'));
    expect(h.station.definitions.definition('default', 'two')?.status).toBe('disabled');
  });

  it('syncs only what changed (incremental), and a burst of writes costs few syncs', async () => {
    await startWatcher(100);
    for (let i = 0; i < 20; i++) h.writeFile(`environments/default/workflows/w${i}.workflow.yaml`, workflowYaml(`w${i}`));
    await nextReport(() => h.station.definitions.listDefinitions({ environment: 'default' }).length === 21, 5000);
    expect(h.station.definitions.listDefinitions({ status: 'active' })).toHaveLength(21);
    expect(reports.length).toBeLessThanOrEqual(4);
    const runs = h.station.definitions.syncRuns(10).filter((r) => r.source === 'watch');
    expect(runs.length).toBe(reports.length);
  });

  it('a folder removed at once disables every workflow in it', async () => {
    await startWatcher();
    h.writeFile('environments/default/workflows/team/a.workflow.yaml', workflowYaml('team-a'));
    h.writeFile('environments/default/workflows/team/b.workflow.yaml', workflowYaml('team-b'));
    await nextReport(() => ['team-a', 'team-b'].every((id) => h.station.definitions.definition('default', id)?.status === 'active'));
    fs.rmSync(path.join(h.dir, 'environments/default/workflows/team'), { recursive: true });
    await nextReport(() => ['team-a', 'team-b'].every((id) => h.station.definitions.definition('default', id)?.status === 'disabled'));
    expect(h.station.definitions.definition('default', 'base')?.status).toBe('active');
  });

  it('an invalid edit keeps the last good version and is reported', async () => {
    await startWatcher();
    h.writeFile('environments/default/workflows/base.workflow.yaml', 'id: base\nversion: "1"\nname: x\nstates: [\n');
    const r = await nextReport((rep) => rep.environments.some((e) => e.invalid.length > 0));
    expect(r.environments[0]?.invalid[0]).toMatchObject({ id: 'base', activeVersion: 1 });
    expect(h.station.definitions.definition('default', 'base')).toMatchObject({ status: 'active', active_version: 1 });
  });

  it('a new environment folder and a bundle are picked up; a bundle edit updates the installing environment', async () => {
    await startWatcher();
    h.writeFile('environments/staging/workflows/stage.workflow.yaml', workflowYaml('stage'));
    await nextReport(has('added', 'stage', 'staging'));
    expect(h.station.definitions.definition('staging', 'stage')?.status).toBe('active');

    h.writeFile('bundles/mini/template.json', JSON.stringify({ name: 'mini', version: '1.0.0', description: 'test bundle' }));
    h.writeFile('bundles/mini/workflows/mini-a.workflow.yaml', workflowYaml('mini-a'));
    h.writeFile('environments/default/environment.yaml', 'bundles:\n  - name: mini\n');
    await nextReport(has('added', 'mini-a'));
    expect(h.station.definitions.definition('default', 'mini-a')).toMatchObject({ status: 'active', bundle: 'mini' });
    h.writeFile('bundles/mini/workflows/mini-a.workflow.yaml', workflowYaml('mini-a', { note: 'v2' }));
    await nextReport(has('updated', 'mini-a'));
    expect(h.station.definitions.definition('default', 'mini-a')?.active_version).toBe(2);
  });

  it('ignores files outside environments/ and bundles/ and editor swap files', async () => {
    await startWatcher(20);
    h.writeFile('README.md', 'hello');
    h.writeFile('notes/x.workflow.yaml', workflowYaml('elsewhere'));
    h.writeFile('environments/default/workflows/.base.workflow.yaml.swp', 'junk');
    // A real change afterwards: once it is synced, nothing before it triggered a sync of its own.
    h.writeFile('environments/default/workflows/after.workflow.yaml', workflowYaml('after'));
    await nextReport(has('added', 'after'));
    expect(reports).toHaveLength(1);
    expect(h.station.definitions.definition('default', 'elsewhere')).toBeUndefined();
  });

  it('refuses a debounce above 300 ms', () => {
    expect(() => new RepoWatcher({ station: h.station, debounceMs: 301 })).toThrow(/between 0 and 300 ms/);
  });

  it('stops watching on stop()', async () => {
    const w = await startWatcher(20);
    await w.stop();
    h.writeFile('environments/default/workflows/late.workflow.yaml', workflowYaml('late'));
    // Prove time passed for a watcher to have reacted: a second watcher started now sees a later change.
    watcher = undefined;
    await startWatcher(20);
    h.writeFile('environments/default/workflows/later.workflow.yaml', workflowYaml('later'));
    const r = await nextReport(has('added', 'later'));
    expect(r).toBeDefined();
    expect(reports.filter((rep) => has('added', 'late')(rep) && !has('added', 'later')(rep))).toHaveLength(0);
    expect(errors).toEqual([]);
  });
});
