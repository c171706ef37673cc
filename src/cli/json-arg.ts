import fs from 'node:fs';
import path from 'node:path';
import type { JsonValue } from '../definitions/types.js';
import { MAX_LIST_LIMIT } from '../client/types.js';
import { UsageError } from '../errors.js';

/**
 * A JSON command-line value: the JSON text itself, or `@file.json` to read it from a file (relative to the current
 * folder). Bad JSON is a usage error that names the flag and the problem.
 */
export function parseJsonArg(flag: string, value: string | undefined): JsonValue | undefined {
  if (value === undefined) return undefined;
  let text = value;
  let source = flag;
  if (value.startsWith('@')) {
    const file = path.resolve(value.slice(1));
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    source = `${flag} file ${file}`;
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch (err) {
    throw new UsageError(`${source} is not valid JSON: ${(err as Error).message}`);
  }
}

/** A positive integer option (`--limit`, `--concurrency`, `--version`); `v3` is accepted for versions. */
export function parsePositiveInt(flag: string, value: string | undefined, allowV = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(allowV ? value.replace(/^v/, '') : value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got "${value}"`);
  return n;
}

/**
 * `--limit`: 1 to 500 (default 50), in process and with --server alike (500 is the API's largest page); the next page
 * of runs comes with `--before <last id>`.
 */
export function parseLimit(value: string | undefined): number {
  const n = parsePositiveInt('--limit', value) ?? 50;
  if (n > MAX_LIST_LIMIT) throw new UsageError(`--limit must be at most ${MAX_LIST_LIMIT}, got ${n} (page with --before)`);
  return n;
}
