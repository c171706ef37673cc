import fs from 'node:fs';
import { sha256 } from '../definitions/hash.js';
import type { ValidationPool } from '../definitions/pool.js';
import { validateInline } from '../definitions/pool.js';
import type { Diagnostic } from '../definitions/types.js';
import {
  CHECKER_VERSION,
  compactResult,
  guessId,
  validateDefinitionBytes,
  WORKFLOW_ID,
  type CompactResult,
} from '../definitions/validate.js';
import { StationError } from '../errors.js';
import type { FileRow } from '../store/definitions.js';
import type { DiscoveredFile } from './discover.js';

/** What sync knows about one file this time: freshly validated, or carried over from the last sync. */
export interface FileState {
  file: DiscoveredFile;
  rawSha: string;
  id: string | null;
  valid: boolean;
  hash: string | null;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  /** Set for freshly validated files (their row must be written); a carried-over one is re-read if it needs a version. */
  fresh?: { version: VersionSource | undefined; bytes: Buffer };
}

const NO_DIAGNOSTICS = JSON.stringify({ errors: [], warnings: [] });

/** An environment's files after reading: some states known already, the rest waiting for validation. */
export interface ReadFiles {
  states: Array<FileState | undefined>;
  toValidate: Array<{ index: number; file: DiscoveredFile; bytes: Buffer; rawSha: string }>;
}

/**
 * Reads an environment's files and works out which must be validated: a file whose bytes are unchanged since the last
 * sync (same sha256, same validation rules) keeps last sync's verdict without being parsed. In incremental mode, files
 * not named as changed are not even read.
 */
export function readFiles(files: DiscoveredFile[], previous: Map<string, FileRow>, changed: Set<string> | undefined): ReadFiles {
  const states: Array<FileState | undefined> = [];
  const toValidate: ReadFiles['toValidate'] = [];
  files.forEach((file, index) => {
    const prev = previous.get(file.path);
    const known = prev !== undefined && prev.checker === CHECKER_VERSION;
    if (known && changed && !changed.has(file.path)) {
      states[index] = carried(file, prev);
      return;
    }
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file.abs);
    } catch (err) {
      const message = `cannot read file: ${(err as Error).message}`;
      states[index] = {
        ...fresh(file, '', compactResult(validateDefinitionBytes(new Uint8Array(0), file.path)), Buffer.alloc(0), prev),
        errors: [{ severity: 'error', code: 'STN_E_FILE_READ', message, line: 1, col: 1 }],
        valid: false,
      };
      return;
    }
    const rawSha = sha256(bytes);
    if (known && prev.raw_sha === rawSha) states[index] = carried(file, prev);
    else toValidate.push({ index, file, bytes, rawSha });
  });
  return { states, toValidate };
}

/** Validation of one environment's open files: started on demand, awaited when the environment is applied. */
export interface PendingStates {
  /** How many files need validating. */
  readonly count: number;
  /** Where validation runs when started; without a pool it runs inline when the states are asked for. */
  pool: ValidationPool | undefined;
  /** Starts the validation on the pool (no-op without one, or when started already). */
  start(): void;
  states(): Promise<FileState[]>;
}

/**
 * Validates what `readFiles` left open: on the pool when there is one (started early, it overlaps with the database
 * writes of the environment before), else inline when the states are asked for.
 */
export function validateFiles(read: ReadFiles, previous: Map<string, FileRow>, pool: ValidationPool | undefined): PendingStates {
  const items = read.toValidate.map((v) => ({ path: v.file.path, bytes: v.bytes }));
  let results: Promise<CompactResult[]> | undefined;
  const pending: PendingStates = {
    count: items.length,
    pool,
    start() {
      if (results || !pending.pool || items.length === 0) return;
      results = pending.pool.validate(items);
      // Keep a started validation from being an unhandled rejection while earlier environments are written.
      results.catch(() => undefined);
    },
    async states() {
      pending.start();
      const done = results ? await results : validateInline(items);
      read.toValidate.forEach((v, i) => {
        read.states[v.index] = fresh(v.file, v.rawSha, done[i] as CompactResult, v.bytes, previous.get(v.file.path));
      });
      return read.states as FileState[];
    },
  };
  return pending;
}

function fresh(file: DiscoveredFile, rawSha: string, r: CompactResult, bytes: Buffer, prev: FileRow | undefined): FileState {
  // A file too broken to declare its id keeps the id it had, so the error lands on the right definition.
  // An id that breaks the id pattern is no id: the file is attributed to the id it had (its error says what is wrong).
  const declared = r.id !== undefined && WORKFLOW_ID.test(r.id) ? r.id : undefined;
  const id = declared ?? (r.valid ? undefined : guessId(bytes.toString('latin1'))) ?? prev?.workflow_id ?? null;
  const version = r.specJson !== undefined ? { specJson: r.specJson, label: r.label ?? '', name: r.name ?? '', bytes } : undefined;
  return { file, rawSha, id, valid: r.valid, hash: r.hash ?? null, errors: r.errors, warnings: r.warnings, fresh: { version, bytes } };
}

function carried(file: DiscoveredFile, prev: FileRow): FileState {
  const d =
    prev.diagnostics === NO_DIAGNOSTICS
      ? { errors: [], warnings: [] }
      : (JSON.parse(prev.diagnostics) as { errors: Diagnostic[]; warnings: Diagnostic[] });
  return { file, rawSha: prev.raw_sha, id: prev.workflow_id, valid: prev.valid === 1, hash: prev.content_hash, errors: d.errors, warnings: d.warnings };
}

/**
 * Whether the file still holds the bytes this sync read. Checked inside the write transaction (which other syncs,
 * in this process or another, wait for): a file that moved on since it was read is left to the sync that reads it
 * next, so a slow sync can never commit content older than what a faster one already committed.
 */
export function stillOnDisk(st: FileState): boolean {
  const read = st.fresh;
  if (!read) return true;
  let now: Buffer | undefined;
  try {
    now = fs.readFileSync(st.file.abs);
  } catch {
    now = undefined;
  }
  // A file that could not be read was recorded with no bytes and no sha.
  if (st.rawSha === '') return now === undefined;
  return now !== undefined && now.equals(read.bytes);
}

/** What a version row stores of its file. */
export interface VersionSource {
  specJson: string;
  label: string;
  name: string;
  bytes: Buffer;
}

/** The version source of a file that gets a new version; a carried-over file (rare here) is read again. */
export function versionSource(st: FileState): VersionSource {
  if (st.fresh?.version) return st.fresh.version;
  const bytes = fs.readFileSync(st.file.abs);
  const r = validateDefinitionBytes(bytes, st.file.path);
  if (!r.spec || r.hash !== st.hash) throw new StationError('STN_E_INTERNAL', `${st.file.path} changed during sync; run sync again`);
  return { specJson: r.canonical ?? JSON.stringify(r.spec), label: r.spec.version, name: r.spec.name, bytes };
}

export function fileRow(env: string, st: FileState, nowIso: string): FileRow {
  const warnings = st.warnings;
  return {
    environment: env,
    path: st.file.path,
    raw_sha: st.rawSha,
    checker: CHECKER_VERSION,
    workflow_id: st.id,
    valid: st.valid ? 1 : 0,
    content_hash: st.hash,
    diagnostics: st.errors.length + warnings.length === 0 ? NO_DIAGNOSTICS : JSON.stringify({ errors: st.errors, warnings }),
    seen_at: nowIso,
  };
}
