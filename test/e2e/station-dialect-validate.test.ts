import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, stn, stnJson } from '../helpers/cli.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { FIXTURES, NATIVE_FILES, WORKFLOWS_DIR } from './station-dialect-fixtures.js';

/**
 * `stn validate` on the Station-dialect fixture repository, copied into a temp Git repository: every file is valid;
 * each Station spelling is reported as a note at its line; the files in Station-TS's own format get none.
 */

interface Diagnostic {
  line: number;
  col: number;
  code: string;
  message: string;
}
interface ValidateJson {
  files: Array<{ path: string; id?: string | null; valid: boolean; errors: Diagnostic[]; warnings: Diagnostic[]; notes: Diagnostic[] }>;
}

let repo: GitRepo;
beforeAll(() => {
  ensureBuilt();
  repo = createGitRepo('stn-station-dialect-');
  fs.cpSync(path.join(FIXTURES, 'environments'), path.join(repo.dir, 'environments'), { recursive: true });
  repo.commit('station-dialect fixtures');
}, 120_000);
afterAll(() => {
  repo?.cleanup();
});

describe('stn validate on Station-dialect files', () => {
  it('every file is valid with no warning; Station files have notes, the native ones none', () => {
    const { status, json } = stnJson<ValidateJson>(['--json', 'validate'], repo.dir);
    const files = fs.readdirSync(WORKFLOWS_DIR).filter((f) => f.endsWith('.workflow.yaml')).sort();
    expect(json.files.map((f) => path.basename(f.path)).sort()).toEqual(files);
    for (const f of json.files) {
      const name = path.basename(f.path);
      expect({ name, valid: f.valid, errors: f.errors, warnings: f.warnings }).toEqual({ name, valid: true, errors: [], warnings: [] });
      if (NATIVE_FILES.includes(name)) {
        expect({ name, notes: f.notes }).toEqual({ name, notes: [] });
      } else {
        expect(f.notes.length, `${name} has no note`).toBeGreaterThan(0);
        for (const n of f.notes) expect(n).toMatchObject({ code: 'STN_N_NORMALIZED', line: expect.any(Number) as number });
      }
    }
    expect(status).toBe(0);
  });

  it('one note per rewritten spelling, on the line where it is written', () => {
    const file = 'environments/default/workflows/operation-agent-run.workflow.yaml';
    const line = repo.read(file).split('\n').findIndex((l) => l.trim() === 'operation: agent.run') + 1;
    const { json } = stnJson<ValidateJson>(['--json', 'validate', file], repo.dir);
    expect(json.files[0]?.notes.map((n) => [n.code, n.line])).toEqual([['STN_N_NORMALIZED', line]]);
    // The human report prints it as file:line:col.
    const human = stn(['validate', file], repo.dir);
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`${file.replace(/\./g, '\\.')}:${line}:\\d+: note STN_N_NORMALIZED`));
  });
});
