import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentVersionById, resolveAgent } from '../../src/agents/versions.js';
import { openStation, type Station } from '../../src/context.js';
import { AgentStore } from '../../src/store/agents.js';
import { syncExitCode, type EnvironmentReport, type SyncOptions } from '../../src/sync/sync.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';

let repo: GitRepo;
let station: Station;
let agents: AgentStore;

beforeEach(() => {
  repo = createGitRepo();
  repo.write('.gitignore', '.station/\n');
  station = openStation({ repo: repo.dir, db: path.join(repo.dir, '.station', 'station.db'), logLevel: 'silent' }, {});
  agents = new AgentStore(station.db);
});

afterEach(async () => {
  await station.close();
  repo.cleanup();
});

const TRIAGE = 'environments/a/agents/triage.prompt';
const agentText = (model: string, extra = '') => `---\nmodel: ${model}\ninput:\n  schema:\n    service: string\n${extra}---\n{{role "system"}}\nTriage {{service}}.\n`;

const workflow = (id: string, input: string) => `id: ${id}
version: "1"
name: ${id}
start: ask
states:
  - name: ask
    type: operation
    action: agent.run
    input: ${input}
    end: true
`;

async function syncA(options: SyncOptions = {}): Promise<EnvironmentReport> {
  const report = await station.syncer.sync(options);
  const a = report.environments.find((e) => e.name === 'a');
  if (!a) throw new Error('no environment a');
  return a;
}

