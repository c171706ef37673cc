import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureBuilt, stn } from '../helpers/cli.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';

let repo: GitRepo;
let db: string;

beforeAll(() => {
  ensureBuilt();
});
beforeEach(() => {
  repo = createGitRepo('stn-agents-');
  repo.write('.gitignore', '.station/\n');
  db = path.join(repo.dir, '.station', 'station.db');
});
afterEach(() => repo.cleanup());

const run = (...args: string[]) => stn(['--repo', repo.dir, '--db', db, ...args], repo.dir);

interface AgentsJson {
  added: string[];
  updated: string[];
  disabled: string[];
  invalid: Array<{ path: string; id: string | null; activeVersion: number | null; errors: Array<{ line: number; col: number; code: string }> }>;
  versions: Record<string, number>;
}
interface SyncJson {
  environments: Array<{ name: string; agents: AgentsJson | null; warnings: Array<{ path: string; warnings: Array<{ code: string; line: number }> }> }>;
}

const TRIAGE = 'environments/prod/agents/triage.prompt';
const triage = (model: string) => `---\nmodel: ${model}\ninput:\n  schema:\n    service: string\n---\n{{role "system"}}\nTriage {{service}}.\n`;
const CALLER = `id: caller
version: "1"
name: Caller
states:
  - name: ask
    type: operation
    action: agent.run
    input: {agent: triage, task: go, variables: {service: 7}}
    next: other
  - {name: other, type: agent, agent: nobody, prompt: hi, end: true}
`;

describe('stn sync and stn agents on agent files', () => {
  it('reports agents like workflows: added, invalid at file:line:col (exit 1), updated, disabled', () => {
    repo.write(TRIAGE, triage('fixture/a'));
    repo.write('environments/prod/agents/broken.prompt', '---\nmodel: a\ntemprature: 1\n---\nhi\n');
    repo.write('environments/prod/workflows/caller.workflow.yaml', CALLER);
    repo.commit();
    const first = run('sync');
    expect(first.status).toBe(1);
    expect(first.stdout).toMatch(/^ {2}agents added +triage \(v1\)$/m);
    expect(first.stdout).toMatch(/^ {2}agent invalid +environments\/prod\/agents\/broken\.prompt \[broken\]$/m);
    expect(first.stdout).toContain('environments/prod/agents/broken.prompt:3:1: error STN_E_SCHEMA_UNKNOWN_FIELD: unknown frontmatter key "temprature"');
    expect(first.stdout).toMatch(/environments\/prod\/workflows\/caller\.workflow\.yaml:8:\d+: warning STN_W_AGENT_INPUT: state "ask": .*\/service: must be string/);
    expect(first.stdout).toMatch(/caller\.workflow\.yaml:\d+:\d+: warning STN_W_AGENT_UNKNOWN: state "other": no agent "nobody" in environment "prod"/);

    repo.write(TRIAGE, triage('fixture/b'));
    repo.remove('environments/prod/agents/broken.prompt');
    const second = run('--json', 'sync');
    expect(second.status).toBe(0);
    const prod = (JSON.parse(second.stdout) as SyncJson).environments.find((e) => e.name === 'prod');
    expect(prod?.agents).toMatchObject({ added: [], updated: ['triage'], disabled: ['broken'], invalid: [], versions: { triage: 2 } });

    const list = run('agents', 'list');
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/^prod +broken +- +disabled +- +- /m);
    expect(list.stdout).toMatch(/^prod +triage +- +active +v2 +fixture\/b /m);
    const versions = run('agents', 'versions', 'triage');
    expect(versions.stdout).toMatch(/^v1 .* clean .*\n^v2 .* dirty .* active$/m);
    expect(run('agents', 'show', 'triage', '--version', '1').stdout).toContain('model: fixture/a');
    const missing = run('agents', 'show', 'nope');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe('stn: STN_E_NOT_FOUND: no agent "nope" in any environment\n');
  });

  it('--dry-run plans agents and writes nothing', () => {
    repo.write(TRIAGE, triage('fixture/a'));
    repo.commit();
    const plan = run('--json', 'sync', '--dry-run');
    expect((JSON.parse(plan.stdout) as SyncJson).environments[0]?.agents?.added).toEqual(['triage']);
    run('sync');
    repo.write(TRIAGE, triage('fixture/c'));
    expect(run('sync', '--dry-run').stdout).toMatch(/agents updated +triage \(v2\)/);
    expect(run('agents', 'show', 'triage').stdout).toMatch(/active v1 +\(latest v1\)/);
  });
});
