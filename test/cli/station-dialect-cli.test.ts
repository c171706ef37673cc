import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ensureBuilt, stn, stnJson } from '../helpers/cli.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';

// A Station (Go) file through the real CLI: `stn validate` prints one note per rewritten spelling with its line, and
// `stn workflows show --normalized` prints the definition as Station-TS runs it.

const FILE = 'environments/default/workflows/triage.workflow.yaml';
const TEXT = `id: triage
name: Triage
version: "1.0"
start: gather
states:
  - id: gather
    type: parallel
    branches:
      - name: logs
        agent: log-analyzer
        agentTask: Read the logs of {{ input.service }}
    transition: decide
  - id: decide
    type: switch
    dataPath: $.steps.gather
    conditions:
      - if: "True"
        next: wait
  - id: wait
    type: delay
    duration: 5s
    end: true
`;

let repo: GitRepo;
let db: string;
const run = (...args: string[]) => stn(['--repo', repo.dir, '--db', db, ...args], repo.dir);

beforeAll(() => {
  ensureBuilt();
  repo = createGitRepo('stn-dialect-');
  repo.write('.gitignore', '.station/\n');
  repo.write(FILE, TEXT);
  repo.commit('a Station file');
  db = path.join(repo.dir, '.station', 'station.db');
  expect(run('sync').status).toBe(0);
});

afterAll(() => repo.cleanup());

const lineOf = (needle: string): number => TEXT.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('a Station file through the CLI', () => {
  it('stn validate prints each note with its line, and the JSON report keeps its shape', () => {
    const r = run('validate', FILE);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`${FILE}:${lineOf('agent: log-analyzer')}:9: note STN_N_NORMALIZED: branch "logs" written with agent: is a branch of one agent.run state`);
    expect(r.stdout).toContain(`${FILE}:${lineOf('agentTask')}:9: note STN_N_NORMALIZED: agent state field "agentTask" is written input.task`);
    expect(r.stdout).toContain(`${FILE}:${lineOf('type: delay')}:5: note STN_N_NORMALIZED: state of type "delay" is written as an operation with action sleep`);
    const { json } = stnJson<{ files: Array<{ valid: boolean; notes: Array<{ line: number; col: number; code: string; message: string }> }> }>(
      ['--json', 'validate', FILE],
      repo.dir,
    );
    expect(json.files[0]?.valid).toBe(true);
    expect(Object.keys(json.files[0]?.notes[0] ?? {}).sort()).toEqual(['code', 'col', 'line', 'message']);
    expect(json.files[0]?.notes.map((n) => n.line)).toContain(lineOf('if: "True"'));
  });

  it('stn workflows show --normalized prints the definition Station runs, as YAML and with --json as JSON', () => {
    const r = run('workflows', 'show', 'triage', '--normalized');
    expect(r.status, r.stderr).toBe(0);
    const shown = parse(r.stdout) as Record<string, unknown>;
    expect(shown).toEqual({
      id: 'triage',
      version: '1.0',
      name: 'Triage',
      compat: 'station',
      start: 'gather',
      states: [
        {
          name: 'gather',
          type: 'parallel',
          branches: [
            {
              name: 'logs',
              states: [
                {
                  name: 'logs',
                  type: 'operation',
                  action: 'agent.run',
                  input: { agent: 'log-analyzer', task: 'Read the logs of {{ input.service }}' },
                  resultPath: '$',
                  end: true,
                },
              ],
            },
          ],
          next: 'decide',
        },
        { name: 'decide', type: 'switch', dataPath: 'steps.gather', conditions: [{ if: 'true', next: 'wait' }] },
        { name: 'wait', type: 'operation', action: 'sleep', input: { seconds: 5 }, end: true },
      ],
    });
    // Authors' key order, not the stored sorted keys.
    expect(r.stdout.split('\n').slice(0, 4)).toEqual(['id: triage', 'version: "1.0"', 'name: Triage', 'compat: station']);

    const { status, json } = stnJson(['--repo', repo.dir, '--db', db, '--json', 'workflows', 'show', 'triage', '--normalized'], repo.dir);
    expect(status).toBe(0);
    expect(json).toEqual(shown);
  });

  it('without --normalized, show prints the file as written', () => {
    const r = run('workflows', 'show', 'triage');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('agentTask: Read the logs');
  });
});
