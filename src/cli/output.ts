import type { DiagnosticView } from '../views/types.js';

/**
 * A reader that closes early (`stn runs events --follow | head`) is not an error: stop quietly instead of dying on
 * an unhandled EPIPE with a stack trace.
 */
export function exitQuietlyOnClosedStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

/** Writes to stdout; the CLI's reports go here, logs go to stderr. */
export function print(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A plain text table: columns padded to their widest cell. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `file:line:col: severity CODE message`, the format editors and CI annotators understand. */
export function diagnosticLine(file: string, d: DiagnosticView, severity: string): string {
  return `${file}:${d.line}:${d.col}: ${severity} ${d.code}: ${d.message}`;
}

export function shortSha(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 10) : '-';
}
