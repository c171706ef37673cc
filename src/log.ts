import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/defaults.js';

export type { Logger };

/**
 * Keys whose values never reach a log line (secrets are redacted everywhere: docs/security.md "Step environments and
 * secret masking").
 */
const REDACT_PATHS = [
  'secret',
  'secrets',
  'token',
  'password',
  'authorization',
  '*.secret',
  '*.secrets',
  '*.token',
  '*.password',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
];

/**
 * Structured JSON logs on stderr, so a command's stdout stays its report. Field names used across Station:
 * run_id, step_id, attempt, duration_ms, status, error_type, env, workflow_id.
 */
export function createLogger(level: LogLevel, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino(
    { level, base: { pid: process.pid }, redact: { paths: REDACT_PATHS, censor: '***' } },
    destination as pino.DestinationStream,
  );
}
