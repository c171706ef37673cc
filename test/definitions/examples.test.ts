import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFINITION_FILE, validateDefinitionFile } from '../../src/definitions/validate.js';

// The example playbooks shipped in the repository are what new users copy: every one of them must validate.

const root = fileURLToPath(new URL('../../', import.meta.url));

function definitionFiles(dir: string): string[] {
  const abs = path.join(root, dir);
  return fs
    .readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .filter((f) => DEFINITION_FILE.test(f))
    .map((f) => path.join(dir, f).split(path.sep).join('/'))
    .sort();
}

const files = [...definitionFiles('environments'), ...definitionFiles('bundles')];

describe('example definitions', () => {
  it('are found in environments/ and bundles/', () => {
    expect(files.some((f) => f.startsWith('environments/'))).toBe(true);
    expect(files.some((f) => f.startsWith('bundles/'))).toBe(true);
  });

  it.each(files)('%s validates with no errors and no warnings', (file) => {
    const r = validateDefinitionFile(path.join(root, file), file);
    expect(r.errors, JSON.stringify(r.errors, null, 2)).toEqual([]);
    expect(r.warnings, JSON.stringify(r.warnings, null, 2)).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(r.id).toBe(r.spec?.id);
  });

  it('ids are unique within each environment folder', () => {
    const byEnv = new Map<string, string[]>();
    for (const file of files.filter((f) => f.startsWith('environments/'))) {
      const env = file.split('/')[1] as string;
      const id = validateDefinitionFile(path.join(root, file), file).id as string;
      byEnv.set(env, [...(byEnv.get(env) ?? []), id]);
    }
    for (const [env, ids] of byEnv) expect(new Set(ids).size, `${env}: ${ids.join(', ')}`).toBe(ids.length);
  });
});
