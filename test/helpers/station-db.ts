import path from 'node:path';
import { openDatabase } from '../../src/store/db.js';
import { DefinitionStore } from '../../src/store/definitions.js';

/** The database a daemon or `stn` uses by default in a checkout. */
export function defaultDb(repo: string): string {
  return path.join(repo, '.station', 'station.db');
}

/** Reads a Station database the way another process would: opened read-only for this one look, then closed. */
export function readStore<T>(file: string, fn: (store: DefinitionStore) => T): T {
  const db = openDatabase(file, { readonly: true });
  try {
    return fn(new DefinitionStore(db));
  } finally {
    db.close();
  }
}
