import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, STN } from '../helpers/cli.js';
import { spawnServe, until, type ServeProcess } from '../helpers/daemon-proc.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { defaultDb, readStore } from '../helpers/station-db.js';
import { workflowPath, workflowYaml } from '../helpers/workflow.js';

let repo: GitRepo | undefined;
const daemons: ServeProcess[] = [];
const children: ChildProcess[] = [];

beforeAll(() => ensureBuilt());
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
  repo?.cleanup();
  repo = undefined;
});

function freshRepo(files: Record<string, string>): GitRepo {
  repo = createGitRepo('stn-rel-defs-');
  repo.write('.gitignore', '.station/\n');
  for (const [f, c] of Object.entries(files)) repo.write(f, c);
  repo.commit('fixtures');
  return repo;
}

async function serve(r: GitRepo): Promise<ServeProcess> {
  const d = await spawnServe(r.dir, [], { STN_LOG_LEVEL: 'warn' });
  daemons.push(d);
  return d;
}

async function getJson<T>(d: ServeProcess, url: string): Promise<{ status: number; json: T }> {
  const res = await fetch(`${d.url}${url}`);
  return { status: res.status, json: (await res.json()) as T };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const noteOf = (raw: string) => Number(/note: "(\d+)"/.exec(raw)?.[1]);

/** `stn sync` over and over, in the background, until stopped: a third writer racing the two daemons. */
function syncLoop(dir: string): { stop(): Promise<number> } {
  let stopped = false;
  let runs = 0;
  const loop = (async () => {
    while (!stopped) {
      const child = spawn(process.execPath, [STN, '--repo', dir, 'sync', '--json'], { stdio: 'ignore' });
      children.push(child);
      await new Promise((r) => child.once('exit', r));
      children.splice(children.indexOf(child), 1);
      runs++;
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return runs;
    },
  };
}

interface SyncStatus {
  environments: Array<{ name: string; lastSyncStatus: string | null; lastSyncError: string | null }>;
}

describe('definitions under racing syncs, spread-out deletions and duplicate ids', () => {
  it('two daemons and two stn sync loops on one database never make older content the active version', async () => {
    // Four files, each rewritten 150 times a few ms apart (sizes varying): four syncers read them at different moments.
    const ids = ['race-a', 'race-b', 'race-c', 'race-d'];
    const files = Object.fromEntries(ids.map((id) => [workflowPath('default', id), workflowYaml(id, { note: '0' })]));
    const r = freshRepo({ ...files, [workflowPath('default', 'steady')]: workflowYaml('steady') });
    const db = defaultDb(r.dir);
    await Promise.all([serve(r), serve(r)]);
    const loops = [syncLoop(r.dir), syncLoop(r.dir)];
    const WRITES = 150;
    for (let n = 1; n <= WRITES; n++) {
      for (const id of ids) r.write(workflowPath('default', id), workflowYaml(id, { note: String(n) }));
      await sleep(n % 10 === 0 ? 40 : Math.floor(Math.random() * 6));
    }
    const activeNote = (id: string) =>
      readStore(db, (s) => {
        const d = s.definition('default', id);
        const v = d?.active_version ? s.version('default', id, d.active_version) : undefined;
        return v ? noteOf(v.raw) : undefined;
      });
    await until('the last writes to become the active versions', async () => (ids.every((id) => activeNote(id) === WRITES) ? true : undefined), 30_000, 100);
    const cliRuns = await Promise.all(loops.map((l) => l.stop()));
    expect(Math.min(...cliRuns)).toBeGreaterThan(0);
    // Nothing settles later: a quiet moment does not bring an older version back.
    await sleep(1000);

    for (const id of ids) {
      const notes = readStore(db, (s) => s.versions('default', id).map((v) => noteOf(s.version('default', id, v.version)?.raw ?? '')));
      // Every version holds newer content than the one before it, and the active one is what the file holds.
      for (let i = 1; i < notes.length; i++) expect(notes[i], `${id} v${i + 1} after v${i}: ${notes.join(',')}`).toBeGreaterThan(notes[i - 1] as number);
      expect(activeNote(id)).toBe(noteOf(r.read(workflowPath('default', id))));
      expect(readStore(db, (s) => s.definition('default', id))?.active_version).toBe(notes.length);
    }
  }, 120_000);

  it('a spread-out deletion of every file (200 files, 20 ms apart) is refused as a whole: nothing is disabled', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 200; i++) files[workflowPath('default', `wf-${String(i).padStart(3, '0')}`)] = workflowYaml(`wf-${i}`);
    const r = freshRepo(files);
    const db = defaultDb(r.dir);
    const d = await serve(r);
    const activeCount = () => readStore(db, (s) => s.listDefinitions({ environment: 'default', status: 'active' }).length);
    expect(activeCount()).toBe(200);

    // Watch the database while the files go: no definition may be disabled at any moment.
    let minActive = 200;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        minActive = Math.min(minActive, activeCount());
        await sleep(50);
      }
    })();
    for (const f of Object.keys(files)) {
      r.remove(f);
      await sleep(20);
    }
    const status = await until(
      'the environment to be refused',
      async () => {
        const s = await getJson<SyncStatus>(d, '/api/v1/sync/status');
        const env = s.json.environments.find((e) => e.name === 'default');
        return env?.lastSyncStatus === 'refused' ? env : undefined;
      },
      30_000,
      100,
    );
    watching = false;
    await watcher;
    expect(minActive).toBe(200);
    expect(activeCount()).toBe(200);
    expect(status.lastSyncError).toMatch(/refusing to disable all 200 definitions of environment "default"/);
    const ready = await getJson<{ status: string; reasons: string[] }>(d, '/readyz');
    expect(ready).toMatchObject({ status: 200, json: { status: 'degraded', reasons: ['sync_refused'] } });
    expect(d.logs().filter((l) => l.msg === 'empty sync refused').length).toBeGreaterThanOrEqual(1);

    // The files come back: ready again. Then a partial deletion, also spread out, disables exactly what went.
    r.git('checkout', '--', 'environments');
    await until('ready again', async () => ((await getJson<{ status: string }>(d, '/readyz')).json.status === 'ready' ? true : undefined), 30_000, 100);
    const gone = Object.keys(files).slice(0, 20);
    for (const f of gone) {
      r.remove(f);
      await sleep(20);
    }
    await until('the 20 deleted definitions to be disabled', async () => (activeCount() === 180 ? true : undefined), 30_000, 100);
    const disabled = readStore(db, (s) => s.listDefinitions({ environment: 'default', status: 'disabled' }).map((x) => x.path));
    expect(disabled.sort()).toEqual(gone.sort());
  }, 120_000);

  it('a new file declaring an existing id does not take over the live definition', async () => {
    const holder = workflowPath('default', 'live');
    const r = freshRepo({ [holder]: workflowYaml('shared', { note: 'live' }) });
    const db = defaultDb(r.dir);
    const d = await serve(r);
    // Sorts before the holder by path: "first by path" would have handed it the id.
    const newcomer = workflowPath('default', 'aaa-copy');
    r.write(newcomer, workflowYaml('shared', { note: 'copy' }));
    const row = await until(
      'the newcomer to be reported',
      async () => {
        const s = await getJson<{ syncs: Array<{ summary: { environments: Array<{ invalid: Array<{ path: string }> }> } | null }> }>(d, '/api/v1/sync/status');
        return s.json.syncs.some((x) => x.summary?.environments.some((e) => e.invalid.some((i) => i.path === newcomer))) ? true : undefined;
      },
      20_000,
      100,
    );
    expect(row).toBe(true);
    const def = readStore(db, (s) => s.definition('default', 'shared'));
    expect(def).toMatchObject({ status: 'active', active_version: 1, path: holder, error: null });
    expect(readStore(db, (s) => s.version('default', 'shared', 1)?.raw)).toContain('note: "live"');
    // Editing the holder still versions it; the copy stays the duplicate.
    r.write(holder, workflowYaml('shared', { note: 'live-2' }));
    await until('the holder to get v2', async () => (readStore(db, (s) => s.definition('default', 'shared'))?.active_version === 2 ? true : undefined), 20_000, 100);
    expect(readStore(db, (s) => s.version('default', 'shared', 2))).toMatchObject({ path: holder });
    expect(fs.existsSync(path.join(r.dir, newcomer))).toBe(true);
  }, 60_000);
});
