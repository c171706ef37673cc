import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureBuilt, stn, stnJson } from '../helpers/cli.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { workflowPath, workflowYaml } from '../helpers/workflow.js';

let repo: GitRepo;
let db: string;

beforeAll(() => {
  ensureBuilt();
});

function freshRepo(): void {
  repo = createGitRepo('stn-e2e-');
  repo.write('.gitignore', '.station/\n');
  db = path.join(repo.dir, '.station', 'station.db');
}

/** Most tests change the repository: each gets its own. */
function perTestRepo(): void {
  beforeEach(freshRepo);
  afterEach(() => repo.cleanup());
}

/** stn with --repo and --db pointing at the test repository, run from inside it. */
const run = (...args: string[]) => stn(['--repo', repo.dir, '--db', db, ...args], repo.dir);
const runJson = <T>(...args: string[]) => stnJson<T>(['--repo', repo.dir, '--db', db, '--json', ...args], repo.dir);

interface DiagnosticJson {
  line: number;
  col: number;
  code: string;
  message: string;
}
interface ValidateJson {
  files: Array<{ path: string; id?: string | null; valid: boolean; errors: DiagnosticJson[]; warnings: DiagnosticJson[]; notes: DiagnosticJson[] }>;
}
interface SyncEnvJson {
  name: string;
  added: string[];
  updated: string[];
  disabled: string[];
  reenabled: string[];
  unchanged: string[];
  invalid: Array<{ path: string; id: string | null; errors: DiagnosticJson[] }>;
  error?: { code: string; message: string } | null;
}
interface SyncJson {
  commit: string | null;
  dryRun: boolean;
  environments: SyncEnvJson[];
}
interface ListRow {
  environment: string;
  id: string;
  status: string;
  version: number | null;
  label: string | null;
  commit: string | null;
  path: string;
  error: string | null;
}

function expectDiagnosticShape(d: DiagnosticJson): void {
  expect(Object.keys(d).sort()).toEqual(['code', 'col', 'line', 'message']);
  expect(d.line).toBeGreaterThanOrEqual(1);
  expect(d.col).toBeGreaterThanOrEqual(1);
  expect(d.code).toMatch(/^STN_[EWN]_[A-Z_]+$/);
  expect(typeof d.message).toBe('string');
}

/** Exactly `required`, plus any of `optional`. */
function expectKeys(obj: object, required: string[], optional: string[] = []): void {
  const keys = Object.keys(obj);
  for (const k of required) expect(keys).toContain(k);
  for (const k of keys) expect([...required, ...optional]).toContain(k);
}

const BAD = workflowPath('a', 'bad');
/** Valid YAML, but an unknown key at line 6, column 5. */
const BAD_SCHEMA = workflowYaml('bad').replace('    type: operation', '    colour: blue\n    type: operation');

/** A valid file with one unreachable state (a warning) and two Station spellings (notes). */
const WITH_NOTES = [
  'id: noted',
  'version: "1.0"',
  'name: Noted',
  'states:',
  '  - id: first',
  '    type: operation',
  '    action: noop',
  '    transition: second',
  '  - name: second',
  '    type: operation',
  '    action: noop',
  '    end: true',
  '  - name: orphan',
  '    type: operation',
  '    action: noop',
  '    end: true',
  '',
].join('\n');