describe('agent files sync like workflows', () => {
  it('adds, versions on change (not on formatting), keeps the last good version, disables and re-enables', async () => {
    repo.write(TRIAGE, agentText('fixture/one'));
    const sha = repo.commit('add triage');
    let a = await syncA();
    expect(a.agents).toMatchObject({ added: ['triage'], updated: [], invalid: [], versions: { triage: 1 } });
    expect(agents.agent('a', '', 'triage')).toMatchObject({ status: 'active', active_version: 1, path: TRIAGE, error: null });
    expect(agents.version('a', '', 'triage', 1)).toMatchObject({ git_commit: sha, git_dirty: 0, git_untracked: 0, raw: agentText('fixture/one') });
    const v1 = resolveAgent(agents, 'a', 'triage');
    expect(v1).toMatchObject({ version: 1, scope: '', spec: { name: 'triage', model: 'fixture/one' } });

    // Same data, other formatting: no new version.
    repo.write(TRIAGE, agentText('"fixture/one"'));
    a = await syncA();
    expect(a.agents).toMatchObject({ added: [], updated: [], unchanged: ['triage'] });

    // A real change, not committed: v2, dirty.
    repo.write(TRIAGE, agentText('fixture/two'));
    a = await syncA();
    expect(a.agents).toMatchObject({ updated: ['triage'], versions: { triage: 2 } });
    expect(agents.version('a', '', 'triage', 2)).toMatchObject({ git_dirty: 1, git_untracked: 0 });
    expect(resolveAgent(agents, 'a', 'triage')?.spec.model).toBe('fixture/two');

    // Broken: v2 stays active, the error is recorded with its position; the sync exits 1.
    repo.write(TRIAGE, '---\nmodel: x\nmodel: y\n---\nhi\n');
    const report = await station.syncer.sync();
    a = report.environments[0] as EnvironmentReport;
    expect(syncExitCode(report)).toBe(1);
    expect(a.agents?.invalid).toEqual([
      { path: TRIAGE, id: 'triage', activeVersion: 2, errors: [expect.objectContaining({ code: 'STN_E_YAML_DUPLICATE_KEY', line: 3, col: 1 })] },
    ]);
    expect(agents.agent('a', '', 'triage')).toMatchObject({ status: 'active', active_version: 2, error: expect.stringContaining('STN_E_YAML_DUPLICATE_KEY') });
    expect(resolveAgent(agents, 'a', 'triage')?.version).toBe(2);

    // Fixed: v3, the error cleared.
    repo.write(TRIAGE, agentText('fixture/three'));
    a = await syncA();
    expect(a.agents).toMatchObject({ updated: ['triage'], invalid: [], versions: { triage: 3 } });
    expect(agents.agent('a', '', 'triage')?.error).toBeNull();

    // Deleted: disabled, no longer resolvable; the pinned version still loads by id.
    const pinned = resolveAgent(agents, 'a', 'triage');
    repo.remove(TRIAGE);
    a = await syncA();
    expect(a.agents).toMatchObject({ disabled: ['triage'] });
    expect(agents.agent('a', '', 'triage')).toMatchObject({ status: 'disabled' });
    expect(resolveAgent(agents, 'a', 'triage')).toBeUndefined();
    expect(agentVersionById(agents, pinned?.id ?? -1)).toMatchObject({ version: 3, spec: { model: 'fixture/three' } });

    // Back with the same content: re-enabled without a new version.
    repo.write(TRIAGE, agentText('fixture/three'));
    a = await syncA();
    expect(a.agents).toMatchObject({ reenabled: ['triage'], versions: {} });
    expect(agents.agent('a', '', 'triage')).toMatchObject({ status: 'active', active_version: 3, disabled_at: null });
    expect(agents.versions('a', '', 'triage').map((v) => v.version)).toEqual([1, 2, 3]);
  });

  it('lists a new file that never parsed as invalid, with nothing to run', async () => {
    repo.write('environments/a/agents/bad.prompt', '---\nmodel: x\nbogus: 1\n---\nhi\n');
    repo.write(TRIAGE, agentText('m'));
    repo.commit();
    const a = await syncA();
    expect(a.agents?.invalid).toEqual([
      { path: 'environments/a/agents/bad.prompt', id: 'bad', activeVersion: null, errors: [expect.objectContaining({ code: 'STN_E_SCHEMA_UNKNOWN_FIELD', line: 3, col: 1 })] },
    ]);
    expect(agents.agent('a', '', 'bad')).toMatchObject({ status: 'invalid', active_version: null });
    expect(resolveAgent(agents, 'a', 'bad')).toBeUndefined();
  });

  it('plans without writing on --dry-run', async () => {
    repo.write(TRIAGE, agentText('m'));
    const a = await syncA({ dryRun: true });
    expect(a.agents).toMatchObject({ added: ['triage'], versions: { triage: 1 } });
    expect(agents.agent('a', '', 'triage')).toBeUndefined();
  });

  it('keeps environments apart, and resolves a bundle workflow to its bundle agent first', async () => {
    repo.write(TRIAGE, agentText('env-a'));
    repo.write('environments/b/agents/triage.prompt', agentText('env-b'));
    repo.write('environments/b/environment.yaml', 'bundles:\n  - name: ops\n');
    repo.write('bundles/ops/template.json', JSON.stringify({ name: 'ops', version: '1.0.0', description: 'ops' }));
    repo.write('bundles/ops/agents/triage.prompt', agentText('bundle-ops'));
    repo.write('bundles/ops/agents/helper.prompt', 'Help with {{userInput}}');
    repo.commit();
    const report = await station.syncer.sync();
    const b = report.environments.find((e) => e.name === 'b');
    expect(b?.error).toBeUndefined();
    expect(b?.agents?.added).toEqual(['ops/helper', 'ops/triage', 'triage']);
    expect(resolveAgent(agents, 'a', 'triage')?.spec.model).toBe('env-a');
    expect(resolveAgent(agents, 'b', 'triage')?.spec.model).toBe('env-b');
    expect(resolveAgent(agents, 'b', 'triage', 'ops')?.spec.model).toBe('bundle-ops');
    expect(resolveAgent(agents, 'b', 'helper', 'ops')?.scope).toBe('ops');
    expect(resolveAgent(agents, 'b', 'helper')).toBeUndefined();
    expect(resolveAgent(agents, 'a', 'helper', 'ops')).toBeUndefined();

    // Deleting b's agent leaves a's alone.
    repo.remove('environments/b/agents/triage.prompt');
    const again = await station.syncer.sync();
    expect(again.environments.find((e) => e.name === 'b')?.agents?.disabled).toEqual(['triage']);
    expect(again.environments.find((e) => e.name === 'a')?.agents?.unchanged).toEqual(['triage']);
  });

  it('warns (never fails) when a step names an unknown agent or passes variables its input schema refuses', async () => {
    repo.write(TRIAGE, agentText('m'));
    repo.write('environments/a/workflows/ok.workflow.yaml', workflow('ok', '{agent: triage, task: go, variables: {service: db}}'));
    repo.write('environments/a/workflows/typo.workflow.yaml', workflow('typo', '{agent: triag, task: go}'));
    repo.write('environments/a/workflows/vars.workflow.yaml', workflow('vars', '{agent: triage, task: go, variables: {service: 5}}'));
    repo.write('environments/a/workflows/templated.workflow.yaml', workflow('templated', '{agent: "{{ input.agent }}", task: go}'));
    repo.commit();
    const report = await station.syncer.sync();
    expect(syncExitCode(report)).toBe(0);
    const a = report.environments[0] as EnvironmentReport;
    expect(a.added).toEqual(['ok', 'templated', 'typo', 'vars']);
    const byPath = Object.fromEntries(a.warnings.map((w) => [w.path, w.warnings]));
    expect(a.warnings.find((w) => w.path.endsWith('typo.workflow.yaml'))?.id).toBe('typo');
    expect(byPath['environments/a/workflows/ok.workflow.yaml']).toBeUndefined();
    expect(byPath['environments/a/workflows/templated.workflow.yaml']).toBeUndefined();
    expect(byPath['environments/a/workflows/typo.workflow.yaml']).toEqual([
      expect.objectContaining({ code: 'STN_W_AGENT_UNKNOWN', line: 9, message: expect.stringContaining('no agent "triag" in environment "a"') }),
    ]);
    expect(byPath['environments/a/workflows/vars.workflow.yaml']).toEqual([
      expect.objectContaining({ code: 'STN_W_AGENT_INPUT', line: 9, message: expect.stringContaining('/service: must be string') }),
    ]);

    // The warning goes once the agent exists, though the workflow file did not change.
    repo.write('environments/a/agents/triag.prompt', 'hi');
    const later = (await station.syncer.sync()).environments[0] as EnvironmentReport;
    expect(later.warnings.map((w) => w.path)).toEqual(['environments/a/workflows/vars.workflow.yaml']);
  });
});
