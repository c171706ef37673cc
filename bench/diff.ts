/**
 * `stn workflows diff` on two 5,000-line definitions: time and peak memory of `unifiedDiff` (the `diff` package's
 * Myers diff plus our hunk formatting), against a baseline measured in the same run: the (n+1)×(m+1) LCS table the
 * hand-written diff used to build. Each measurement runs in a fresh Node process (one diff, as the CLI does), so the
 * time includes the cold start of the code and the memory is that process's peak RSS above where it stood before the
 * diff. Three pairs: a typical edit (about 2 % of the states changed, a few added and removed), a heavy one (every
 * fourth line changed) and two unrelated texts (no line in common).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { unifiedDiff } from '../src/cli/diff.js';
import { fmtMb, fmtMs, median, report } from './stats.js';

const SAMPLES = Number(process.env.BENCH_ROUNDS ?? 5);
const STATES = 500;
const TARGET_MS = 1000;
const TARGET_BYTES = 50 * 1024 * 1024;

type Pair = 'typical' | 'heavy' | 'unrelated';
type Impl = 'diff' | 'lcs-table';

/** A state of ten lines, so 500 states make a 5,000-line definition. */
function state(i: number, note: string): string[] {
  return [
    `  - name: step-${i}`,
    '    type: operation',
    '    action: http.request',
    '    input:',
    `      url: https://svc-${i % 17}.internal/check`,
    '      method: POST',
    `      note: ${note}`,
    '    retry: {maxAttempts: 3, backoff: exponential}',
    `    resultPath: $.checks.s${i}`,
    `    next: step-${i + 1}`,
  ];
}

function definitions(pair: Pair): [string, string] {
  const a: string[] = [];
  const b: string[] = [];
  for (let i = 0; i < STATES; i++) {
    const lines = state(i, 'first');
    a.push(...lines);
    if (pair === 'unrelated') b.push(...lines.map((l) => `${l} # rewritten`));
    else if (pair === 'heavy') b.push(...lines.map((l, k) => (k % 4 === 0 ? `${l} # edited` : l)));
    else if (i % 50 === 7) continue; // removed
    else b.push(...state(i, i % 50 === 3 ? 'second' : 'first'), ...(i % 50 === 11 ? state(i + 1000, 'added') : []));
  }
  return [a.join('\n'), b.join('\n')];
}

/** The replaced implementation's dominant cost: filling the LCS length table of the two line arrays. */
function lcsTable(a: string, b: string): number {
  const x = a.split('\n');
  const y = b.split('\n');
  const lcs: Uint32Array[] = Array.from({ length: x.length + 1 }, () => new Uint32Array(y.length + 1));
  for (let i = x.length - 1; i >= 0; i--) {
    const row = lcs[i] as Uint32Array;
    const below = lcs[i + 1] as Uint32Array;
    for (let j = y.length - 1; j >= 0; j--) row[j] = x[i] === y[j] ? (below[j + 1] as number) + 1 : Math.max(below[j] as number, row[j + 1] as number);
  }
  return lcs[0]?.[0] ?? 0;
}

/** Child mode: one diff, then its time and peak memory as JSON on stdout. */
function measureHere(impl: Impl, pair: Pair): void {
  const [a, b] = definitions(pair);
  const rssBefore = process.memoryUsage.rss();
  const t0 = performance.now();
  const size = impl === 'diff' ? unifiedDiff(a, b, 'a', 'b').length : lcsTable(a, b);
  const ms = performance.now() - t0;
  const peak = process.resourceUsage().maxRSS * 1024 - rssBefore;
  process.stdout.write(JSON.stringify({ ms, peak: Math.max(0, peak), size }));
}

function measure(impl: Impl, pair: Pair): { ms: number; peak: number } {
  const runs = Array.from({ length: SAMPLES }, () => {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--measure', impl, pair], { encoding: 'utf8' });
    return JSON.parse(out) as { ms: number; peak: number };
  });
  return { ms: median(runs.map((r) => r.ms)), peak: median(runs.map((r) => r.peak)) };
}

export async function benchDiff(): Promise<void> {
  const [a] = definitions('typical');
  process.stdout.write(`\n== workflows diff: two ${a.split('\n').length}-line definitions, median of ${SAMPLES} fresh processes\n`);
  const baseline = measure('lcs-table', 'typical');
  report('(baseline) LCS table, replaced', fmtMs(baseline.ms));
  report('  peak memory above start', fmtMb(baseline.peak));
  for (const pair of ['typical', 'heavy', 'unrelated'] as const) {
    const r = measure('diff', pair);
    report(`${pair} edit: unifiedDiff`, fmtMs(r.ms), `< ${fmtMs(TARGET_MS)}`, r.ms < TARGET_MS);
    report('  peak memory above start', fmtMb(r.peak), `< ${fmtMb(TARGET_BYTES)}`, r.peak < TARGET_BYTES);
    report('  time / baseline', `${((100 * r.ms) / baseline.ms).toFixed(1)} %`);
  }
  await Promise.resolve();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [flag, impl, pair] = process.argv.slice(2);
  if (flag === '--measure') measureHere(impl as Impl, pair as Pair);
  else await benchDiff();
}