describe('stn validate', () => {
  perTestRepo();

  it('prints the JSON shape and exits 0 when every file is valid', () => {
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello'));
    repo.write(workflowPath('a', 'noted'), WITH_NOTES);
    const { status, json } = runJson<ValidateJson>('validate');
    expect(status).toBe(0);
    expect(Object.keys(json)).toEqual(['files']);
    expect(json.files.map((f) => [f.path, f.valid])).toEqual([
      [workflowPath('a', 'hello'), true],
      [workflowPath('a', 'noted'), true],
    ]);
    for (const f of json.files) {
      expectKeys(f, ['path', 'valid', 'errors', 'warnings', 'notes'], ['id']);
      for (const d of [...f.errors, ...f.warnings, ...f.notes]) expectDiagnosticShape(d);
    }
    const noted = json.files[1];
    expect(noted?.errors).toEqual([]);
    expect(noted?.warnings).toEqual([expect.objectContaining({ code: 'STN_W_UNREACHABLE_STATE', line: 13 })]);
    expect(noted?.notes.map((n) => [n.code, n.line])).toEqual([
      ['STN_N_NORMALIZED', 5],
      ['STN_N_NORMALIZED', 8],
    ]);
    // No database is involved.
    expect(fs.existsSync(path.join(repo.dir, '.station'))).toBe(false);
  });

  it('exits 1 with errors at line and column when a file is invalid', () => {
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello'));
    repo.write(BAD, BAD_SCHEMA);
    const { status, json } = runJson<ValidateJson>('validate');
    expect(status).toBe(1);
    const bad = json.files.find((f) => f.path === BAD);
    expect(bad?.valid).toBe(false);
    expect(bad?.errors).toEqual([expect.objectContaining({ code: 'STN_E_SCHEMA_UNKNOWN_FIELD', line: 6, col: 5 })]);
    for (const d of bad?.errors ?? []) expectDiagnosticShape(d);
    expect(json.files.find((f) => f.path === workflowPath('a', 'hello'))?.valid).toBe(true);
  });

  it('prints file:line:col in its human output', () => {
    repo.write(BAD, BAD_SCHEMA);
    repo.write(workflowPath('a', 'noted'), WITH_NOTES);
    const r = run('validate');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`${BAD}:6:5: error STN_E_SCHEMA_UNKNOWN_FIELD`);
    expect(r.stdout).toContain(`${workflowPath('a', 'noted')}:13:`);
    expect(r.stdout).toMatch(/2 files: 1 valid, 1 invalid/);
  });

  it('validates only the paths it is given', () => {
    repo.write(BAD, BAD_SCHEMA);
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello'));
    const one = stnJson<ValidateJson>(['--json', 'validate', workflowPath('a', 'hello')], repo.dir);
    expect(one.status).toBe(0);
    expect(one.json.files.map((f) => f.path)).toEqual([workflowPath('a', 'hello')]);
    expect(stn(['validate', 'environments/nosuch'], repo.dir).status).toBe(2);
  });

  it('reports a YAML syntax error with its position', () => {
    repo.write(BAD, 'id: bad\nversion: "1.0"\nname: [unclosed\n');
    const { status, json } = runJson<ValidateJson>('validate');
    expect(status).toBe(1);
    const errors = json.files[0]?.errors ?? [];
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({ code: 'STN_E_YAML_SYNTAX' });
    expect(errors[0]?.line).toBeGreaterThanOrEqual(3);
  });
});

