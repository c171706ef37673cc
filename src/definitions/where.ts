import { pointerSegments } from './source.js';

/** Says in words where a pointer is: `state "deploy"`, `trigger "nightly"`, or `workflow`. */
export function describePointer(doc: unknown, pointer: string): string {
  const segs = pointerSegments(pointer);
  let node: unknown = doc;
  let label = 'workflow';
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i] as string;
    const parentKey = segs[i - 1];
    node = Array.isArray(node) ? node[Number(seg)] : (node as Record<string, unknown> | undefined)?.[seg];
    if (node === undefined || node === null || typeof node !== 'object') break;
    const name = (node as { name?: unknown }).name;
    if (parentKey === 'states' && typeof name === 'string') label = `state "${name}"`;
    else if (parentKey === 'triggers' && typeof name === 'string') label = `trigger "${name}"`;
    else if (parentKey === 'branches' && typeof name === 'string') label = `${label}, branch "${name}"`;
  }
  return label;
}

/** The closest candidate by edit distance, when it is close enough to be a likely typo. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length] as number;
}
