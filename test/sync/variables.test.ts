import path from 'node:path';
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStation, type Station } from '../../src/context.js';
import type { EnvironmentReport, SyncOptions } from '../../src/sync/sync.js';
import { pinnedVariables } from '../../src/sync/variables.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { workflowPath, workflowYaml } from '../helpers/workflow.js';

let repo: GitRepo;
let station: Station;

const DB = (dir: string) => path.join(dir, '.station', 'station.db');
const open = (dir: string) => openStation({ repo: dir, db: DB(dir), logLevel: 'silent' }, {});

beforeEach(() => {
  repo = createGitRepo();
  repo.write('.gitignore', '.station/\n');
  station = open(repo.dir);
});

afterEach(async () => {
  await station.close();
  repo.cleanup();
});

const MANIFEST = {
  name: 'kit',
  version: '1.0.0',
  variables: {
    threshold: { type: 'integer', default: 90 },
    channel: { type: 'string', default: '#default' },
    region: { type: 'string' },
    pagerToken: { type: 'string', secret: true },
  },
};

/** Environment a: own workflow `own`, bundle kit (workflow `kit-check`) with defaults, env vars and entry vars. */
function seedFiles(envYaml: string): void {
  repo.write('bundles/kit/template.json', JSON.stringify(MANIFEST));
  repo.write('bundles/kit/workflows/kit-check.workflow.yaml', workflowYaml('kit-check'));
  repo.write(workflowPath('a', 'own'), workflowYaml('own'));
  repo.write('environments/a/environment.yaml', envYaml);
}

const ENV_V1 = [
  'vars: {team: sre, region: eu-west-1, threshold: 50}',
  'bundles:',
  '  - name: kit',
  '    version: "1.0.0"',
  '    vars: {threshold: 85, pagerToken: PAGERDUTY_PROD}',
  '',
].join('\n');

async function syncA(options: SyncOptions = {}): Promise<EnvironmentReport> {
  const report = await station.syncer.sync(options);
  const a = report.environments.find((e) => e.name === 'a');
  if (!a) throw new Error('no environment a in the report');
  return a;
}

/** Starts a run and returns the vars it was created with and the revision recorded on it. */
function startVars(workflowId: string): { id: string; vars: unknown; revision: unknown } {
  const { run } = station.runs.start({ workflowId, environment: 'a' });
  const row = station.db.prepare('SELECT vars, env_revision FROM workflow_runs WHERE id = ?').get(run.id) as { vars: string; env_revision: number | null };
  return { id: run.id, vars: JSON.parse(row.vars) as unknown, revision: row.env_revision };
}

