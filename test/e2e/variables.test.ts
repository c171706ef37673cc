import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureBuilt, stn, stnJson } from '../helpers/cli.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';

let repo: GitRepo;
let db: string;

beforeAll(() => {
  ensureBuilt();
});

beforeEach(() => {
  repo = createGitRepo('stn-e2e-vars-');
  repo.write('.gitignore', '.station/\n');
  db = path.join(repo.dir, '.station', 'station.db');
});

afterEach(() => repo.cleanup());

const run = (...args: string[]) => stn(['--repo', repo.dir, '--db', db, ...args], repo.dir);
const runJson = <T>(...args: string[]) => stnJson<T>(['--repo', repo.dir, '--db', db, '--json', ...args], repo.dir);

const SHOW = [
  'id: show',
  'version: "1"',
  'name: Show',
  'states:',
  '  - name: only',
  '    type: operation',
  '    action: noop',
  '    input:',
  '      team: "{{ vars.team }}"',
  '      threshold: "{{ vars.threshold }}"',
  '    end: true',
  '',
].join('\n');

interface RunJson {
  status: string;
  output: { steps: { only: { team: string; threshold: number } } };
}

/** Runs `show` to its end with the local CLI and returns what its step saw. */
function teamSeen(): { team: string; threshold: number } {
  const r = runJson<RunJson>('run', 'show');
  expect(r.json.status).toBe('COMPLETED');
  return r.json.output.steps.only;
}

describe('stn: run variables come from the last sync, not the working tree', () => {
  it('an unsynced edit changes no run; stn sync shows the change; stn workflows show lists what a version runs with', () => {
    repo.write('environments/prod/workflows/show.workflow.yaml', SHOW);
    repo.write('environments/prod/environment.yaml', 'vars: {team: sre, threshold: 90}\n');
    repo.commit('seed');
    const first = run('sync');
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('variables   revision 1: 2 change(s)');
    expect(first.stdout).toContain('+ team = "sre"');
    expect(teamSeen()).toEqual({ team: 'sre', threshold: 90 });

    repo.write('environments/prod/environment.yaml', 'vars: {team: ops, threshold: 90}\n');
    expect(teamSeen()).toEqual({ team: 'sre', threshold: 90 });
    const shownBefore = run('workflows', 'show', 'show');
    expect(shownBefore.stdout).toContain('variables: environment revision 1, commit');
    expect(shownBefore.stdout).toContain('team = "sre"  (environment vars)');

    const dry = run('sync', '--dry-run');
    expect(dry.stdout).toContain('~ team: "sre" -> "ops"');
    expect(teamSeen().team).toBe('sre');

    const second = run('sync');
    expect(second.status).toBe(0);
    expect(second.stdout).toMatch(/variables {3}revision 2: 1 change\(s\)\n {16}~ team: "sre" -> "ops"/);
    expect(teamSeen()).toEqual({ team: 'ops', threshold: 90 });

    const shown = runJson<{ variables: { revision: number; dirty: boolean; vars: Record<string, unknown>; sources: Record<string, string> } }>('workflows', 'show', 'show');
    expect(shown.json.variables).toMatchObject({ revision: 2, dirty: true, vars: { team: 'ops', threshold: 90 }, sources: { team: 'environment vars' } });
    const synced = runJson<{ environments: Array<{ variables: { revision: number; changes: unknown[] } }> }>('sync');
    expect(synced.json.environments[0]?.variables).toEqual({ revision: 2, changed: false, changes: [] });
  });
});
