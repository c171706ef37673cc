/**
 * Issue 2 benchmark: sync of 10,000 generated definitions across 10 environments in a temp Git repository.
 * Figures: cold full sync, no-change re-sync, one changed file (incremental path), and the floor measured in the same
 * run: reading + hashing the same files without parsing. Cold syncs run in a child process so peak RSS is the sync's.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStation } from '../src/context.js';
import { generateDefinitions, mutateDefinition } from './generate-definitions.js';
import { gitInit } from './git.js';
import { fmtMb, fmtMs, median, report } from './stats.js';

const FILES = Number(process.env.BENCH_FILES ?? 10_000);
const ENVS = 10;

function floor(files: string[]): number {
  const t = performance.now();
  for (const f of files) createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  return performance.now() - t;
}

/** Runs inside the child: one sync against the given db, printing duration and peak RSS as JSON. */
async function child(repo: string, db: string): Promise<void> {
  const station = openStation({ repo, db, logLevel: 'silent' });
  const t = performance.now();
  const r = await station.syncer.sync({ source: 'cli' });
  const ms = performance.now() - t;
  await station.close();
  const added = r.environments.reduce((n, e) => n + e.added.length, 0);
  const invalid = r.environments.reduce((n, e) => n + e.invalid.length, 0);
  process.stdout.write(JSON.stringify({ ms, rss: process.resourceUsage().maxRSS * 1024, added, invalid }));
}

function coldSync(repo: string, db: string, workers?: number): { ms: number; rss: number; added: number; invalid: number } {
  fs.rmSync(db, { force: true });
  fs.rmSync(`${db}-wal`, { force: true });
  fs.rmSync(`${db}-shm`, { force: true });
  // A cold sync on purpose: the database this checkout used was just deleted.
  const base = { ...process.env, STN_ALLOW_NEW_DATABASE: '1' };
  const env = workers === undefined ? base : { ...base, STN_SYNC_WORKERS: String(workers) };
  const out = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', repo, db], { encoding: 'utf8', env });
  if (out.status !== 0) throw new Error(`cold sync child failed: ${out.stderr}`);
  return JSON.parse(out.stdout) as { ms: number; rss: number; added: number; invalid: number };
}

export async function benchDefinitionsSync(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-bench-sync-'));
  try {
    process.stdout.write(`\n== definitions sync: ${FILES} files, ${ENVS} environments (${root})\n`);
    const t0 = performance.now();
    const { files } = generateDefinitions(root, { files: FILES, environments: ENVS, seed: 7 });
    gitInit(root, 'generated definitions');
    process.stdout.write(`generated and committed in ${fmtMs(performance.now() - t0)}\n`);
    const db = path.join(root, '.station', 'bench.db');

    const floors = Array.from({ length: 5 }, () => floor(files));
    const floorMs = median(floors);
    report('floor: read + sha256 of all files', fmtMs(floorMs));

    const colds = Array.from({ length: 3 }, () => coldSync(root, db));
    const cold = median(colds.map((c) => c.ms));
    const rss = Math.max(...colds.map((c) => c.rss));
    const last = colds[colds.length - 1];
    if (!last || last.added !== FILES || last.invalid !== 0) {
      throw new Error(`cold sync added ${last?.added} of ${FILES} (invalid ${last?.invalid}): generator or sync is broken`);
    }
    report('cold full sync (median of 3)', fmtMs(cold), '<= 3000 ms', cold <= 3000);
    report('  ratio to floor', `${(cold / floorMs).toFixed(1)}x`);
    report('  peak RSS of the sync process', fmtMb(rss), '<= 300 MB', rss <= 300 * 1024 * 1024);
    const inline = Array.from({ length: 3 }, () => coldSync(root, db, 0));
    report('cold full sync, no worker threads (median of 3)', fmtMs(median(inline.map((c) => c.ms))));
    report('  peak RSS', fmtMb(Math.max(...inline.map((c) => c.rss))));

    const station = openStation({ repo: root, db, logLevel: 'silent' });
    try {
      await station.syncer.sync({});
      const nochange: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        const r = await station.syncer.sync({});
        nochange.push(performance.now() - t);
        const changed = r.environments.reduce((n, e) => n + e.added.length + e.updated.length + e.disabled.length, 0);
        if (changed !== 0) throw new Error(`no-change sync changed ${changed} definitions`);
      }
      const nc = median(nochange);
      report('no-change full re-sync (median of 5)', fmtMs(nc), '<= 500 ms', nc <= 500);
      report('  ratio to floor', `${(nc / floorMs).toFixed(2)}x`);

      const incremental: number[] = [];
      const fullAfterOne: number[] = [];
      for (let i = 0; i < 10; i++) {
        const file = files[(i * 997) % files.length] as string;
        mutateDefinition(file);
        const rel = path.relative(root, file).split(path.sep).join('/');
        const t = performance.now();
        const r = await station.syncer.sync({ changedPaths: [rel] });
        incremental.push(performance.now() - t);
        const updated = r.environments.reduce((n, e) => n + e.updated.length, 0);
        if (updated !== 1) throw new Error(`incremental sync updated ${updated} definitions, expected 1`);
      }
      for (let i = 0; i < 3; i++) {
        mutateDefinition(files[(i * 131 + 5) % files.length] as string);
        const t = performance.now();
        await station.syncer.sync({});
        fullAfterOne.push(performance.now() - t);
      }
      const inc = median(incremental);
      report('one changed file, incremental (median of 10)', fmtMs(inc), '<= 50 ms', inc <= 50);
      report('one changed file, full re-sync (median of 3)', fmtMs(median(fullAfterOne)));
    } finally {
      await station.close();
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3] as string, process.argv[4] as string);
}