describe('run variables pinned at sync', () => {
  it('resolves each scope by the precedence rule (entry > environment > default) and records the commit', async () => {
    seedFiles(ENV_V1);
    const sha = repo.commit('seed');
    const a = await syncA();
    expect(a.variables).toMatchObject({ revision: 1, changed: true });
    expect(a.variables?.changes).toContainEqual({ scope: null, name: 'team', change: 'added', to: 'sre' });
    expect(a.variables?.changes).toContainEqual({ scope: 'kit', name: 'threshold', change: 'added', to: 85 });

    expect(startVars('own')).toMatchObject({ vars: { team: 'sre', region: 'eu-west-1', threshold: 50 }, revision: 1 });
    expect(startVars('kit-check')).toMatchObject({
      vars: { team: 'sre', region: 'eu-west-1', threshold: 85, channel: '#default', pagerToken: 'PAGERDUTY_PROD' },
      revision: 1,
    });
    const row = station.db.prepare('SELECT git_commit, git_dirty, sync_run_id FROM environment_revisions WHERE environment = ?').get('a');
    expect(row).toEqual({ git_commit: sha, git_dirty: 0, sync_run_id: expect.any(Number) as number });
  });

  it('an edit to environment.yaml changes no run until it is synced; then the change is reported and pinned', async () => {
    seedFiles(ENV_V1);
    repo.commit('seed');
    await syncA();
    const before = startVars('own');

    repo.write('environments/a/environment.yaml', ENV_V1.replace('team: sre', 'team: ops'));
    fs.writeFileSync(path.join(repo.dir, 'bundles/kit/template.json'), JSON.stringify({ ...MANIFEST, variables: { ...MANIFEST.variables, channel: { type: 'string', default: '#ops' } } }));
    // Not synced: new runs still start with what was synced.
    expect(startVars('own')).toMatchObject({ vars: { team: 'sre' }, revision: 1 });
    expect(startVars('kit-check')).toMatchObject({ vars: { team: 'sre', channel: '#default' }, revision: 1 });

    const dry = await syncA({ dryRun: true });
    expect(dry.variables).toMatchObject({ revision: 2, changed: true });
    expect(startVars('own').revision).toBe(1);

    const a = await syncA();
    expect(a.variables?.revision).toBe(2);
    expect(a.variables?.changes).toEqual([
      { scope: null, name: 'team', change: 'changed', from: 'sre', to: 'ops' },
      // team's change reached kit's workflows too, but is listed once: bundle scopes list what differs.
      { scope: 'kit', name: 'channel', change: 'changed', from: '#default', to: '#ops' },
    ]);
    expect(startVars('own')).toMatchObject({ vars: { team: 'ops' }, revision: 2 });
    expect(startVars('kit-check')).toMatchObject({ vars: { team: 'ops', channel: '#ops' }, revision: 2 });
    // Uncommitted edits are recorded as such.
    expect(station.db.prepare('SELECT git_dirty FROM environment_revisions WHERE environment = ? AND revision = 2').pluck().get('a')).toBe(1);
    // A run started before keeps the vars it started with.
    const kept = station.db.prepare('SELECT vars, env_revision FROM workflow_runs WHERE id = ?').get(before.id) as { vars: string; env_revision: number };
    expect(JSON.parse(kept.vars)).toMatchObject({ team: 'sre' });
    expect(kept.env_revision).toBe(1);

    // An unchanged sync makes no revision.
    const again = await syncA();
    expect(again.variables).toEqual({ revision: 2, changed: false, changes: [] });
  });

  it('never stores a secret variable whose value is not a secret name, and never repeats the value', async () => {
    const pasted = 'xoxb-1234-abcd-PASTED-SECRET';
    seedFiles(ENV_V1.replace('pagerToken: PAGERDUTY_PROD', `pagerToken: "${pasted}"`));
    repo.commit('pasted');
    const a = await syncA();
    const warnings = a.warnings.flatMap((w) => w.warnings.map((d) => ({ path: w.path, ...d })));
    expect(warnings).toContainEqual(expect.objectContaining({ code: 'STN_W_VARIABLE', path: 'environments/a/environment.yaml' }));
    expect(JSON.stringify(a)).not.toContain(pasted);
    expect(startVars('kit-check').vars).not.toHaveProperty('pagerToken');
    await station.close();
    station = open(repo.dir);
    const onDisk = fs.readFileSync(DB(repo.dir)).toString('latin1') + (fs.existsSync(`${DB(repo.dir)}-wal`) ? fs.readFileSync(`${DB(repo.dir)}-wal`).toString('latin1') : '');
    expect(onDisk).not.toContain(pasted);
  });

  it('withholds a pasted secret that came from the environment vars from every scope', async () => {
    const pasted = 'xoxb-5678-PASTED-IN-ENV';
    seedFiles(`vars: {team: sre, pagerToken: "${pasted}"}\nbundles:\n  - name: kit\n    vars: {region: r1}\n`);
    repo.commit('pasted in env vars');
    const a = await syncA();
    expect(JSON.stringify(a)).not.toContain(pasted);
    expect(startVars('own').vars).toEqual({ team: 'sre' });
    expect(startVars('kit-check').vars).not.toHaveProperty('pagerToken');
    expect(JSON.stringify(station.db.prepare('SELECT scopes FROM environment_revisions').all())).not.toContain(pasted);
  });

  it('shows a variable whose name looks like a credential as *** in reports (runs still get the value)', async () => {
    seedFiles('vars: {team: sre, apiToken: "tok-1234567890", authEnabled: "yes"}\n');
    repo.commit('credential-looking');
    const a = await syncA();
    expect(a.variables?.changes).toContainEqual({ scope: null, name: 'apiToken', change: 'added', to: '***' });
    expect(a.variables?.changes).toContainEqual({ scope: null, name: 'authEnabled', change: 'added', to: 'yes' });
    expect(JSON.stringify(a)).not.toContain('tok-1234567890');
    expect(pinnedVariables(station.db, 'a', null)?.vars).toMatchObject({ apiToken: '***', team: 'sre' });
    expect(startVars('own').vars).toMatchObject({ apiToken: 'tok-1234567890' });

    repo.write('environments/a/environment.yaml', 'vars: {team: sre, apiToken: "tok-0987654321", authEnabled: "yes"}\n');
    const changed = await syncA();
    expect(changed.variables?.changes).toEqual([{ scope: null, name: 'apiToken', change: 'changed', from: '***', to: '***' }]);
  });

  it('leaves the variables of an environment that is not synced (invalid environment.yaml) as they were', async () => {
    seedFiles(ENV_V1);
    repo.commit('seed');
    await syncA();
    repo.write('environments/a/environment.yaml', 'vars: [not, a, map]\n');
    const a = await syncA();
    expect(a.error?.code).toBe('STN_E_ENVIRONMENT_FILE');
    expect(a.variables).toBeUndefined();
    expect(startVars('own')).toMatchObject({ vars: { team: 'sre' }, revision: 1 });
  });
});

describe('a database from before variables were pinned', () => {
  it('keeps the vars of runs already started, lends the newest run\'s vars until the first sync, then pins', async () => {
    seedFiles(ENV_V1);
    repo.commit('seed');
    await syncA();
    const old = startVars('own');
    // Back to the schema of migration 8, as an earlier release left it: no revisions, no env_revision on runs.
    station.db.exec('DROP TABLE workflow_run_agents; DROP TABLE agent_definition_versions; DROP TABLE agent_definitions; DROP TABLE approval_outbox; DROP TABLE environment_revisions; ALTER TABLE workflow_runs DROP COLUMN env_revision; PRAGMA user_version = 8;');
    await station.close();

    repo.write('environments/a/environment.yaml', ENV_V1.replace('team: sre', 'team: ops'));
    station = open(repo.dir); // migrates to 9
    expect(station.db.pragma('user_version', { simple: true })).toBeGreaterThanOrEqual(9);
    const kept = station.db.prepare('SELECT vars, env_revision FROM workflow_runs WHERE id = ?').get(old.id) as { vars: string; env_revision: null };
    expect(kept).toEqual({ vars: JSON.stringify(old.vars), env_revision: null });

    // Before the first sync: the newest run of the workflow lends its vars (never the working tree's).
    expect(startVars('own')).toEqual({ id: expect.any(String) as string, vars: old.vars, revision: null });
    // A workflow that never ran starts with none.
    expect(startVars('kit-check')).toMatchObject({ vars: {}, revision: null });

    const a = await syncA();
    expect(a.variables?.revision).toBe(1);
    expect(startVars('own')).toMatchObject({ vars: { team: 'ops' }, revision: 1 });
  });
});
