/**
 * A unified line diff (LCS based; definitions are small, so quadratic time is fine). Returns '' when equal.
 */
export function unifiedDiff(a: string, b: string, labelA: string, labelB: string, context = 3): string {
  const x = a.split('\n');
  const y = b.split('\n');
  const n = x.length;
  const m = y.length;
  // lcs[i][j] = length of the LCS of x[i..] and y[j..]
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    const row = lcs[i] as Uint32Array;
    const below = lcs[i + 1] as Uint32Array;
    for (let j = m - 1; j >= 0; j--) {
      row[j] = x[i] === y[j] ? (below[j + 1] as number) + 1 : Math.max(below[j] as number, row[j + 1] as number);
    }
  }
  type Op = { kind: ' ' | '-' | '+'; text: string; ai: number; bi: number };
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      ops.push({ kind: ' ', text: x[i] as string, ai: i + 1, bi: j + 1 });
      i++;
      j++;
    } else if (i < n && (j === m || (lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0))) {
      ops.push({ kind: '-', text: x[i] as string, ai: i + 1, bi: j });
      i++;
    } else {
      ops.push({ kind: '+', text: y[j] as string, ai: i, bi: j + 1 });
      j++;
    }
  }
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
