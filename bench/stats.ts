/** Small helpers for benchmark figures: medians and percentiles of repeated measurements. */

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] as number;
}

export const median = (values: number[]): number => percentile(values, 50);

export function fmtMs(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(2)} ms`;
}

export function fmtMb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MB`;
}

/** Prints one result line: name, figure, target and whether it is met. */
export function report(name: string, figure: string, target?: string, ok?: boolean): void {
  const verdict = ok === undefined ? '' : ok ? '  ok' : '  MISSED';
  process.stdout.write(`${name.padEnd(44)} ${figure.padStart(12)}${target ? `   target ${target}` : ''}${verdict}\n`);
}
