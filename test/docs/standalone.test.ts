import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The docs, comments, schemas and tests stand alone: a reader of the repository has only the repository, so nothing in
 * it may cite documents that are not part of it (internal design sections, the internal style guide, files outside the
 * checkout). Where a comment needs a reference, it points at the project's own docs (docs/*.md, README sections).
 */

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const SELF = path.relative(ROOT, import.meta.filename);
const FOLDERS = ['src', 'docs', 'schemas', 'bench', 'scripts', 'test'];
const FILES = ['README.md'];

/** What a citation of a document outside the repository looks like. */
const CITATIONS: Array<{ name: string; pattern: RegExp }> = [
  { name: 'a design-document section', pattern: /DESIGN §/ },
  { name: 'the internal style guide', pattern: /STYLE\.md/ },
  { name: 'a file outside the checkout', pattern: /\.\.\/shared\// },
  { name: 'a bare section number', pattern: /(?<!DESIGN )§\s?\d/ },
];

function walk(dir: string, out: string[]): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else if (entry.isFile()) out.push(full);
  }
}

function scannedFiles(): string[] {
  const out: string[] = [];
  for (const folder of FOLDERS) walk(path.join(ROOT, folder), out);
  for (const file of FILES) out.push(path.join(ROOT, file));
  return out.map((f) => path.relative(ROOT, f)).filter((f) => f !== SELF);
}

/** `file:line: text` for every line of `text` that cites an outside document. */
function citations(file: string, text: string): string[] {
  const hits: string[] = [];
  text.split('\n').forEach((line, i) => {
    const c = CITATIONS.find((k) => k.pattern.test(line));
    if (c) hits.push(`${file}:${i + 1}: cites ${c.name}: ${line.trim().slice(0, 160)}`);
  });
  return hits;
}

describe('docs and comments stand alone', () => {
  it('no file under src, docs, schemas, bench, scripts, test or the README cites a document users do not have', () => {
    const files = scannedFiles();
    // The scan covers the tree it claims to: the README, the docs, the schemas and this test's neighbours.
    expect(files).toEqual(expect.arrayContaining(['README.md', 'docs/runs.md', 'schemas/workflow.schema.json']));
    expect(files.filter((f) => f.startsWith('src/')).length).toBeGreaterThan(50);
    expect(files).not.toContain(SELF);

    const hits = files.flatMap((f) => citations(f, fs.readFileSync(path.join(ROOT, f), 'utf8')));
    expect(hits, `say it in place, or point to docs/*.md or a README section:\n${hits.join('\n')}`).toEqual([]);
  });

  it('recognises each kind of citation, and leaves references to the project\'s own docs alone', () => {
    const sample = [
      '/** Step ids are deterministic (DESIGN §5.2). */',
      '// see ../shared/DESIGN.md',
      ' * (STYLE.md: one concern per folder)',
      ' * compensated like the parent\'s own (§5.4).',
      '/** Every run status (docs/runs.md "Statuses"). */',
      '// A DESIGN choice, and a § sign in prose.',
    ].join('\n');
    expect(citations('x.ts', sample).map((h) => h.split(': cites ')[0])).toEqual(['x.ts:1', 'x.ts:2', 'x.ts:3', 'x.ts:4']);
  });
});