describe('stn sync', () => {
  perTestRepo();

  it('prints the JSON report shape and exits 0 when all files are valid', () => {
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello'));
    const sha = repo.commit('hello');
    const { status, json } = runJson<SyncJson>('sync');
    expect(status).toBe(0);
    expectKeys(json, ['commit', 'dryRun', 'environments'], ['syncRunId', 'git']);
    expect(json.commit).toBe(sha);
    // A checkout without a remote: git runs, nothing to compare with.
    expect((json as unknown as { git: unknown }).git).toEqual({ gitMissing: false, upstream: null, ahead: 0, behind: 0, diverged: false });
    expect(json.dryRun).toBe(false);
    expect(json.environments).toHaveLength(1);
    const env = json.environments[0] as SyncEnvJson;
    expectKeys(env, ['name', 'added', 'updated', 'disabled', 'reenabled', 'unchanged', 'invalid'], ['warnings', 'versions', 'held', 'superseded', 'variables', 'agents', 'error']);
    expect(env).toMatchObject({ name: 'a', added: ['hello'], updated: [], disabled: [], reenabled: [], unchanged: [], invalid: [] });
    expect(fs.existsSync(db)).toBe(true);
  });

  it('exits 1 when some files are invalid, and still syncs the valid ones', () => {
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello'));
    repo.write(BAD, BAD_SCHEMA);
    repo.commit('mixed');
    const { status, json } = runJson<SyncJson>('sync');
    expect(status).toBe(1);
    const env = json.environments[0] as SyncEnvJson;
    expect(env.added).toEqual(['hello']);
    expect(env.invalid).toHaveLength(1);
    const inv = env.invalid[0];
    expectKeys(inv ?? {}, ['path', 'id', 'errors'], ['activeVersion']);
    expect(inv).toMatchObject({ path: BAD, id: 'bad', errors: [{ code: 'STN_E_SCHEMA_UNKNOWN_FIELD', line: 6, col: 5 }] });
    for (const d of inv?.errors ?? []) expectDiagnosticShape(d);

    const list = runJson<ListRow[]>('workflows', 'list');
    expect(list.json.map((r) => [r.id, r.status, r.version])).toEqual([
      ['bad', 'invalid', null],
      ['hello', 'active', 1],
    ]);
  });

  it('exits 2 on usage errors: an unknown option, an unknown environment', () => {
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello'));
    const unknown = run('sync', '--no-such-option');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('--no-such-option');

    const nosuch = run('sync', '--env', 'nosuch');
    expect(nosuch.status).toBe(2);
    expect(nosuch.stderr).toContain('STN_E_NOT_FOUND');
    expect(nosuch.stderr).toContain('nosuch');

    const asJson = runJson<{ error: { code: string; message: string } }>('sync', '--env', 'nosuch');
    expect(asJson.status).toBe(2);
    expect(asJson.json.error.code).toBe('STN_E_NOT_FOUND');
  });

  it('exits 2 when a sync would disable every definition of an environment, and 0 with --allow-empty', () => {
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello'));
    repo.write(workflowPath('a', 'other'), workflowYaml('other'));
    repo.commit('two');
    expect(run('sync').status).toBe(0);
    repo.remove('environments/a/workflows');
    repo.commit('none');

    const refused = run('sync');
    expect(refused.status).toBe(2);
    expect(refused.stdout).toContain('STN_E_SYNC_EMPTY');
    expect(refused.stdout).toContain('--allow-empty');
    const refusedJson = runJson<SyncJson>('sync');
    expect(refusedJson.status).toBe(2);
    expect(refusedJson.json.environments[0]?.error?.code).toBe('STN_E_SYNC_EMPTY');
    expect(runJson<ListRow[]>('workflows', 'list').json.map((r) => r.status)).toEqual(['active', 'active']);

    const allowed = runJson<SyncJson>('sync', '--allow-empty');
    expect(allowed.status).toBe(0);
    expect(allowed.json.environments[0]?.disabled).toEqual(['hello', 'other']);
    expect(runJson<ListRow[]>('workflows', 'list').json.map((r) => r.status)).toEqual(['disabled', 'disabled']);
  });

  it('prints a human report of added, updated, re-enabled, disabled, unchanged and invalid with file:line:col', () => {
    for (const id of ['edited', 'gone', 'back', 'same']) repo.write(workflowPath('a', id), workflowYaml(id));
    repo.commit('seed');
    expect(run('sync').status).toBe(0);
    repo.remove(workflowPath('a', 'back'));
    repo.commit('remove back');
    expect(run('sync').status).toBe(0);

    repo.write(workflowPath('a', 'fresh'), workflowYaml('fresh'));
    repo.write(workflowPath('a', 'edited'), workflowYaml('edited', { note: 'second' }));
    repo.remove(workflowPath('a', 'gone'));
    repo.write(workflowPath('a', 'back'), workflowYaml('back'));
    repo.write(BAD, BAD_SCHEMA);
    const sha = repo.commit('everything at once');

    const r = run('sync');
    expect(r.status).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`Synced commit ${sha.slice(0, 10)}: 1 environment(s)`);
    expect(lines).toContain('environment a');
    expect(lines).toContain('  added       fresh (v1)');
    expect(lines).toContain('  updated     edited (v2)');
    expect(lines).toContain('  re-enabled  back');
    expect(lines).toContain('  disabled    gone');
    expect(lines).toContain('  unchanged   1 definition(s)');
    expect(lines).toContain(`  invalid     ${BAD} [bad]`);
    expect(r.stdout).toContain(`${BAD}:6:5: error STN_E_SCHEMA_UNKNOWN_FIELD`);
  });

  it('says which version stays active when a file breaks', () => {
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello'));
    repo.commit('v1');
    run('sync');
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello').replace('    type: operation', '    colour: blue\n    type: operation'));
    repo.commit('broken');
    const r = run('sync');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`  invalid     ${workflowPath('a', 'hello')} [hello] (v1 stays active)`);
    expect(r.stdout).toContain(`${workflowPath('a', 'hello')}:6:5:`);
  });

  it('--dry-run against a repository without a database creates no database', () => {
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello'));
    repo.commit('hello');
    const human = run('sync', '--dry-run');
    expect(human.status).toBe(0);
    expect(human.stdout).toContain('Dry run (nothing written)');
    expect(human.stdout).toContain('  added       hello (v1)');
    const { status, json } = runJson<SyncJson>('sync', '--dry-run');
    expect(status).toBe(0);
    expect(json.dryRun).toBe(true);
    expect(json.environments[0]?.added).toEqual(['hello']);
    expect(fs.existsSync(db)).toBe(false);
    expect(fs.existsSync(path.dirname(db))).toBe(false);

    // The default database location too.
    expect(stn(['sync', '--dry-run'], repo.dir).status).toBe(0);
    expect(fs.existsSync(path.join(repo.dir, '.station'))).toBe(false);
  });

  it('--dry-run against an existing database leaves it as it was', () => {
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello'));
    repo.commit('hello');
    run('sync');
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello', { note: 'second' }));
    const plan = runJson<SyncJson>('sync', '--dry-run');
    expect(plan.json.environments[0]?.updated).toEqual(['hello']);
    expect(runJson<ListRow[]>('workflows', 'list').json[0]?.version).toBe(1);
  });
});

