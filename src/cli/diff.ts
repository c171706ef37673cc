/**
 * A unified line diff of two texts (`stn workflows diff`). Returns '' when the texts are equal.
 *
 * The edit script comes from the `diff` package (Myers' algorithm), whose cost grows with the square of the number of
 * edits: on its own, two unrelated 5,000-line texts take many seconds. So, as git's patience diff does, lines that
 * occur exactly once in each text are paired first (those pairs that keep their order), and the package diffs only
 * the stretches between them; a stretch that would still need more than MAX_EDITS edits is shown as removed and
 * added whole, which is a correct diff, only not the shortest.
 */
import { diffArrays } from 'diff';

/** The most edits asked of the Myers diff in one stretch between paired lines (bounds its time and memory). */
const MAX_EDITS = 300;

interface Op {
  kind: ' ' | '-' | '+';
  text: string;
  /** 1-based line in `a` (for an insertion, the line it follows). */
  ai: number;
  /** 1-based line in `b` (for a deletion, the line it follows). */
  bi: number;
}

/** The line-by-line edit script, deletions of a change before its insertions. */
function editScript(x: string[], y: string[]): Op[] {
  const ops: Op[] = [];
  let ai = 0;
  let bi = 0;
  const push = (kind: Op['kind'], lines: string[]): void => {
    for (const text of lines) {
      if (kind === '+') ops.push({ kind, text, ai, bi: ++bi });
      else if (kind === '-') ops.push({ kind, text, ai: ++ai, bi });
      else ops.push({ kind, text, ai: ++ai, bi: ++bi });
    }
  };
  for (const [i, j] of [...anchors(x, y), [x.length, y.length] as const]) {
    const from = x.slice(ai, i);
    const to = y.slice(bi, j);
    const changes = diffArrays(from, to, { maxEditLength: MAX_EDITS });
    if (changes === undefined) {
      push('-', from);
      push('+', to);
    } else {
      for (const c of changes) push(c.added ? '+' : c.removed ? '-' : ' ', c.value);
    }
    if (i < x.length) push(' ', [x[i] as string]);
  }
  return ops;
}

/**
 * Pairs (i, j) of lines with x[i] === y[j] that occur once in x and once in y, the longest set of them in the same
 * order in both (longest increasing subsequence of j, by patience sorting).
 */
function anchors(x: string[], y: string[]): Array<readonly [number, number]> {
  const seen = new Map<string, { inX: number; i: number; inY: number; j: number }>();
  x.forEach((line, i) => {
    const s = seen.get(line);
    if (s) s.inX++;
    else seen.set(line, { inX: 1, i, inY: 0, j: -1 });
  });
  y.forEach((line, j) => {
    const s = seen.get(line);
    if (s) {
      s.inY++;
      s.j = j;
    }
  });
  const unique = [...seen.values()].filter((s) => s.inX === 1 && s.inY === 1).sort((p, q) => p.i - q.i);
  // tails[k]: index in `unique` of the smallest j ending an increasing run of length k + 1.
  const tails: number[] = [];
  const prev: number[] = [];
  unique.forEach((s, n) => {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((unique[tails[mid] as number]?.j ?? 0) < s.j) lo = mid + 1;
      else hi = mid;
    }
    prev[n] = lo > 0 ? (tails[lo - 1] as number) : -1;
    tails[lo] = n;
  });
  const out: Array<readonly [number, number]> = [];
  for (let n = tails.at(-1) ?? -1; n >= 0; n = prev[n] as number) {
    const s = unique[n] as { i: number; j: number };
    out.push([s.i, s.j]);
  }
  return out.reverse();
}

export function unifiedDiff(a: string, b: string, labelA: string, labelB: string, context = 3): string {
  const ops = editScript(a.split('\n'), b.split('\n'));
  if (ops.every((o) => o.kind === ' ')) return '';
  const out = [`--- ${labelA}`, `+++ ${labelB}`];
  let k = 0;
  while (k < ops.length) {
    if (ops[k]?.kind === ' ') {
      k++;
      continue;
    }
    const start = Math.max(0, k - context);
    let end = k;
    // Extend the hunk while changes are within 2*context lines of each other.
    for (let last = k; end < ops.length; end++) {
      if (ops[end]?.kind !== ' ') last = end;
      else if (end - last > 2 * context) break;
    }
    end = Math.min(ops.length, end);
    let tail = end;
    while (tail > k && ops[tail - 1]?.kind === ' ') tail--;
    end = Math.min(ops.length, tail + context);
    const hunk = ops.slice(start, end);
    const aStart = hunk.find((o) => o.kind !== '+')?.ai ?? 0;
    const bStart = hunk.find((o) => o.kind !== '-')?.bi ?? 0;
    const aLen = hunk.filter((o) => o.kind !== '+').length;
    const bLen = hunk.filter((o) => o.kind !== '-').length;
    out.push(`@@ -${aStart},${aLen} +${bStart},${bLen} @@`);
    for (const o of hunk) out.push(`${o.kind}${o.text}`);
    k = end;
  }
  return `${out.join('\n')}\n`;
}
