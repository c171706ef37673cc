import { UsageError } from '../errors.js';

/** Query parameters every list endpoint accepts. */
export const PAGE_QUERY = {
  limit: { type: 'integer', minimum: 1, maximum: 500, default: 50, description: 'Items per page (1-500, default 50).' },
  cursor: { type: 'string', maxLength: 1024, description: 'The `nextCursor` of the previous page.' },
} as const;

export interface PageQuery {
  limit: number;
  cursor?: string | undefined;
}

/** A page of a list: `nextCursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Cursors are opaque to clients: base64url of a small JSON value naming the last item returned. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Decodes a cursor and checks its shape; a cursor that does not decode is a usage error naming the parameter. */
export function decodeCursor<T>(cursor: string | undefined, isValid: (v: unknown) => v is T): T | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (!isValid(value)) throw new UsageError('cursor is not valid: pass the nextCursor of a previous page unchanged', { parameter: 'cursor' });
  return value;
}

/**
 * Cuts `rows` (fetched with `limit + 1`, so a further page is known to exist) to a page; the cursor names the last
 * item kept.
 */
export function toPage<R, T>(rows: R[], limit: number, cursorOf: (last: R) => unknown, map: (row: R) => T): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const last = kept[kept.length - 1];
  return { items: kept.map(map), nextCursor: more && last !== undefined ? encodeCursor(cursorOf(last)) : null };
}

export const isString = (v: unknown): v is string => typeof v === 'string';
export const isNonNegativeInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
export const isStringPair = (v: unknown): v is [string, string] =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string';
