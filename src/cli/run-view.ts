import type { EventView, StepView } from '../views/types.js';

/** How runs, steps and events read in the CLI's text output (JSON output prints the views as they are). */

/** `120 ms`, `4.2 s`, `3m 05s`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

/** Cuts long text, saying how much was left out. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** A value on one line, for timelines. */
export function oneLine(value: unknown, max = 200): string {
  return truncate(typeof value === 'string' ? value : JSON.stringify(value) ?? 'null', max);
}

/** `CODE: message` of a stored error object. */
export function errorText(error: unknown): string {
  if (error === null || error === undefined) return '-';
  if (typeof error !== 'object') return String(error);
  const e = error as { code?: unknown; message?: unknown };
  if (typeof e.message === 'string') return typeof e.code === 'string' ? `${e.code}: ${e.message}` : e.message;
  return JSON.stringify(error);
}

const MARKERS: Record<string, string> = {
  'step:succeeded': 'ok',
  'step:failed': 'FAIL',
  'step:retrying': 'retry',
  'step:waiting': 'wait',
  'step:warning': 'warn',
  'run:warning': 'warn',
};

function waitText(wait: unknown): string {
  const w = (wait ?? {}) as { type?: string; until?: number; name?: string; runId?: string };
  switch (w.type) {
    case 'timer':
      return `until ${new Date(w.until ?? 0).toISOString()}`;
    case 'signal':
      return `for signal "${w.name ?? '?'}"`;
    case 'child':
      return `for child run ${w.runId ?? '?'}`;
    default:
      return 'WAITING';
  }
}

/**
 * One progress line of a foreground run: `  ok    diagnostics/disk  shell.exec  attempt 1  120 ms  SUCCEEDED`.
 * `step` is the step as read after the event committed (for its action and type); `prefix` names a child run.
 */
export function progressLine(e: EventView, step: StepView | undefined, prefix = ''): string | undefined {
  const marker = MARKERS[e.type];
  if (marker === undefined) return undefined;
  const d = e.data as {
    path?: string;
    attempt?: number;
    durationMs?: number | null;
    delayMs?: number;
    error?: unknown;
    wait?: unknown;
    handledBy?: string;
    code?: string;
    message?: string;
  };
  if (e.type === 'run:warning') return `  ${marker.padEnd(5)} ${prefix}(run)  ${oneLine(errorText(d))}`;
  const what = step?.action ?? step?.type ?? '-';
  const kind = step?.type === 'compensation' ? ' (compensation)' : '';
  const head = `  ${marker.padEnd(5)} ${prefix}${d.path ?? step?.path ?? '?'}${kind}  ${what}`;
  switch (e.type) {
    case 'step:succeeded':
      return `${head}  attempt ${d.attempt ?? 1}  ${formatDuration(d.durationMs ?? step?.durationMs)}  SUCCEEDED`;
    case 'step:failed':
      return `${head}  attempt ${d.attempt ?? 1}  ${formatDuration(step?.durationMs)}  ${step?.status ?? 'FAILED'}: ${oneLine(errorText(d.error))}${
        d.handledBy ? `  (handled by ${d.handledBy})` : ''
      }`;
    case 'step:retrying':
      return `${head}  attempt ${(d.attempt ?? 2) - 1}  failed: ${oneLine(errorText(d.error))}; attempt ${d.attempt ?? 2} in ${formatDuration(d.delayMs)}`;
    case 'step:waiting':
      return `${head}  attempt ${step?.attempt ?? 1}  waiting ${waitText(d.wait)}`;
    case 'step:warning':
      return `${head}  ${oneLine(errorText(d))}`;
    default:
      return undefined;
  }
}

/** `seq  time  type  step-path/state  key=data …`: one line per event (`stn runs events`). */
export function eventLine(e: EventView): string {
  const data = (e.data !== null && typeof e.data === 'object' ? e.data : {}) as Record<string, unknown>;
  const where = typeof data.path === 'string' ? data.path : typeof data.state === 'string' ? data.state : '-';
  const rest = Object.entries(data)
    .filter(([k]) => k !== 'path' && k !== 'state')
    .map(([k, v]) => `${k}=${oneLine(v, 160)}`)
    .join(' ');
  return `${String(e.seq).padStart(4)}  ${e.at}  ${e.type.padEnd(20)}  ${where}${rest ? `  ${rest}` : ''}`;
}

