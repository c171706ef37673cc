/**
 * Issue 4 benchmark: a workflow file changes on disk → its new version is visible in the API of a spawned
 * `stn serve` (chokidar event, debounce, incremental sync, commit, HTTP read). The repository holds 200 definitions
 * in 2 environments so the sync is not trivially small; each round edits one file and polls
 * `GET /api/v1/workflows/{id}?env=` every 5 ms until the version moves.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon, tempRepo } from './serve-proc.js';
import { fmtMs, percentile, report } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const FILES_PER_ENV = 100;

function workflow(id: string, note: string): string {
  return `id: ${id}
version: "1"
name: ${id}
triggers:
  - {type: webhook, name: hook}
states:
  - name: first
    type: operation
    action: noop
    input: {note: ${JSON.stringify(note)}}
    next: second
  - {name: second, type: operation, action: noop, end: true}
`;
}

async function versionOf(base: string, id: string): Promise<number | null> {
  const res = await fetch(`${base}/api/v1/workflows/${id}?env=prod`);
  if (res.status !== 200) return null;
  return ((await res.json()) as { activeVersion: number | null }).activeVersion;
}

export async function benchFileChange(): Promise<void> {
  const files: Record<string, string> = { '.gitignore': '.station/\n' };
  for (const env of ['prod', 'staging']) {
    for (let i = 0; i < FILES_PER_ENV; i++) files[`environments/${env}/workflows/w${i}.workflow.yaml`] = workflow(`w${i}`, 'v0');
  }
  const repo = tempRepo('stn-bench-filechange-', files);
  process.stdout.write(`\n== file change → new version in the API: ${ROUNDS} edits, ${2 * FILES_PER_ENV} definitions (${repo})\n`);
  const daemon = await startDaemon(repo, {});
  try {
    const latencies: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const id = `w${round % FILES_PER_ENV}`;
      const before = await versionOf(daemon.url, id);
      if (before === null) throw new Error(`${id} is not listed by the daemon`);
      const file = path.join(repo, 'environments', 'prod', 'workflows', `${id}.workflow.yaml`);
      const t0 = performance.now();
      fs.writeFileSync(file, workflow(id, `v${round}`));
      for (;;) {
        const v = await versionOf(daemon.url, id);
        if (v !== null && v > before) break;
        if (performance.now() - t0 > 10_000) throw new Error(`round ${round}: no new version of ${id} within 10 s`);
        await new Promise((r) => setTimeout(r, 5));
      }
      latencies.push(performance.now() - t0);
      // Let the watcher go quiet, so each round measures one change on its own.
      await new Promise((r) => setTimeout(r, 100));
    }
    report('file change → new version p50', fmtMs(percentile(latencies, 50)), '<= 500 ms', percentile(latencies, 50) <= 500);
    report('file change → new version p90', fmtMs(percentile(latencies, 90)));
    report('file change → new version max', fmtMs(Math.max(...latencies)));
    report('  of which debounce (default, quiet time)', '150 ms');
  } finally {
    await daemon.stop();
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchFileChange();