describe('stn workflows', () => {
  // The commands here only read: one repository, synced once, serves them all.
  let v1: string;
  let v2: string;
  beforeAll(() => {
    freshRepo();
    ({ v1, v2 } = seed());
  });
  afterAll(() => repo.cleanup());

  /** hello v1 → v2 in a, hello v1 in b, other in a, a broken file in b. */
  function seed(): { v1: string; v2: string } {
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello', { label: '1.0' }));
    repo.write(workflowPath('a', 'other'), workflowYaml('other'));
    repo.write(workflowPath('b', 'hello'), workflowYaml('hello', { note: 'in b' }));
    repo.write(workflowPath('b', 'broken'), 'id: broken\nversion: "1.0"\nname: Broken\nstates: []\n');
    const v1 = repo.commit('v1');
    expect(run('sync').status).toBe(1);
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello', { label: '1.1', note: 'second' }));
    const v2 = repo.commit('v2');
    expect(run('sync').status).toBe(1);
    return { v1, v2 };
  }

  it('list --json has one row per definition with its status, version, label, commit, path and error', () => {
    const { status, json } = runJson<ListRow[]>('workflows', 'list');
    expect(status).toBe(0);
    for (const row of json) expectKeys(row, ['environment', 'id', 'status', 'version', 'label', 'commit', 'path', 'error'], ['name', 'bundle']);
    expect(json.map((r) => [r.environment, r.id, r.status, r.version, r.label, r.commit, r.path])).toEqual([
      ['a', 'hello', 'active', 2, '1.1', v2, workflowPath('a', 'hello')],
      ['a', 'other', 'active', 1, '1.0', v1, workflowPath('a', 'other')],
      ['b', 'broken', 'invalid', null, null, null, workflowPath('b', 'broken')],
      ['b', 'hello', 'active', 1, '1.0', v1, workflowPath('b', 'hello')],
    ]);
    expect(json.filter((r) => r.error !== null).map((r) => r.id)).toEqual(['broken']);
    expect(json[2]?.error).toMatch(new RegExp(`^${workflowPath('b', 'broken').replace(/\./g, '\\.')}:4:\\d+: STN_E_`));
  });

  it('list filters by --status and --env', () => {
    const invalid = runJson<ListRow[]>('workflows', 'list', '--status', 'invalid');
    expect(invalid.json.map((r) => `${r.environment}/${r.id}`)).toEqual(['b/broken']);
    const active = runJson<ListRow[]>('workflows', 'list', '--status', 'active');
    expect(active.json.map((r) => `${r.environment}/${r.id}`)).toEqual(['a/hello', 'a/other', 'b/hello']);
    const inB = runJson<ListRow[]>('workflows', 'list', '--env', 'b');
    expect(inB.json.map((r) => r.id)).toEqual(['broken', 'hello']);
    const both = runJson<ListRow[]>('workflows', 'list', '--env', 'a', '--status', 'disabled');
    expect(both.json).toEqual([]);
    expect(run('workflows', 'list', '--status', 'bogus').status).toBe(2);
  });

  it('list prints a table, with the error of a broken file', () => {
    const r = run('workflows', 'list');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^ENV\s+ID\s+STATUS\s+VERSION\s+LABEL\s+COMMIT\s+PATH$/);
    expect(lines.some((l) => /^a\s+hello\s+active\s+v2\s+1\.1\s/.test(l))).toBe(true);
    expect(r.stdout).toContain(`b/broken: ${workflowPath('b', 'broken')}:4:`);
  });

  it('show prints the active version, --version an older one, --json the details', () => {
    const active = run('workflows', 'show', 'hello', '--env', 'a');
    expect(active.status).toBe(0);
    expect(active.stdout).toContain('a/hello  active  active v2  (latest v2)');
    expect(active.stdout).toContain(`version 2: label "1.1", commit ${v2.slice(0, 10)}`);
    expect(active.stdout).toContain('note: "second"');

    const old = run('workflows', 'show', 'hello', '--env', 'a', '--version', '1');
    expect(old.status).toBe(0);
    expect(old.stdout).toContain(`version 1: label "1.0", commit ${v1.slice(0, 10)}`);
    expect(old.stdout).toContain('note: "first"');

    const { status, json } = runJson<{
      environment: string;
      id: string;
      status: string;
      activeVersion: number;
      version: { version: number; label: string; commit: string; dirty: boolean; untracked: boolean; spec: unknown };
    }>('workflows', 'show', 'hello', '--env', 'a', '--version', '1');
    expect(status).toBe(0);
    expect(json).toMatchObject({
      environment: 'a',
      id: 'hello',
      status: 'active',
      activeVersion: 2,
      version: { version: 1, label: '1.0', commit: v1, dirty: false, untracked: false, spec: { id: 'hello', states: [{ input: { note: 'first' } }] } },
    });

    expect(run('workflows', 'show', 'hello', '--env', 'a', '--version', '9').status).toBe(2);
    expect(run('workflows', 'show', 'nosuch').status).toBe(2);
  });

  it('show without --env exits 2 and asks for --env when the id is in two environments', () => {
    const r = run('workflows', 'show', 'hello');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--env');
    expect(r.stderr).toContain('a, b');
    expect(r.stdout).toBe('');
    // An id in one environment needs no --env.
    expect(run('workflows', 'show', 'other').status).toBe(0);
  });

  it('show of a broken definition prints its error with file:line:col', () => {
    const r = run('workflows', 'show', 'broken');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('b/broken  invalid');
    expect(r.stdout).toMatch(new RegExp(`error: ${workflowPath('b', 'broken').replace(/\./g, '\\.')}:4:\\d+: STN_E_`));
  });

  it('versions lists every version, marking the active one', () => {
    const r = run('workflows', 'versions', 'hello', '--env', 'a');
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(new RegExp(`^v1\\s+1\\.0\\s+${v1.slice(0, 10)}\\s+clean\\s`));
    expect(lines[2]).toMatch(new RegExp(`^v2\\s+1\\.1\\s+${v2.slice(0, 10)}\\s+clean\\s.*active$`));

    const json = runJson<Array<{ version: number; label: string; active: boolean; commit: string }>>('workflows', 'versions', 'hello', '--env', 'a');
    expect(json.json.map((v) => [v.version, v.label, v.active, v.commit])).toEqual([
      [1, '1.0', false, v1],
      [2, '1.1', true, v2],
    ]);
    expect(run('workflows', 'versions', 'hello').status).toBe(2);
  });

  it('diff shows the changed lines with - and +', () => {
    const r = run('workflows', 'diff', 'hello', '1', '2', '--env', 'a');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('--- hello v1');
    expect(lines[1]).toBe('+++ hello v2');
    expect(lines.filter((l) => l.startsWith('-') && !l.startsWith('---'))).toEqual(['-version: "1.0"', '-      note: first']);
    expect(lines.filter((l) => l.startsWith('+') && !l.startsWith('+++'))).toEqual(['+version: "1.1"', '+      note: second']);

    const same = run('workflows', 'diff', 'hello', '2', 'v2', '--env', 'a');
    expect(same.stdout.trim()).toBe('v2 and v2 are identical');
    expect(run('workflows', 'diff', 'hello', '1', '3', '--env', 'a').status).toBe(2);
  });
});

describe('stn workflows without a database', () => {
  perTestRepo();

  it('exits 2 and creates no database', () => {
    repo.write(workflowPath('a', 'hello'), workflowYaml('hello'));
    for (const args of [['list'], ['show', 'hello'], ['versions', 'hello'], ['diff', 'hello', '1', '2']]) {
      const r = run('workflows', ...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('STN_E_NOT_FOUND');
    }
    expect(fs.existsSync(path.dirname(db))).toBe(false);
  });
});
