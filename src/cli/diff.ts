/**
 * A unified line diff of two texts (`stn workflows diff`). The edit script comes from the `diff` package (Myers'
 * O(ND) algorithm: time and memory grow with the size of the change, not with the product of the two lengths); the
 * hunks are formatted here. Returns '' when the texts are equal.
 */
import { diffArrays } from 'diff';

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
  for (const change of diffArrays(x, y)) {
    for (const text of change.value) {
      if (change.added) ops.push({ kind: '+', text, ai, bi: ++bi });
      else if (change.removed) ops.push({ kind: '-', text, ai: ++ai, bi });
      else ops.push({ kind: ' ', text, ai: ++ai, bi: ++bi });
    }
  }
  return ops;
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
